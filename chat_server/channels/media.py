"""Photos that arrive by MMS or as e-mail attachments, kept like widget uploads (`/media/<name>`).

Tickets and agents need a photo URL they can open: Twilio's media URLs need the account's
credentials and e-mail attachments have no URL at all, so the image is stored in
`tickets.media_dir` under a random name, only if its first bytes say JPEG, PNG or WebP (the
same rule as `POST /api/media`), and served by the tickets feature's `/media/<name>` route.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from urllib.parse import urlparse

import aiohttp

from chat_server.config import Config
from chat_server.tickets.image_metadata import BadImage, strip_metadata
from chat_server.tickets.media import sniff

log = logging.getLogger("chat311.channels.media")


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)


async def store_image(config: Config, data: bytes) -> str | None:
    """Save an image; returns its absolute `{public_url}/media/<name>` URL (tickets need an http(s)
    URL), or None if it is not a supported image."""
    ext = sniff(data[:16])
    if ext is None or not data or len(data) > config.tickets.media_max_bytes:
        return None
    try:  # an MMS or e-mailed photo is published like a widget upload: without its EXIF GPS position
        data = await asyncio.to_thread(strip_metadata, data, ext)
    except BadImage as exc:
        log.info("damaged image not kept", extra={"error": str(exc)})
        return None
    directory = config.resolve_path(config.tickets.media_dir)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_urlsafe(24)}.{ext}"
    await asyncio.to_thread(_write, str(directory / name), data)
    return f"{config.server.public_url.rstrip('/')}/media/{name}"


async def fetch_twilio_media(config: Config, http: aiohttp.ClientSession, url: str) -> str | None:
    """Download an MMS image from Twilio (account credentials) and store it; None on any failure.

    Only URLs on the configured Twilio API host are fetched with our credentials, so a crafted
    MediaUrl can never make us send them elsewhere.
    """
    cfg = config.channels
    if urlparse(url).netloc != urlparse(cfg.twilio_api_base).netloc:
        return None
    limit = config.tickets.media_max_bytes
    try:
        async with http.get(url, auth=aiohttp.BasicAuth(cfg.twilio_account_sid, cfg.twilio_auth_token),
                            timeout=aiohttp.ClientTimeout(total=15)) as resp:
            if resp.status != 200:
                log.info("mms media not fetched", extra={"status": resp.status})
                return None
            data = await resp.content.read(limit + 1)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.info("mms media not fetched", extra={"error": type(exc).__name__})
        return None
    if len(data) > limit:
        return None
    return await store_image(config, data)
