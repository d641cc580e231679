"""Talk to the Rasa server through the project's `chat311` input channel (bot/chat311_channel.py).

One HTTP call per resident turn returns the bot's messages plus the resolved label,
confidence, slots and active form, so chat_server needs no second call to learn what the
bot understood. Errors are classified so the relay can tell the resident honestly.

With several Rasa servers (`rasa.urls`) each turn goes to one of them (rasa_pool.py chooses). A turn
whose connection was refused never reached Rasa, so it is tried once more on the next server; a turn
that timed out or lost its connection after it was sent may have been applied (slots set, a form
advanced), so it is not sent again: the resident gets the bot-unavailable path instead of a turn
that runs twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from chat_server.conversations.rasa_pool import RasaPool
from chat_server.stopping import cancel_and_wait

log = logging.getLogger("chat311.bot")

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
    form_answer: bool = False  # the report form took the message as its answer (bot/chat311_channel.py)

    @property
    def custom_events(self) -> list[dict[str, Any]]:
        return [m["custom"] for m in self.messages if isinstance(m.get("custom"), dict) and "event" in m["custom"]]


class _NotSent(Exception):
    """The connection to a Rasa server could not be opened: the turn cannot have been applied."""


def describe(exc: BaseException) -> str:
    """A short, token-free description of a failed call (aiohttp's messages may carry the URL)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "disconnected before replying"
    if isinstance(exc, BotUnavailable):
        return str(exc).removeprefix("error: ")
    return type(exc).__name__


class BotClient:
    def __init__(self, urls: list[str], token: str, timeout_s: float, health_interval_s: float = 5.0) -> None:
        self.pool = RasaPool([u.rstrip("/") for u in urls])
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.health_interval_s = health_interval_s
        self._session: aiohttp.ClientSession | None = None
        self._checker: asyncio.Task[None] | None = None

    @property
    def urls(self) -> list[str]:
        return list(self.pool.servers)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=30), timeout=self.timeout
            )
        return self._session

    def start(self) -> None:
        """Check every server's health every `health_interval_s` (a down server comes back this way)."""
        if self._checker is None:
            self._checker = asyncio.create_task(self._check_forever(), name="rasa-health")

    async def close(self) -> None:
        await cancel_and_wait([self._checker])
        self._checker = None
        if self._session:
            await self._session.close()

    async def _check_forever(self) -> None:
        while True:
            await self.check_all()
            await asyncio.sleep(self.health_interval_s)

    def _mark_down(self, url: str, error: str) -> None:
        if self.pool.mark_down(url, error):
            log.warning("rasa server down", extra={"server": url, "error": error})

    def _mark_up(self, url: str) -> None:
        if self.pool.mark_up(url):
            log.info("rasa server up", extra={"server": url})

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> BotReply:
        """One resident turn on the conversation's server; once more on the next if it was refused."""
        body = {"sender": sender, "message": text, "metadata": metadata}
        refused: list[str] = []
        for url in self.pool.order(sender)[:2]:
            try:
                return await self._send_to(url, body)
            except _NotSent as exc:
                refused.append(f"{url}: {exc}")
        raise BotUnavailable("down", "; ".join(refused))

    async def _send_to(self, url: str, body: dict[str, Any]) -> BotReply:
        try:
            async with self._client().post(f"{url}{WEBHOOK_PATH}", json=body) as resp:
                if resp.status != 200:
                    raise BotUnavailable("error", f"HTTP {resp.status}")
                data = await resp.json(content_type=None)
        except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
            self._mark_down(url, describe(exc))
            raise _NotSent(describe(exc)) from exc
        except TimeoutError as exc:
            self._mark_down(url, describe(exc))
            raise BotUnavailable("timeout", str(exc)) from exc
        except aiohttp.ClientConnectionError as exc:
            self._mark_down(url, describe(exc))
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
            form_answer=data.get("form_answer") is True,
        )

    async def status(self, url: str) -> dict[str, Any]:
        async with self._client().get(
            f"{url}/status", params={"token": self.token}, timeout=aiohttp.ClientTimeout(total=1.5)
        ) as resp:
            if resp.status != 200:  # not raise_for_status: its message carries the URL with the token
                raise BotUnavailable("error", f"Rasa /status answered HTTP {resp.status}")
            return dict(await resp.json())

    async def check(self, url: str) -> dict[str, Any]:
        """Health of one server, `{url, ok, model | error}`; the pool learns the result."""
        try:
            status = await self.status(url)
        except Exception as exc:  # any failure means "down", described without the token
            self._mark_down(url, describe(exc))
            return {"url": url, "ok": False, "error": describe(exc)}
        self._mark_up(url)
        return {"url": url, "ok": True, "model": str(status.get("model_file", "")).rsplit("/", 1)[-1]}

    async def check_all(self) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self.check(url) for url in self.pool.servers)))
