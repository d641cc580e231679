"""Socket.IO namespace "/" for residents: Rasa-socketio-channel compatible, plus extensions.

Everything a client sends is untrusted: each handler validates shape and size, answers a bad
event with `error {code, message}` (and the same object in the ack), and never lets one
resident's bad input disturb stored data or other connections.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import socketio

from chat_server.config import Config
from chat_server.conversations.attachments import MediaOwners, checked_attachment
from chat_server.conversations.emergency_first import SCAN_CHARS, EmergencyFirst, readable, words_in
from chat_server.conversations.limits import Limit, RateLimiter
from chat_server.conversations.payloads import INVALID_PAYLOAD, refused_payload
from chat_server.conversations.service import (
    ConversationService,
    DuplicateInFlight,
    Incoming,
    Outcome,
    plain_room,
    session_room,
)
from chat_server.conversations.store import CLOSED, Conversation, valid_message_id
from chat_server.refusal import Refusal
from chat_server.safety import emergency_language
from chat_server.sanitize import clean_text, client_ip
from chat_server.texts import text

log = logging.getLogger("chat311.resident")

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
# How long an emergency's message may wait for storage before its 911 answer goes out unstored.
EMERGENCY_PATIENCE_S = 2.0
UNSTORED_EVERY_S = 60.0  # one 911 answer stored nowhere per socket in this long


class ClientError(Refusal):
    """A resident's event refused before it reaches the conversation service."""


