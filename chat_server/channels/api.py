"""The mobile-app channel: token-authenticated REST under `/api/v1/`, plus signed webhooks.

A city app (SAC311 / CLT+ style) authenticates with an app token and names its resident with a
stable `user_id`; `(app, user_id)` maps to one resident session, so the conversation model,
bot, queue, agents and tickets are the web widget's. Sending a message runs the bot turn and
returns that turn's replies; later messages (an agent's) are fetched with `?after=<id>` or
pushed to the app's webhook:

    POST <webhook_url>
    X-Chat311-Event: message | agent_joined | queue_update | ticket_created | ticket_followed |
                     conversation_closed
    X-Chat311-Delivery: <unique id>
    X-Chat311-Timestamp: <unix seconds>
    X-Chat311-Signature: sha256=<hex HMAC-SHA256(webhook_secret, "<timestamp>.<raw body>")>

Webhooks go through the durable outbox: retried with exponential backoff on timeouts, 408, 429
and 5xx; dropped on other 4xx (the app said no).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import BodyPartReader, web
from redis.asyncio import Redis

from chat_server.app_hooks import run_with_app
from chat_server.channels.apptokens import AppTokenStore
from chat_server.channels.openapi import CLIENT_ID_PATTERN, ID_PATTERN, MESSAGE_ID_PATTERN, USER_PATTERN, document
from chat_server.channels.resident_channel import ResidentChannel
from chat_server.config import Config
from chat_server.conversations.attachments import checked_attachment
from chat_server.conversations.emergency_first import EmergencyFirst, readable, words_in
from chat_server.conversations.limits import Limit, RateLimiter
from chat_server.conversations.payloads import PayloadError, decode
from chat_server.conversations.service import ConversationService, DuplicateInFlight, Incoming
from chat_server.conversations.store import CLOSED, Conversation, Message
from chat_server.refusal import Refusal
from chat_server.sanitize import clean_text
from chat_server.stream_outbox import GiveUp, Retry
from chat_server.tickets.media import MALFORMED_MULTIPART, MediaFiles, UploadRefused

log = logging.getLogger("chat311.channels.api")

API_PREFIX = "/api/v1"
_ID = re.compile(ID_PATTERN)
_USER = re.compile(USER_PATTERN)
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)
_MESSAGE_ID = re.compile(MESSAGE_ID_PATTERN)
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
APP_ID: web.AppKey[str] = web.AppKey("chat311_app_id", str)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}, **extra}, status=status, headers=headers)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook signature: `sha256=` + hex HMAC-SHA256 over `<timestamp>.<body>`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def message_json(message: Message) -> dict[str, Any]:
    out = message.to_client()
    out.pop("lang", None)
    out["sender"] = message.sender
    out["language"] = message.language
    return out


class ApiChannel(ResidentChannel):
    name = "api"
    supports_buttons = True

    def __init__(self, config: Config, redis: Redis, service: ConversationService, limiter: RateLimiter,
                 emergency_first: EmergencyFirst, media: MediaFiles, email: Any = None) -> None:
        super().__init__(config, redis, service, limiter, emergency_first)
        self.media = media
        self.max_body_bytes = max(config.limits.max_event_bytes, 4 * config.limits.max_message_chars * 4)
        self.email = email
        self.tokens = AppTokenStore(redis, self.prefix)
        self.app_limit = Limit("api_app", self.cfg.api_requests, self.cfg.api_window_s)
        self.outbox = self.make_outbox("webhooks", self._post_webhook, self._webhook_failed)
        self.http: aiohttp.ClientSession | None = None
        self._openapi = document(config.server.public_url, config.limits.max_message_chars, email is not None)

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/api/openapi.json", self.openapi)
        app.router.add_post(f"{API_PREFIX}/conversations", self._guard(self.create_conversation))
        app.router.add_get(f"{API_PREFIX}/conversations/{{cid}}", self._guard(self.get_conversation))
        app.router.add_get(f"{API_PREFIX}/conversations/{{cid}}/messages", self._guard(self.list_messages))
        app.router.add_post(f"{API_PREFIX}/conversations/{{cid}}/messages",
                            self._guard(self.send_message, resident_message=True))
        app.router.add_post(f"{API_PREFIX}/conversations/{{cid}}/media", self._guard(self.upload_media))
        app.router.add_post(f"{API_PREFIX}/conversations/{{cid}}/close", self._guard(self.close_conversation))
        if self.email is not None:
            app.router.add_post(f"{API_PREFIX}/conversations/{{cid}}/transcript", self._guard(self.transcript))
        run_with_app(app, self)

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.cfg.webhook_timeout_s))
        await self.outbox.start()

    async def stop(self) -> None:
        await self.outbox.stop()
        if self.http:
            await self.http.close()

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(self._openapi)

    # plumbing --------------------------------------------------------------------------------
    def _guard(self, handler: Callable[[web.Request, str], Awaitable[web.StreamResponse]],
               resident_message: bool = False) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Auth, rate limit, and turning every failure into the JSON error format (never a 500 page).

        A refused resident message is first checked for an emergency (emergency_first.py): the 911
        answer is stored, delivered (webhook) and returned next to the error as `emergency`.
        """
        async def wrapped(request: web.Request) -> web.StreamResponse:
            app_id = None
            try:
                header = request.headers.get("Authorization", "")
                scheme, _, token = header.partition(" ")
                app_id = await self.tokens.check(token.strip()) if scheme.lower() == "bearer" else None
                if app_id is None:
                    return error_response(401, "unauthorized", "send Authorization: Bearer <app token>",
                                          {"WWW-Authenticate": 'Bearer realm="chat311"'})
                if not await self.limiter.hit(self.app_limit, app_id):
                    raise ApiError(429, "rate_limited", "too many requests; slow down",
                                   {"Retry-After": str(int(self.cfg.api_window_s))})
                return await handler(request, app_id)
            except ApiError as exc:
                extra = {}
                if resident_message and app_id is not None:
                    answer = await self._emergency_answer_unseen(request, app_id)
                    extra = {"emergency": message_json(answer)} if answer is not None else {}
                return error_response(exc.status, exc.code, exc.message, exc.headers, **extra)
            except web.HTTPException:
                raise
            except Exception:
                log.exception("api request failed", extra={"path": request.path})
                # storage may be what failed (Redis down or hung), the app token's check too (probe Z): an
                # emergency is still answered, stored nowhere
                extra = {}
                who = app_id or f"ip:{request.remote}"
                if resident_message and (reply := self.emergency_first.reply_for(
                        await self._said(request), None, f"{self.name}|{who}|{request.path}")) is not None:
                    extra = {"emergency": {"text": reply, "sender": "system", "stored": False}}
                return error_response(503, "internal", "something went wrong on our side; please retry", **extra)
        return wrapped

    async def _emergency_answer_unseen(self, request: web.Request, app_id: str) -> Message | None:
        try:
            conv = await self._owned(request, app_id)
        except ApiError:
            return None  # not this app's conversation: nobody to answer
        return await self.emergency_first.answer_unseen(conv.session, self.name, await self._said(request))

    async def _said(self, request: web.Request) -> str:
        """A refused message's words: its `text`, every string of a body of another shape ({"message": …}), or the
        raw body with its JSON escapes read ("est\\u00e1" was missed, probe X)."""
        raw = (await request.read()).decode("utf-8", "replace")
        try:
            body = decode(raw, self.max_body_bytes)
        except PayloadError:
            return readable(raw)
        text = body.get("text") if isinstance(body, dict) else None
        return text if isinstance(text, str) else words_in(body)

    async def _json_body(self, request: web.Request, allowed: set[str]) -> dict[str, Any]:
        try:
            body = decode(await request.read(), self.max_body_bytes)
        except PayloadError as exc:
            raise ApiError(413 if exc.code == "too_large" else 400, exc.code, exc.message) from exc
        if not isinstance(body, dict):
            raise ApiError(400, "malformed", "the body must be a JSON object")
        unknown = set(body) - allowed
        if unknown:
            raise ApiError(400, "malformed", f"unknown field(s): {', '.join(sorted(map(str, unknown)))[:200]}")
        return body

    async def _owned(self, request: web.Request, app_id: str) -> Conversation:
        cid = request.match_info["cid"]
        conv = await self.store.get(cid) if _ID.match(cid) else None
        if conv is None or conv.channel != self.name:
            raise ApiError(404, "not_found", "no such conversation")
        meta = await self.session_meta(conv.session)
        if meta.get("app_id") != app_id:
            raise ApiError(404, "not_found", "no such conversation")
        return conv

    def _conversation_json(self, conv: Conversation, meta_user: str) -> dict[str, Any]:
        return {
            "id": conv.id, "state": conv.state, "channel": conv.channel, "language": conv.language,
            "created_at": conv.created_at, "user_id": meta_user,
            "ticket_id": conv.get("ticket_id") or None, "closed_reason": conv.get("closed_reason") or None,
        }

    async def _user_of(self, conv: Conversation) -> str:
        meta = await self.session_meta(conv.session)
        return meta.get("user_id", "")

    # endpoints -------------------------------------------------------------------------------
    async def create_conversation(self, request: web.Request, app_id: str) -> web.Response:
        body = await self._json_body(request, {"user_id", "language"})
        user_id = body.get("user_id")
        if not isinstance(user_id, str) or not _USER.match(user_id):
            raise ApiError(400, "malformed", "user_id must be 1-128 letters, digits or _.:@-")
        language = body.get("language")  # none given: the resident's first words choose it, as on SMS
        if language is not None and language not in self.config.language.supported:
            raise ApiError(400, "malformed", f"language must be one of {', '.join(self.config.language.supported)}")
        session = await self.session_for(f"{app_id}:{user_id}", app_id=app_id, user_id=user_id)
        current = await self.store.current_conversation(session)
        if current is not None and current.state != CLOSED:
            return web.json_response(self._conversation_json(current, user_id), status=200)
        conv = await self.service.open_conversation(session, self.name, language)
        if language is not None:
            await self.store.update(conv.id, ui_language=language)
        return web.json_response(self._conversation_json(conv, user_id), status=201)

    async def get_conversation(self, request: web.Request, app_id: str) -> web.Response:
        conv = await self._owned(request, app_id)
        return web.json_response(self._conversation_json(conv, await self._user_of(conv)))

    async def list_messages(self, request: web.Request, app_id: str) -> web.Response:
        conv = await self._owned(request, app_id)
        after = request.query.get("after", "0")
        if not _MESSAGE_ID.match(after):
            raise ApiError(400, "malformed", "after must be a message id like 1700000000000-0")
        raw_limit = request.query.get("limit", "100")
        if not re.fullmatch(r"[0-9]{1,3}", raw_limit) or not 1 <= int(raw_limit) <= 200:
            raise ApiError(400, "malformed", "limit must be an integer from 1 to 200")
        messages = [m for m in await self.store.messages(conv.id, after, count=int(raw_limit))
                    if m.extra.get("visibility") != "internal"]
        return web.json_response({
            "messages": [message_json(m) for m in messages],
            "conversation": self._conversation_json(conv, await self._user_of(conv)),
            "last_id": messages[-1].id if messages else None,
        })

    async def send_message(self, request: web.Request, app_id: str) -> web.Response:
        conv = await self._owned(request, app_id)
        body = await self._json_body(request, {"text", "client_msg_id", "attachment"})
        raw = body.get("text")
        if not isinstance(raw, str):
            raise ApiError(400, "malformed", "text must be a string")
        limit = self.config.limits.max_message_chars
        if len(raw) > limit:
            raise ApiError(400, "too_long", f"text is longer than {limit} characters")
        client_msg_id = body.get("client_msg_id")
        if client_msg_id is not None and not (isinstance(client_msg_id, str) and _CLIENT_ID.match(client_msg_id)):
            raise ApiError(400, "malformed", "client_msg_id must be 1-64 letters, digits or -_.:")
        try:
            upload = f"POST {API_PREFIX}/conversations/{conv.id}/media"
            attachment = await checked_attachment(body.get("attachment"), conv.session, self.media.owners,
                                                  self.config.server.public_url, upload)
        except Refusal as refused:
            raise ApiError(400, refused.code, refused.message) from refused
        text_ = clean_text(raw)
        if not text_ and not attachment:
            raise ApiError(400, "empty", "text is empty")
        if conv.state == CLOSED:
            raise ApiError(409, "conversation_closed", "this conversation is closed; create a new one")
        current = await self.store.current_conversation(conv.session)
        if current is None or current.id != conv.id:
            raise ApiError(409, "conversation_closed", "this conversation is closed; create a new one")
        if not await self.resident_within_limit(f"{app_id}|{conv.session}"):
            raise ApiError(429, "rate_limited", "too many messages; wait a few seconds",
                           {"Retry-After": str(int(self.config.limits.session_window_s) or 1)})
        incoming = Incoming(text_, conv.get("ui_language") or None, client_msg_id, attachment)
        try:
            outcome = await self.service.handle_resident_message(conv.session, self.name, incoming)
        except DuplicateInFlight as exc:
            raise ApiError(409, "duplicate_in_flight", "a message with this client_msg_id is being processed") from exc
        replies = [m for m in await self.store.messages(conv.id, outcome.message.id)
                   if m.sender != "resident" and m.extra.get("visibility") != "internal"]
        fresh = await self.store.get(conv.id) or conv
        return web.json_response({
            "message": message_json(outcome.message), "replies": [message_json(m) for m in replies],
            "duplicate": outcome.duplicate, "conversation": self._conversation_json(fresh, await self._user_of(conv)),
        }, status=201)

    async def upload_media(self, request: web.Request, app_id: str) -> web.Response:
        """A photo for this conversation (multipart, field `file`): its `media_url` goes in a message's attachment.
        The bot asks app users for a photo, and apps had no way to send one."""
        conv = await self._owned(request, app_id)
        if not request.content_type.startswith("multipart/form-data"):
            raise ApiError(400, "malformed", "send multipart/form-data with a field named file")
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise ApiError(400, "malformed", "nested multipart is not supported")
                if part.name == "file":
                    url = await self.media.receive(part, conv.session)
                    return web.json_response({"media_url": url}, status=201)
                await part.release()
        except UploadRefused as refused:
            raise ApiError(refused.status, refused.code, refused.message) from refused
        except MALFORMED_MULTIPART as exc:
            raise ApiError(400, "malformed", "malformed multipart body") from exc
        raise ApiError(400, "malformed", "the file field is missing")

    async def close_conversation(self, request: web.Request, app_id: str) -> web.Response:
        conv = await self._owned(request, app_id)
        if conv.state != CLOSED:
            await self.service.close(conv, "resident_ended")
        fresh = await self.store.get(conv.id) or conv
        return web.json_response(self._conversation_json(fresh, await self._user_of(conv)))

    async def transcript(self, request: web.Request, app_id: str) -> web.Response:
        conv = await self._owned(request, app_id)
        body = await self._json_body(request, {"email"})
        address = body.get("email")
        if not isinstance(address, str) or len(address) > 254 or not _EMAIL.match(address):
            raise ApiError(400, "malformed", "email must be an e-mail address")
        await self.email.send_transcript(conv, address)
        return web.json_response({"sent_to": address}, status=202)

    # the way back: webhooks -----------------------------------------------------------------
    async def deliver(self, conv: Conversation, message: Message) -> None:
        if message.sender == "resident":
            return
        await self._queue_webhook(conv, "message", {"message": message_json(message)}, message.extra.get("notice"))

    async def notify(self, conv: Conversation, event: str, data: dict[str, Any]) -> None:
        if event in ("agent_joined", "queue_update", "ticket_created", "ticket_followed", "conversation_closed"):
            await self._queue_webhook(conv, event, {"data": data})

    async def _queue_webhook(self, conv: Conversation, event: str, payload: dict[str, Any],
                             notice: dict[str, Any] | None = None) -> None:
        meta = await self.session_meta(conv.session)
        app_id = meta.get("app_id", "")
        app = await self.tokens.get(app_id) if app_id else None
        if app is None or not app.active or not app.webhook_url:
            await self.notice_outcome(notice, "skipped", "the app has no webhook")
            return
        body = {"event": event, "conversation_id": conv.id, "user_id": meta.get("user_id", ""),
                "delivery_id": secrets.token_hex(12), **payload}
        job: dict[str, Any] = {"key": conv.id, "app_id": app_id, "body": body}
        if notice:
            job["notice"] = notice
        await self.outbox.put(job)

    async def _post_webhook(self, job: dict[str, Any]) -> None:
        app = await self.tokens.get(job["app_id"])
        if app is None or not app.active or not app.webhook_url:
            await self.notice_outcome(job.get("notice"), "skipped", "the app was revoked")
            return  # revoked meanwhile: nothing to send
        assert self.http is not None
        raw = json.dumps(job["body"], ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": "chat311-webhooks/1",
                   "X-Chat311-Event": str(job["body"].get("event", "")),
                   "X-Chat311-Delivery": str(job["body"].get("delivery_id", "")),
                   "X-Chat311-Timestamp": timestamp,
                   "X-Chat311-Signature": sign(app.webhook_secret, timestamp, raw)}
        try:
            async with self.http.post(app.webhook_url, data=raw, headers=headers) as resp:
                status = resp.status
                retry_after = resp.headers.get("Retry-After", "")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retry(f"webhook unreachable: {type(exc).__name__}") from exc
        if 200 <= status < 300:
            await self.notice_outcome(job.get("notice"), "sent")
            return
        if status in (408, 429) or status >= 500:
            raise Retry(f"webhook answered {status}", float(retry_after) if retry_after.isdigit() else None)
        raise GiveUp(f"webhook answered {status}")

    async def _webhook_failed(self, job: dict[str, Any], reason: str) -> None:
        await self.notice_outcome(job.get("notice"), "failed", reason)
