"""Which photos a resident may attach: only files under `/media/` that their own session uploaded.

`POST /api/media` records the uploading session next to the random file name (Redis, one day);
`user_uttered.metadata.attachment` is accepted only if its URL names such a file and the sender's
session is the one that uploaded it. Anything else — another session's photo, `/media/../../etc/passwd`,
a name we never stored — is refused, so an attachment can neither point outside the media folder
nor borrow somebody else's photo.
"""

from __future__ import annotations

import re

from chat_server import redis_values as rv
from chat_server.redis_store import RedisStore
from chat_server.refusal import Refusal

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}\.(jpg|png|webp)$")
OWNER_TTL_S = 24 * 3600


def media_name(url: str, public_url: str) -> str | None:
    """The stored file name an attachment URL points to, or None if it is not one of our media URLs."""
    public = public_url.rstrip("/")
    path = url[len(public):] if url.startswith(f"{public}/") else url
    name = path.removeprefix("/media/")
    return name if path.startswith("/media/") and NAME_RE.match(name) else None


class MediaOwners(RedisStore):
    def _key(self, name: str) -> str:
        return f"{self.prefix}media:owner:{name}"

    async def record(self, name: str, session: str) -> None:
        await self.redis.set(self._key(name), session, ex=OWNER_TTL_S)

    async def uploaded_by(self, name: str, session: str) -> bool:
        owner = await self.redis.get(self._key(name))
        return owner is not None and rv.text(owner) == session


async def checked_attachment(value: object, session: str, owners: MediaOwners, public_url: str,
                             how: str) -> dict[str, str] | None:
    """A message's attachment as stored: `{type: image, url}` with the URL rebuilt absolute (tickets need an
    absolute media_url for Open311), or Refusal. `how` tells the sender how to upload one. The widget and the app
    API both check this way: the API took any `/media/<name>`, even one never uploaded, as a ticket's public photo."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") != "image" or not isinstance(value.get("url"), str):
        raise Refusal("malformed", "attachment must be {type: 'image', url}")
    public = public_url.rstrip("/")
    name = media_name(value["url"], public)
    if name is None or not await owners.uploaded_by(name, session):
        raise Refusal("bad_attachment", f"attach a photo uploaded in this conversation ({how})")
    return {"type": "image", "url": f"{public}/media/{name}"}
