"""A resident's Socket.IO client for tests: records every server event in order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import socketio

from tests.support.waiting import first_event, until


class ResidentClient:
    EVENTS = ("session_confirm", "bot_uttered", "resident_uttered", "agent_joined", "queue_update", "typing",
              "ticket_created", "ticket_followed", "conversation_closed", "error", "language", "incident")

    def __init__(self, url: str, transports: list[str] | None = None, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.transports = transports or ["websocket"]
        self.headers = headers or {}
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        self.session_id: str | None = None
        for name in self.EVENTS:
            self.sio.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Callable[[Any], Any]:
        async def record(data: Any = None) -> None:
            self.events.append((name, data))
            if name == "session_confirm" and isinstance(data, dict):
                self.session_id = data.get("session_id")
            self._changed.set()
        return record

    async def connect(self) -> None:
        await self.sio.connect(self.url, transports=self.transports, headers=self.headers, wait_timeout=10)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()

    async def start_session(self, session_id: str | None = None, last_message_id: str | None = None,
                            plain: bool = False) -> str:
        """Like the chat311 widget (always sends last_message_id, default "0"), or with `plain`
        like a Rasa-protocol widget (never sends it, gets Rasa's exact payloads)."""
        payload: dict[str, Any] = {}
        if session_id:
            payload["session_id"] = session_id
        if not plain:
            payload["last_message_id"] = last_message_id or "0"
        ack = await self.sio.call("session_request", payload, timeout=10)
        assert ack["ok"], ack
        self.session_id = ack["session_id"]
        return str(self.session_id)

    async def say(self, text: str, language: str | None = None, client_msg_id: str | None = None,
                  **metadata: Any) -> dict[str, Any]:
        meta: dict[str, Any] = {"client_msg_id": client_msg_id or uuid.uuid4().hex, **metadata}
        if language:
            meta["language"] = language
        return dict(await self.sio.call("user_uttered", {"message": text, "session_id": self.session_id,
                                                         "metadata": meta}, timeout=30))

    def of(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    def messages(self) -> list[dict[str, Any]]:
        """bot_uttered and resident_uttered payloads, in arrival order."""
        return [data for event, data in self.events if event in ("bot_uttered", "resident_uttered")]

    async def wait_for(self, name: str, predicate: Callable[[Any], bool] = lambda d: True,
                       timeout: float = 20.0, after: int = 0) -> Any:
        """The first `name` event (at index >= after) matching `predicate`."""
        return self.events[await self.wait_for_index(name, predicate, timeout, after)][1]

    async def wait_for_index(self, name: str, predicate: Callable[[Any], bool] = lambda d: True,
                             timeout: float = 20.0, after: int = 0) -> int:
        """Index in `events` of the first `name` event (at index >= after) matching `predicate`."""
        (index,) = await until(lambda: first_event(self.events, name, predicate, after), timeout,
                               lambda _: f"no {name} event within {timeout}s; got {self.events[after:][-10:]}",
                               wake=self._changed)
        return index

    async def turn(self, text: str, timeout: float = 30.0, **kwargs: Any) -> list[dict[str, Any]]:
        """Send a message and collect the bot's replies: the server turns the bot's typing indicator
        off only after the turn's last reply was sent (same ordered stream), so typing-off ends it."""
        mark = len(self.events)
        ack = await self.say(text, **kwargs)
        assert ack.get("ok"), ack
        end = await self.wait_for_index("typing", lambda d: d == {"sender": "bot", "on": False},
                                        timeout=timeout, after=mark)
        return [d for e, d in self.events[mark:end] if e == "bot_uttered"]
