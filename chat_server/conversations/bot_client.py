"""Talk to the Rasa server through the project's `chat311` input channel (bot/chat311_channel.py).

One HTTP call per resident turn returns the bot's messages plus the resolved label,
confidence, slots and active form, so chat_server needs no second call to learn what the
bot understood. Errors are classified so the relay can tell the resident honestly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp

WEBHOOK_PATH = "/webhooks/chat311/webhook"


class BotUnavailable(Exception):
    """Rasa refused, failed or timed out; `reason` is one of: down, timeout, error."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass
class BotReply:
    messages: list[dict[str, Any]]
    label: str | None = None
    confidence: float | None = None
    language: str | None = None
    active_loop: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)

    @property
    def custom_events(self) -> list[dict[str, Any]]:
        return [m["custom"] for m in self.messages if isinstance(m.get("custom"), dict) and "event" in m["custom"]]


class BotClient:
    def __init__(self, base_url: str, token: str, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=30), timeout=self.timeout
            )
        return self._session

    async def close(self) -> None:
        if self._session:
            await self._session.close()

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> BotReply:
        body = {"sender": sender, "message": text, "metadata": metadata}
        try:
            async with self._client().post(f"{self.base_url}{WEBHOOK_PATH}", json=body) as resp:
                if resp.status != 200:
                    raise BotUnavailable("error", f"HTTP {resp.status}")
                data = await resp.json(content_type=None)
        except TimeoutError as exc:
            raise BotUnavailable("timeout", str(exc)) from exc
        except aiohttp.ClientConnectionError as exc:
            raise BotUnavailable("down", str(exc)) from exc
        except (aiohttp.ClientError, ValueError) as exc:
            raise BotUnavailable("error", str(exc)) from exc
        if isinstance(data, list):  # plain REST channel shape
            return BotReply(messages=[m for m in data if isinstance(m, dict)])
        if not isinstance(data, dict):
            raise BotUnavailable("error", "unexpected response shape")
        return BotReply(
            messages=[m for m in data.get("messages", []) if isinstance(m, dict)],
            label=data.get("label"),
            confidence=data.get("confidence"),
            language=data.get("language"),
            active_loop=data.get("active_loop"),
            slots=data.get("slots") or {},
        )

    async def status(self) -> dict[str, Any]:
        async with self._client().get(
            f"{self.base_url}/status", params={"token": self.token}, timeout=aiohttp.ClientTimeout(total=2)
        ) as resp:
            if resp.status != 200:  # not raise_for_status: its message carries the URL with the token
                raise BotUnavailable("error", f"Rasa /status answered HTTP {resp.status}")
            return dict(await resp.json())
