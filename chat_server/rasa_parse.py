"""What Rasa makes of a text (`POST /model/parse` on a server started with --enable-api), for the pages that
show staff what the bot would do: the training page's scores and the content page's test box.

The residents' own turns go through the chat311 channel (conversations/); this is read-only and asks the
servers in the configured order until one answers.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

log = logging.getLogger(__name__)


class RasaReader:
    def __init__(self, urls: list[str], token: str, timeout_s: float) -> None:
        self.urls = [u.rstrip("/") for u in urls]
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def parse(self, text: str, session: aiohttp.ClientSession | None = None) -> dict[str, Any] | None:
        """Rasa's parse of `text` from the first server that answers; None when none does."""
        if session is None:
            async with aiohttp.ClientSession(timeout=self.timeout) as own:
                return await self.parse(text, own)
        for url in self.urls:
            try:
                async with session.post(f"{url}/model/parse", params={"token": self.token},
                                        json={"text": text}) as r:
                    r.raise_for_status()
                    parsed: dict[str, Any] = await r.json()
                    return parsed
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("rasa parse failed", extra={"url": url, "error": str(exc)[:200]})
        return None
