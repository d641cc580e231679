"""Socket.IO namespace `/agents`: the agent console's live channel. Logged-in users only.

`connect` checks the session cookie (and that the Origin is this server) and refuses anything
else, so an unauthenticated client never gets a socket. Each later event re-checks that the
session still exists (logout elsewhere, disabled account) before acting. Every event answers
with an ack `{ok: true, ...}` or `{ok: false, error: {code, message}}`.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

import socketio
from socketio.exceptions import ConnectionRefusedError as Refused

from chat_server.agents.accounts import Account, AccountStore
from chat_server.agents.auth import SESSION_COOKIE, SessionStore, parse_cookie_header
from chat_server.agents.knowledge import KnowledgeBase
from chat_server.agents.service import NS, ActionError, EscalationService, conv_room, user_room
from chat_server.conversations.payloads import INVALID_PAYLOAD, refused_payload
from chat_server.sanitize import clean_text

log = logging.getLogger("chat311.agents")


def _origin_ok(environ: dict[str, Any]) -> bool:
    """Browsers always send Origin on WebSocket/XHR; it must be this host (no cross-site sockets)."""
    origin = environ.get("HTTP_ORIGIN")
    if not origin:
        return True  # non-browser clients (tests, tools) still need the session cookie
    host = environ.get("HTTP_HOST", "")
    return bool(urlsplit(origin).netloc == host)


class AgentsNamespace(socketio.AsyncNamespace):
    def __init__(self, service: EscalationService, sessions: SessionStore, accounts: AccountStore,
                 knowledge: KnowledgeBase, max_chars: int) -> None:
        super().__init__(NS)
        self.service = service
        self.sessions = sessions
        self.accounts = accounts
        self.knowledge = knowledge
        self.max_chars = max_chars

    async def trigger_event(self, event: str, *args: Any) -> Any:
        sid = str(args[0]) if args else ""
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        if event == INVALID_PAYLOAD:  # a 50,000-character note was answered "unknown event '__invalid_payload_…'"
            return {"ok": False, "error": refused_payload(args[1] if len(args) > 1 else None).as_dict()}
        if not hasattr(self, f"on_{event}"):
            return {"ok": False, "error": {"code": "unknown_event", "message": f"unknown event {event[:40]!r}"}}
        try:
            account = await self._account(sid)
            data = args[1] if len(args) > 1 else None
            result = await getattr(self, f"on_{event}")(sid, account, data if isinstance(data, dict) else {})
            return {"ok": True, **(result or {})}
        except ActionError as exc:
            return {"ok": False, "error": exc.as_dict()}
        except Exception:
            log.exception("agent event failed", extra={"event": event})
            return {"ok": False, "error": {"code": "internal", "message": "something went wrong; please retry"}}

    async def _account(self, sid: str) -> Account:
        sess = await self.get_session(sid)
        session = await self.sessions.get(sess.get("token"))
        account = await self.accounts.get(session.username) if session else None
        if account is None or account.disabled:
            # Said before the socket closes (the ack below never arrives): the console signs in again instead of
            # "reconnecting…" for ever while replies went nowhere (probe S).
            await self.emit("session_ended", {}, to=sid)
            await self.disconnect(sid)
            raise ActionError("unauthorized", "your session has ended; please log in again")
        return account

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        if not _origin_ok(environ):
            raise Refused("forbidden origin")
        token = parse_cookie_header(environ.get("HTTP_COOKIE", ""), SESSION_COOKIE)
        session = await self.sessions.get(token)
        account = await self.accounts.get(session.username) if session else None
        if account is None or account.disabled or not account.takes_chats:
            raise Refused("unauthorized")
        await self.save_session(sid, {"token": token, "username": account.username})
        await self.enter_room(sid, user_room(account.username))
        await self.enter_room(sid, "agents")
        await self.service.agent_connected(account, sid)

    async def on_disconnect(self, sid: str, *args: Any) -> None:
        sess = await self.get_session(sid)
        if sess.get("username"):
            await self.service.agent_disconnected(sess["username"], sid)

    # ---- events (sid, account, data) ----
    async def on_hello(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        console = self.service.console
        chats = await self.service.my_chats(account.username)
        for chat in chats:  # a reloaded console hears every chat it has, not only the one it opens
            if not chat["offered"]:
                await self.enter_room(sid, conv_room(chat["conversation_id"]))
        return {
            "me": account.public(),
            "status": await self.service.routing.status(account.username),
            "away_in_s": round(await self.service.routing.away_in(account.username, time.time()), 1),
            "chats": chats,
            "queue": await self.service.queue_snapshot(),
            "canned": [{"key": c.key, "en": c.en, "es": c.es or c.en} for c in console.canned_responses],
            "dispositions": console.dispositions,
            "hours": self.service.hours_view(await self.service.hours_status()),
            "accept_timeout_s": self.service.cfg.accept_timeout_s,
            "max_chars": self.max_chars,  # the reply box counts against it (a paste was cut there without a word)
            "services": self.service.ticket_form(),
        }

    async def on_heartbeat(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        await self.service.routing.touch({account.username: [sid]}, time.time())
        return {}

    async def on_take(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        await self.service.take(account, data.get("conversation_id"))
        return {}

    async def on_sign_out(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        """Sent by the console just before its logout form: the agent's chats are requeued at once."""
        await self.service.sign_out(account.username)
        return {}

    async def on_set_status(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        await self.service.set_status(account.username, str(data.get("status")))
        return {"status": data.get("status")}

    async def on_accept(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        conv = await self.service.accept(account, data.get("conversation_id"))
        await self.enter_room(sid, conv_room(conv.id))
        return {"conversation": await self.service.view(account, conv.id)}

    async def on_decline(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        await self.service.decline(account, data.get("conversation_id"))
        return {}

    async def on_open(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        view = await self.service.view(account, data.get("conversation_id"))
        await self.enter_room(sid, conv_room(view["conversation_id"]))
        return {"conversation": view}

    async def on_leave(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        cid = data.get("conversation_id")
        if isinstance(cid, str):
            await self.leave_room(sid, conv_room(cid))
        return {}

    def _text(self, data: dict[str, object]) -> str:
        body = data.get("text")
        if body is not None and not isinstance(body, str):  # ["a"] was told "message is empty" (probe X)
            raise ActionError("malformed", "text must be a string")
        if not isinstance(body, str) or not clean_text(body):
            raise ActionError("empty", "message is empty")
        body = clean_text(body)
        if len(body) > self.max_chars:
            raise ActionError("too_long", f"at most {self.max_chars} characters")
        return body

    async def on_send(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        message = await self.service.send(account, data.get("conversation_id"), self._text(data))
        return {"id": message.id}

    async def on_note(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        message = await self.service.note(account, data.get("conversation_id"), self._text(data))
        return {"id": message.id}

    async def on_typing(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        await self.service.typing(account, data.get("conversation_id"), bool(data.get("on")))
        return {}

    async def on_close(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        await self.service.close(account, data.get("conversation_id"), data.get("disposition"))
        return {}

    async def on_transfer(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        await self.service.transfer(account, data.get("conversation_id"), data.get("to"))
        cid = data.get("conversation_id")
        if isinstance(cid, str):
            await self.leave_room(sid, conv_room(cid))
        return {}

    async def on_ticket(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        return await self.service.create_ticket(account, data.get("conversation_id"), data.get("service_code"),
                                                data.get("description"), data.get("address"),
                                                data.get("attributes"), data.get("lat"), data.get("long"))

    async def on_agents(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        return {"agents": await self.service.agents_overview()}

    async def on_kb_search(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        query = data.get("q")
        if not isinstance(query, str):
            raise ActionError("malformed", "q must be a string")
        language = data.get("language")
        return {"results": await self.knowledge.search(query[:200], language if language in ("en", "es") else None)}

    async def on_hours(self, sid: str, account: Account, data: dict[str, object]) -> dict[str, Any]:
        if "mode" in data:
            return {"hours": await self.service.set_hours_override(account, data.get("mode"), data.get("minutes"),
                                                                   data.get("reason"))}
        return {"hours": self.service.hours_view(await self.service.hours_status())}