class ResidentNamespace(socketio.AsyncNamespace):
    def __init__(self, service: ConversationService, limiter: RateLimiter, config: Config,
                 emergency_first: EmergencyFirst, media: MediaOwners) -> None:
        super().__init__("/")
        self.service = service
        self.store = service.store
        self.limiter = limiter
        self.config = config
        self.emergency_first = emergency_first
        self.media = media
        limits = config.limits
        self.session_limit = Limit("msg_session", limits.session_messages, limits.session_window_s)
        self.ip_limit = Limit("msg_ip", limits.ip_messages, limits.ip_window_s)
        self.new_session_limit = Limit("session_ip", limits.ip_sessions, limits.ip_sessions_window_s)
        self.typing_limit = Limit("typing_session", 60, 60.0)  # on/off changes relayed per session a minute
        self._unstored_at: dict[str, float] = {}  # sid → when it last got a 911 answer stored nowhere
        self._turns: set[asyncio.Task[Outcome]] = set()  # bot turns running after their ack
        # Told about every confirmed session (sid, language): features send their opening events.
        self.session_listeners: list[Callable[[str, str], Awaitable[None]]] = []
        # Told when the resident starts/stops typing (the agent console shows it); never any text.
        self.typing_listeners: list[Callable[[Conversation, bool], Awaitable[None]]] = []
        # Told (session, present) when a session's last socket leaves (the tab was closed) or one comes back.
        self.presence_listeners: list[Callable[[str, bool], Awaitable[None]]] = []

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Unknown events and handler crashes become an `error` event instead of silence."""
        sid = args[0] if args else None
        if event == INVALID_PAYLOAD and sid:
            return await self._invalid_payload(sid, args[1] if len(args) > 1 else {})
        if event not in ("connect", "disconnect") and not hasattr(self, f"on_{event}"):
            if sid:
                return await self._fail(sid, ClientError("unknown_event", f"unknown event {event[:40]!r}"))
            return None
        try:
            return await super().trigger_event(event, *args)
        except Exception:
            if event in ("connect", "disconnect") or not sid:
                raise
            log.exception("resident event failed", extra={"event": event})
            # storage may be what failed (Redis down or hung): an emergency is still answered, stored nowhere
            await self._emergency_unstored(sid, words_in(args[1:]))
            return await self._fail(sid, ClientError("internal", "something went wrong on our side; please retry"))

    async def _fail(self, sid: str, exc: ClientError) -> dict[str, Any]:
        await self.emit("error", exc.as_dict(), to=sid)
        return {"ok": False, "error": exc.as_dict()}

    async def _reject(self, sid: str, exc: ClientError, body: str, language: str | None) -> dict[str, Any]:
        """Refuse a resident's message — after answering an emergency it describes (emergency_first.py)."""
        sess = await self.get_session(sid)
        token = sess.get("session_id")
        if token:
            await self.emergency_first.answer_unseen(str(token), "web", body, language)
        else:
            await self._emergency_unstored(sid, body, language)  # nowhere to store it
        return await self._fail(sid, exc)

    async def _emergency_unstored(self, sid: str, body: str, language: str | None = None) -> None:
        """The 911 answer to this socket, stored nowhere; once a minute: a message stuck in a hung Redis was
        answered by the watchdog, again when its event failed, and again by the guard after (probe Z)."""
        if emergency_language(body[:SCAN_CHARS]) is None or not self._may_answer_unstored(sid):
            return
        if (reply := self.emergency_first.reply_for(body, language, f"sid|{sid}")) is not None:
            await self.emit("bot_uttered", {"text": reply, "sender": "system", "custom": {"event": "emergency"}},
                            to=sid)

    def _may_answer_unstored(self, sid: str) -> bool:
        """At most one unstored answer per socket in any UNSTORED_EVERY_S (a sliding window: a fixed one let the
        second through when the two fell either side of its edge)."""
        now = time.monotonic()
        last = self._unstored_at.get(sid)
        if last is not None and now - last < UNSTORED_EVERY_S:
            return False
        if len(self._unstored_at) >= 10_000:
            self._unstored_at = {k: t for k, t in self._unstored_at.items() if now - t < UNSTORED_EVERY_S}
        self._unstored_at[sid] = now
        return True

    async def _invalid_payload(self, sid: str, error: object) -> dict[str, Any]:
        """A packet payloads.py could not decode: its own error code, and the connection stays."""
        refused = refused_payload(error)
        return await self._reject(sid, ClientError(refused.code, refused.message), readable(refused.raw), None)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await self.save_session(sid, {"ip": client_ip(environ, self.config.server.forwarded_hops())})

    async def on_disconnect(self, sid: str, *args: Any) -> None:
        token = (await self.get_session(sid)).get("session_id")
        if token:
            await self._socket_gone(str(token), sid)

    async def _socket_gone(self, token: str, sid: str) -> None:
        if await self.store.socket_left(token, sid) == 0:
            for listener in self.presence_listeners:
                await listener(token, False)

    async def on_session_request(self, sid: str, data: object = None) -> dict[str, Any]:
        try:
            if data is not None and not isinstance(data, dict):
                raise ClientError("malformed", "session_request expects an object {session_id, last_message_id}")
            data = data or {}
            last_id = data.get("last_message_id")
            if last_id is not None and not valid_message_id(last_id):
                raise ClientError("malformed", "last_message_id must be a message id like '1700000000000-0'")
            sess = await self.get_session(sid)
            claimed = data.get("session_id")
            if claimed is not None and not isinstance(claimed, str):  # ["a"] opened a new session (probe X)
                raise ClientError("malformed", "session_id must be a string")
            token = claimed if isinstance(claimed, str) and await self.store.session_exists(claimed) else None
            if token is None:
                ip = sess.get("ip", "")
                if not await self.limiter.hit(self.new_session_limit, ip):
                    raise ClientError("rate_limited", "too many new chat sessions from this network; "
                                                      "try again in a minute")
                token = await self.store.new_session("web", self.config.limits.unused_session_ttl_s, ip=ip)
                last_id = None  # nothing to replay for a brand-new session
            # Our widget always sends last_message_id; Rasa-protocol widgets never do and get Rasa's
            # exact bot_uttered shape (rasa-webchat drops messages with extra keys).
            plain = "last_message_id" not in data
            room = plain_room(token) if plain else session_room(token)
            old_room = sess.get("room")
            if old_room and old_room != room:
                await self.leave_room(sid, old_room)
            old_token = sess.get("session_id")
            if old_token and old_token != token:
                await self._socket_gone(str(old_token), sid)
            sess.update(session_id=token, room=room)
            await self.save_session(sid, sess)
            if plain:
                await self.store.mark_plain_client(token)
            await self.enter_room(sid, room)
            await self.store.socket_joined(token, sid)
            for presence in self.presence_listeners:
                await presence(token, True)
            await self.emit("session_confirm", {"session_id": token}, to=sid)
            if last_id is not None:
                for message in await self.store.session_messages_after(token, last_id):
                    await self.emit(message.event_name, message.to_client(), to=sid)
            conv = await self.store.current_conversation(token)
            if conv is not None and conv.state != CLOSED:
                await self.emit("language", {"language": conv.language}, to=sid)
            for listener in self.session_listeners:
                await listener(sid, conv.language if conv is not None else self.config.language.default)
            return {"ok": True, "session_id": token}
        except ClientError as exc:
            return await self._fail(sid, exc)

    async def _bound_session(self, sid: str, data: object) -> str:
        sess = await self.get_session(sid)
        token = sess.get("session_id")
        if not token:
            raise ClientError("no_session", "send session_request first")
        claimed = data.get("session_id") if isinstance(data, dict) else None
        if claimed is not None and claimed != token:
            raise ClientError("wrong_session", "this connection belongs to another session")
        return str(token)

    async def on_user_uttered(self, sid: str, data: object = None) -> dict[str, Any]:
        words = clean_text(data["message"] if isinstance(data, dict) and isinstance(data.get("message"), str)
                           else words_in(data))
        watchdog = asyncio.create_task(self._emergency_if_stuck(sid, words)) if emergency_language(words) else None
        try:
            return await self._user_uttered(sid, data)
        finally:
            if watchdog is not None:
                watchdog.cancel()

    async def _emergency_if_stuck(self, sid: str, words: str) -> None:
        """Storage hung (Redis paused, swapping): the guard's answer waits for the message to be stored, and came
        only when Redis did, 40 s later (probe X). After a moment without an answer, it goes out stored nowhere."""
        await asyncio.sleep(EMERGENCY_PATIENCE_S)
        await self._emergency_unstored(sid, words)

    async def _user_uttered(self, sid: str, data: object) -> dict[str, Any]:
        body = ""
        language = None
        try:
            if not isinstance(data, dict) or not isinstance(data.get("message"), str):
                body = clean_text(words_in(data))  # still read for an emergency before the refusal
                raise ClientError("malformed", "user_uttered expects {message: string, session_id}")
            body = clean_text(data["message"])
            # rasa-webchat sends `customData`; an empty `metadata` does not hide it
            metadata: dict[str, Any] = next(
                (m for m in (data.get("metadata"), data.get("customData")) if isinstance(m, dict) and m), {})
            language = metadata.get("language") if metadata.get("language") in self.config.language.supported else None
            token = await self._bound_session(sid, data)
            sess = await self.get_session(sid)
            limit = self.config.limits.max_message_chars
            if len(body) > limit:
                raise ClientError("too_long", text("too_long", language or "en", limit=limit))
            try:
                attachment = await checked_attachment(metadata.get("attachment"), token, self.media,
                                                      self.config.server.public_url, "POST /api/media")
            except Refusal as refused:
                raise ClientError(refused.code, refused.message) from refused
            if not body and not attachment:
                raise ClientError("empty", "message is empty")
            ip = sess.get("ip", "unknown")
            source = f"ip:{ip}"
            if not await self.limiter.hit_all([(self.session_limit, f"{ip}|{token}"), (self.ip_limit, ip)]):
                self.service.turns.refused(source)
                raise ClientError("rate_limited", text("rate_limited", language or "en"))
            if self.service.turns.pending(source) >= self.config.limits.ip_turns_pending:
                self.service.turns.refused(source)
                raise ClientError("busy", text("busy", language or "en"))
            client_msg_id = metadata.get("client_msg_id")
            if client_msg_id is not None and not (isinstance(client_msg_id, str) and _CLIENT_ID.match(client_msg_id)):
                raise ClientError("malformed", "client_msg_id must be 1-64 letters, digits or -_.:")
            incoming = Incoming(body, language, client_msg_id, attachment,
                                recorded=asyncio.get_running_loop().create_future(), source=source)
            try:
                outcome = await self._stored(self.service.handle_resident_message(token, "web", incoming), incoming)
            except DuplicateInFlight:
                return {"ok": True, "duplicate": True}
            if sess.get("typing"):  # a sent message ends the typing (the console hides it on the message)
                sess["typing"] = False
                await self.save_session(sid, sess)
            return {"ok": True, "id": outcome.message.id, "duplicate": outcome.duplicate}
        except ClientError as exc:
            return await self._reject(sid, exc, body, language)

    async def _stored(self, turn: Coroutine[Any, Any, Outcome], incoming: Incoming) -> Outcome:
        """The outcome as soon as the message is stored; the bot's turn goes on in the background.

        The ack means "received": the widget sends the resident's next message only after it, and
        that next message may be an emergency, which must not wait for a slow bot turn.
        """
        recorded = incoming.recorded
        assert recorded is not None
        task = asyncio.create_task(turn)
        self._turns.add(task)
        task.add_done_callback(lambda done: self._turn_done(done, recorded))
        return await recorded

    async def drain(self, timeout: float) -> None:
        """On shutdown: let bot turns already acknowledged finish (bounded), so their replies are stored."""
        if self._turns:
            await asyncio.wait(set(self._turns), timeout=timeout)

    def _turn_done(self, task: asyncio.Task[Outcome], recorded: asyncio.Future[Outcome]) -> None:
        self._turns.discard(task)
        error = None if task.cancelled() else task.exception()
        if recorded.done():
            if error is not None:
                log.error("bot turn failed after the message was stored", exc_info=error)
        elif task.cancelled():  # shutdown before the message was stored
            recorded.cancel()
        elif error is not None:  # failed before storing: the caller gets the error (the ack says so)
            recorded.set_exception(error)
        else:
            recorded.set_result(task.result())

    async def on_typing(self, sid: str, data: object = None) -> dict[str, Any]:
        """`typing {session_id, on}`: relayed (on/off only) to whoever serves the chat. Repeats of the
        same state are dropped here, so a widget sending it on every keystroke costs nothing."""
        try:
            if not isinstance(data, dict) or not isinstance(data.get("on"), bool):
                raise ClientError("malformed", "typing expects {session_id, on: true|false}")
            token = await self._bound_session(sid, data)
            sess = await self.get_session(sid)
            if sess.get("typing") == data["on"]:
                return {"ok": True}
            if not await self.limiter.hit(self.typing_limit, token):
                return {"ok": True, "relayed": False}  # typing is a hint: over the limit it is dropped quietly
            sess["typing"] = data["on"]
            await self.save_session(sid, sess)
            conv = await self.store.current_conversation(token)
            if conv is not None and conv.state != CLOSED:
                for listener in self.typing_listeners:
                    await listener(conv, data["on"])
            return {"ok": True}
        except ClientError as exc:
            return await self._fail(sid, exc)

    async def on_end_chat(self, sid: str, data: object = None) -> dict[str, Any]:
        try:
            token = await self._bound_session(sid, data or {})
            conv = await self.store.current_conversation(token)
            if conv is None or conv.state == CLOSED:
                return {"ok": True, "already_closed": True}
            await self.service.close(conv, "resident_ended")
            return {"ok": True}
        except ClientError as exc:
            return await self._fail(sid, exc)

    async def on_csat(self, sid: str, data: object = None) -> dict[str, Any]:
        """A rating, and the comment box under it: one more place a resident may write "help, my husband is
        hitting me". Its words get the guard's 911 answer like a message's, before any refusal (probe U)."""
        said = clean_text(words_in(data.get("comment") if isinstance(data, dict) else data))
        answered = False
        try:
            if not isinstance(data, dict):
                raise ClientError("malformed", "csat expects {session_id, rating: 1..5, comment?}")
            token = await self._bound_session(sid, data)
            conv = await self.store.current_conversation(token)
            if said:
                answered = await self.emergency_first.answer_unseen(
                    token, "web", said, conv.language if conv else None) is not None
            rating = data.get("rating")
            if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
                raise ClientError("malformed", "rating must be an integer from 1 to 5")
            comment = said if isinstance(data.get("comment", ""), str) else ""
            if len(comment) > self.config.limits.max_message_chars:
                raise ClientError("too_long", "comment is too long")
            if conv is None:
                raise ClientError("no_conversation", "there is no conversation to rate")
            # once a chat: twenty ratings of 1 from one chat took the day's average from 3.0 to 1.26 (probe X)
            if not await self.store.set_once(conv.id, "csat", str(rating), csat_comment=comment):
                raise ClientError("already_rated", "this chat has already been rated; thank you")
            await self.service.bus.publish("csat", conv.id, rating=rating, comment=comment)
            return {"ok": True}
        except ClientError as exc:
            return await (self._fail(sid, exc) if answered else self._reject(sid, exc, said, None))
