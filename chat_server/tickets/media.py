"""Photos from the widget: `POST /api/media` (multipart: session_id, file) and `GET /media/<name>`; the app API's
upload (channels/api.py) keeps files the same way (`MediaFiles`).

The type is decided by the file's magic bytes, never by its name or the client's Content-Type,
and the stored name is random, so an upload can neither be served as HTML/script nor guessed.
The body is streamed and cut off at the size limit (413) instead of being buffered whole.
Files land in `tickets.media_dir` (shared disk for several processes on one machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from pathlib import Path

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from redis.asyncio import Redis

from chat_server.config import Config
from chat_server.conversations.attachments import NAME_RE, MediaOwners
from chat_server.conversations.limits import Limit, RateLimiter
from chat_server.conversations.store import ConversationStore
from chat_server.sanitize import client_ip
from chat_server.tickets.image_metadata import BadImage, strip_metadata

TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
# What a hostile or broken multipart body raises while it is read: a part header that is not valid HTTP (a name
# with control bytes) is aiohttp's BadHttpMessage, and it answered 500.
MALFORMED_MULTIPART = (ValueError, AssertionError, HttpProcessingError)


def sniff(head: bytes) -> str | None:
    """The file extension for a supported image, from its first bytes."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def _keep_without_metadata(tmp: Path, final: Path, ext: str) -> None:
    """The photo as published: no EXIF GPS position (the resident's home, often), camera or owner name."""
    try:
        data = strip_metadata(tmp.read_bytes(), ext)
    except BadImage as exc:
        raise UploadRefused(400, "bad_image", f"the image file is damaged ({exc}); send it again or "
                                               "another photo") from exc
    tmp.write_bytes(data)
    os.replace(tmp, final)


class UploadRefused(Exception):
    """A file that is not kept; `status`, `code` and `message` are the JSON error the uploader gets."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class MediaFiles:
    """Uploaded photos on disk, each recorded as its uploader's (a widget session, or an app's conversation), so
    a message may attach only its own. One class for the widget's `POST /api/media` and the app API's upload."""

    def __init__(self, config: Config, redis: Redis, media_dir: Path) -> None:
        self.public_url = config.server.public_url.rstrip("/")
        self.dir = media_dir
        self.max_bytes = config.tickets.media_max_bytes
        self.owners = MediaOwners(redis, config.redis.key_prefix)

    async def receive(self, part: BodyPartReader, session: str) -> str:
        """Keep the file of `part` for `session`; its public URL, or UploadRefused."""
        tmp, ext = await self._save(part)
        try:
            name = f"{secrets.token_urlsafe(18)}.{ext}"
            await asyncio.to_thread(_keep_without_metadata, tmp, self.dir / name, ext)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        await self.owners.record(name, session)
        return f"{self.public_url}/media/{name}"

    async def _save(self, part: BodyPartReader) -> tuple[Path, str]:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".upload-{secrets.token_hex(8)}"
        size = 0
        head = b""
        try:
            with open(tmp, "wb") as out:  # small chunked writes to local disk
                while True:
                    chunk = await part.read_chunk(64 * 1024)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise UploadRefused(413, "too_large",
                                            f"the image is larger than {self.max_bytes / (1024 * 1024):g} MB")
                    if len(head) < 16:
                        head += chunk[:16]
                        if len(head) >= 16 and sniff(head) is None:
                            raise UploadRefused(415, "unsupported_media_type",
                                                "only JPEG, PNG and WebP images are accepted")
                    out.write(chunk)
            ext = sniff(head)
            if not head:
                raise UploadRefused(400, "empty_file", "the file is empty")
            if ext is None:
                raise UploadRefused(415, "unsupported_media_type", "only JPEG, PNG and WebP images are accepted")
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return tmp, ext


class MediaHandler:
    def __init__(self, config: Config, limiter: RateLimiter, conversations: ConversationStore,
                 files: MediaFiles) -> None:
        self.config = config
        self.limiter = limiter
        self.conversations = conversations
        self.files = files
        self.dir = files.dir
        self.limit = Limit("media", config.tickets.media_uploads, config.tickets.media_window_s)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/media", self.upload)
        app.router.add_get("/media/{name}", self.serve)

    async def upload(self, request: web.Request) -> web.Response:
        ip = client_ip({"aiohttp.request": request}, self.config.server.forwarded_hops())
        if not await self.limiter.hit(self.limit, ip):
            return _error(429, "rate_limited", "too many uploads; wait a minute and try again")
        if not request.content_type.startswith("multipart/form-data"):
            return _error(400, "bad_request", "send multipart/form-data with fields session_id and file")
        try:
            reader = await request.multipart()
        except MALFORMED_MULTIPART:
            return _error(400, "bad_request", "malformed multipart body")
        session_id: str | None = None
        url: str | None = None
        try:
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    return _error(400, "bad_request", "nested multipart is not supported")
                if part.name == "session_id":
                    session_id = (await part.read(decode=True)).decode("utf-8", "replace")[:100].strip()
                elif part.name == "file":
                    if url is not None:
                        return _error(400, "bad_request", "send one file per upload")
                    if session_id is None or not await self.conversations.session_exists(session_id):
                        return _error(400, "invalid_session", "session_id (sent before file) is not a valid session")
                    url = await self.files.receive(part, session_id)
                else:
                    await part.release()
        except UploadRefused as refused:
            return _error(refused.status, refused.code, refused.message)
        except MALFORMED_MULTIPART as exc:
            return _error(400, "bad_request", f"malformed multipart body ({type(exc).__name__})")
        except OSError as exc:
            return _error(400, "bad_request", f"upload failed: {type(exc).__name__}")
        if url is None:
            return _error(400, "bad_request", "the file field is missing")
        return web.json_response({"media_url": url}, status=201)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        match = NAME_RE.match(name)
        path = self.dir / name
        if match is None or not path.is_file():
            return _error(404, "not_found", "no such media file")
        return web.FileResponse(path, headers={
            "Content-Type": TYPES[match.group(1)], "X-Content-Type-Options": "nosniff",
            "Cache-Control": "public, max-age=86400, immutable", "Content-Disposition": "inline",
        })
