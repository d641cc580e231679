"""Photo upload for the widget: POST /api/media, GET /media/<name>, and the photo on a ticket."""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support.images import JPEG, WEBP, upload_photo
from tests.support.open311 import new_api_key, start_server
from tests.support.servers import ChatServerProcess, RedisServer

PREFIX = "t311media:"


def png_bytes(padding: int = 0) -> bytes:
    """A valid 1×1 PNG (optionally followed by junk to make it large)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body + b"\x00" * padding


# A comment segment saying who took it and where, as phones and editors write them (EXIF's GPS is in
# tests/test_image_metadata.py): published photos must not carry it.
COMMENT = b"Maria Lopez 35.2271N 80.8431W"
TAGGED_JPEG = JPEG[:2] + b"\xff\xfe" + struct.pack(">H", len(COMMENT) + 2) + COMMENT + JPEG[2:]


@pytest.fixture(scope="module")
async def server(redis_server: RedisServer) -> AsyncIterator[ChatServerProcess]:
    srv = await start_server(redis_server, "tickets-media", PREFIX, CHAT311_TICKETS__MEDIA_MAX_BYTES="200000",
                             CHAT311_TICKETS__MEDIA_UPLOADS="40")
    yield srv
    await srv.stop()


async def new_session(server: ChatServerProcess) -> str:
    from tests.support.clients import ResidentClient

    client = ResidentClient(server.url)
    await client.connect()
    try:
        return await client.start_session()
    finally:
        await client.close()


async def upload(server: ChatServerProcess, session_id: str | None, data: bytes, filename: str = "photo.png",
                 content_type: str = "image/png") -> tuple[int, dict]:
    return await upload_photo(server.url, session_id, data, filename, content_type)


async def test_upload_png_jpeg_webp_and_serve_back(server: ChatServerProcess) -> None:
    session = await new_session(server)
    for data, sent, ctype in ((png_bytes(), png_bytes(), "image/png"), (JPEG, TAGGED_JPEG, "image/jpeg"),
                              (WEBP, WEBP, "image/webp")):
        # The client's claimed name and type do not matter: the bytes decide.
        status, body = await upload(server, session, sent, filename="x.txt", content_type="text/plain")
        assert status == 201, body
        url = body["media_url"]
        assert url.startswith(f"{server.url}/media/") and "x.txt" not in url
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == ctype
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert await resp.read() == data  # the picture as sent, without what it said of its owner


@pytest.mark.parametrize(("data", "status", "code"), [
    (b"<html><script>alert(1)</script></html>", 415, "unsupported_media_type"),
    (b"GIF89a" + b"\x00" * 40, 415, "unsupported_media_type"),
    (png_bytes(padding=250_000), 413, "too_large"),
    (JPEG[:200], 400, "bad_image"),  # cut short: nothing could show it
    (b"", 400, "empty_file"),
])
async def test_upload_rejects_bad_files(server: ChatServerProcess, data: bytes, status: int, code: str) -> None:
    session = await new_session(server)
    got, body = await upload(server, session, data)
    assert got == status, body
    assert body["error"]["code"] == code and body["error"]["message"]


async def test_upload_needs_an_existing_session(server: ChatServerProcess) -> None:
    status, body = await upload(server, "not-a-real-session-token-0000", png_bytes())
    assert status == 400 and body["error"]["code"] == "invalid_session"
    status, body = await upload(server, None, png_bytes())
    assert status == 400 and body["error"]["code"] == "invalid_session"
    async with aiohttp.ClientSession() as http, http.post(f"{server.url}/api/media", json={"a": 1}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_request"
    # A part header that is not valid HTTP (control bytes in its name) answered 500.
    body = (b'--B\r\nContent-Disposition: form-data; name="\xc3\x9a\x02"\r\n\r\nx\r\n--B\r\n'
            b'Content-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n' + png_bytes() + b"\r\n--B--\r\n")
    async with aiohttp.ClientSession() as http, http.post(
            f"{server.url}/api/media", data=body, headers={"Content-Type": "multipart/form-data; boundary=B"}) as resp:
        assert resp.status == 400 and "malformed multipart" in (await resp.json())["error"]["message"]


async def test_media_paths_cannot_escape(server: ChatServerProcess) -> None:
    async with aiohttp.ClientSession() as http:
        for name in ("..%2F..%2Fchat311.yml", "nope.png", ".upload-abc"):
            async with http.get(f"{server.url}/media/{name}") as resp:
                assert resp.status == 404


async def test_upload_rate_limit(redis_server: RedisServer) -> None:
    srv = await start_server(redis_server, "tickets-media-rl", "t311mediarl:", CHAT311_TICKETS__MEDIA_UPLOADS="3",
                             CHAT311_TICKETS__MEDIA_WINDOW_S="600")
    try:
        session = await new_session(srv)
        statuses = [(await upload(srv, session, png_bytes()))[0] for _ in range(4)]
        assert statuses == [201, 201, 201, 429]
    finally:
        await srv.stop()


async def test_uploaded_photo_becomes_the_tickets_media_url(server: ChatServerProcess,
                                                            redis_server: RedisServer) -> None:
    session = await new_session(server)
    status, body = await upload(server, session, JPEG, "tree.jpg", "image/jpeg")
    assert status == 201
    _, key = await asyncio.to_thread(new_api_key, redis_server, PREFIX)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/open311/v2/requests.json", data={
            "api_key": key, "service_code": "FALLEN_TREE", "address_string": "1 Elm St",
            "attribute[blocking]": "sidewalk", "media_url": body["media_url"]}) as resp:
            assert resp.status == 200
            ticket_id = (await resp.json())[0]["service_request_id"]
        async with http.get(f"{server.url}/open311/v2/requests/{ticket_id}.json") as resp:
            request = (await resp.json())[0]
        assert request["media_url"] == body["media_url"]
        async with http.get(request["media_url"]) as resp:
            assert resp.status == 200 and await resp.read() == JPEG
