"""SMS through Twilio: the inbound webhook, the outbound Messages API, keywords and status callbacks.

Inbound: Twilio POSTs the message (form fields From, To, Body, MessageSid, AccountSid, NumMedia,
MediaUrl0...) to `/channels/sms/twilio`, signed with `X-Twilio-Signature` (HMAC-SHA1 of the
public URL plus the sorted form fields, keyed with the auth token; checked with the official
`twilio` library's RequestValidator). We answer at once with empty TwiML and run the resident's
turn in the background, because Twilio gives a webhook 15 s and a bot turn may take 8.

Outbound: every bot/agent/system message becomes one or more SMS bodies (buttons turned into a
numbered list, long text split at sentence ends) put on a durable outbox; the worker POSTs them
to `{api_base}/2010-04-01/Accounts/{sid}/Messages.json` with retries. Twilio reports progress
(queued → sent → delivered / undelivered / failed) to `/channels/sms/twilio/status`, which we
record on the message.

Carrier rules: STOP (and Twilio's other opt-out words) stops every message to that number until
START; HELP gets the program description. These are exact whole-message keywords, as carriers
and Twilio treat them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from twilio.request_validator import RequestValidator

from chat_server import redis_values
from chat_server.app_hooks import run_with_app
from chat_server.channels.media import fetch_twilio_media
from chat_server.channels.resident_channel import STORAGE_FAILURES, ResidentChannel
from chat_server.channels.text_shaping import looks_unfinished, render_options, segment_info, split_message
from chat_server.config import Config
from chat_server.conversations.emergency_first import EmergencyFirst
from chat_server.conversations.limits import RateLimiter
from chat_server.conversations.service import ConversationService, DuplicateInFlight, Incoming
from chat_server.conversations.store import CLOSED, Conversation, Message
from chat_server.language import detect_language
from chat_server.redaction import redact
from chat_server.safety import emergency_language
from chat_server.sanitize import clean_text
from chat_server.stream_outbox import GiveUp, Retry
from chat_server.texts import text

# Twilio gives a webhook 15 s. Redis hung past this, the sender is answered from the TwiML instead of never.
WEBHOOK_BUDGET_S = 8.0
log = logging.getLogger("chat311.channels.sms")

WEBHOOK_PATH = "/channels/sms/twilio"
STATUS_PATH = "/channels/sms/twilio/status"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

# Twilio's default opt-out / opt-in / help keywords, plus Spanish ones (whole message, any case).
OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE", "PARAR", "DETENER"}
OPT_IN = {"START", "UNSTOP", "YES", "INICIAR", "COMENZAR"}
HELP = {"HELP", "INFO", "AYUDA"}
SPANISH_KEYWORDS = {"PARAR", "DETENER", "INICIAR", "COMENZAR", "AYUDA"}

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Twilio error 21610: "Attempt to send to unsubscribed recipient" (the number texted STOP to Twilio).
UNSUBSCRIBED = 21610


def twiml_message(body: str) -> str:
    from xml.sax.saxutils import escape

    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(body)}</Message></Response>'


def keyword_of(body: str) -> str:
    return re.sub(r"[\s.!¡]+", "", body).upper()


def _media_count(params: dict[str, str]) -> int:
    """Media in the text: NumMedia, or the MediaUrlN fields themselves when NumMedia is missing or wrong (a photo
    with MediaUrl0 and no NumMedia was ignored without a word, probe X)."""
    try:
        count = int(params.get("NumMedia") or 0)
    except ValueError:
        count = 0
    listed = next((i for i in range(10) if f"MediaUrl{i}" not in params), 10)
    return max(count, listed)


class SmsChannel(ResidentChannel):
    name = "sms"

    def __init__(self, config: Config, redis: Redis, service: ConversationService, limiter: RateLimiter,
                 emergency_first: EmergencyFirst) -> None:
        super().__init__(config, redis, service, limiter, emergency_first)
        self.validator = RequestValidator(self.cfg.twilio_auth_token)
        self.public_url = config.server.public_url.rstrip("/")
        self.outbox = self.make_outbox("sms", self._send, self._send_failed)
        self.options_ttl_s = self.cfg.sms_options_ttl_s
        self.http: aiohttp.ClientSession | None = None

    # lifecycle -------------------------------------------------------------------------------
    def setup(self, app: web.Application) -> None:
        app.router.add_post(WEBHOOK_PATH, self.inbound)
        app.router.add_post(STATUS_PATH, self.status_callback)
        app.on_shutdown.append(self._drain)
        run_with_app(app, self)

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        await self.outbox.start()

    async def _drain(self, app: web.Application) -> None:
        await self.finish_turns()

    async def stop(self) -> None:
        await self.outbox.stop()
        if self.http:
            await self.http.close()

    # keys ------------------------------------------------------------------------------------
    def _optout_key(self) -> str:
        return f"{self.prefix}sms:optout"

    def _sid_key(self, sid: str) -> str:
        return f"{self.prefix}sms:sid:{sid}"

    async def opted_out(self, phone: str) -> bool:
        return bool(await self.redis.hexists(self._optout_key(), phone))

    # signature -------------------------------------------------------------------------------
    async def _verified_form(self, request: web.Request) -> dict[str, str]:
        """The form fields, if X-Twilio-Signature matches the public URL Twilio called; else 403."""
        try:
            form = await request.post()
        except (UnicodeDecodeError, ValueError) as exc:  # Twilio sends UTF-8; anything else is not Twilio
            raise web.HTTPBadRequest(text="the form body must be UTF-8 (application/x-www-form-urlencoded)") from exc
        params = {k: v for k, v in form.items() if isinstance(v, str)}
        signature = request.headers.get("X-Twilio-Signature", "")
        url = f"{self.public_url}{request.path_qs}"
        if not signature or not self.validator.validate(url, params, signature):
            log.warning("rejected unsigned or forged Twilio request", extra={"path": request.path})
            raise web.HTTPForbidden(text="invalid signature")
        if params.get("AccountSid") != self.cfg.twilio_account_sid:
            raise web.HTTPForbidden(text="unknown account")
        return params

    # inbound ---------------------------------------------------------------------------------
    async def inbound(self, request: web.Request) -> web.Response:
        params = await self._verified_form(request)
        phone = params.get("From", "").strip()
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        if not _E164.match(phone) or not sid:
            return web.Response(status=400, text="From (E.164) and MessageSid are required")
        try:
            async with asyncio.timeout(WEBHOOK_BUDGET_S):
                return await self._inbound(params, phone, sid)
        except STORAGE_FAILURES:
            # Redis down or hung: Twilio does not send the text again, so its sender is told here, in the TwiML,
            # which needs no storage: "call 911" for an emergency, else to send it again (probe X)
            log.exception("sms inbound failed", extra={"phone": redact(phone)})
            return self._twiml(twiml_message(self._untaken_reply(phone, clean_text(params.get("Body", "")))))

    def _untaken_reply(self, phone: str, body: str) -> str:
        """What a text that could not be taken is answered, stored nowhere."""
        emergency = self.emergency_first.reply_for(body, None, f"{self.name}|{phone}")
        return emergency or text("message_not_taken", detect_language(body)[0] if body else "en")

    async def _inbound(self, params: dict[str, str], phone: str, sid: str) -> web.Response:
        # Twilio re-sends on a webhook timeout: the same MessageSid is handled once.
        if not await self.first_arrival(f"{self.prefix}sms:in:{sid}", 2 * 86400):
            return self._twiml(EMPTY_TWIML)
        full_body = clean_text(params.get("Body", ""))
        body = full_body[: self.config.limits.max_message_chars]
        keyword = keyword_of(body)
        if keyword in OPT_OUT:
            return await self._opt_out(phone, keyword)
        if keyword in HELP:
            return self._keyword_reply("sms_help", await self._keyword_language(phone, keyword))
        if await self.opted_out(phone):
            if keyword in OPT_IN:
                await self.redis.hdel(self._optout_key(), phone)
                log.info("sms opt-in", extra={"phone": redact(phone)})
                return self._keyword_reply("sms_started", await self._keyword_language(phone, keyword))
            if (language := emergency_language(body)) is not None:
                # Nothing may be texted to a number that opted out (the carrier refuses it; the opt-out reply said
                # "call 911"): staff are alerted, with the number to call back (probe AG), within its rate limit.
                log.warning("emergency from an opted-out number: carrier rules allow no reply; staff alerted",
                            extra={"phone": redact(phone), "text": redact(body)})
                if await self.resident_within_limit(phone):
                    await self.service.unreachable_emergency(await self.session_for(phone), self.name, body,
                                                             language if language in ("en", "es") else "en",
                                                             "opted_out", phone)
            else:
                log.info("ignored message from opted-out number", extra={"phone": redact(phone)})
            return self._twiml(EMPTY_TWIML)
        if keyword in {"START", "UNSTOP"}:
            return self._keyword_reply("sms_started", await self._keyword_language(phone, keyword))
        attachment = self._attachment(params)
        # A video or other file: kept nowhere, so the resident is told, or a video alone got no answer at all.
        unsupported = attachment is None and _media_count(params) > 0
        if not body and not attachment:
            if unsupported and not await self.opted_out(phone):
                return await self._tell(phone, "sms_media_unsupported")
            return self._twiml(EMPTY_TWIML)
        if not await self.resident_within_limit(phone):
            log.info("sms rate limited", extra={"phone": redact(phone)})
            if await self.emergency_first.answer_unseen(await self.session_for(phone), self.name, body) is None \
                    and await self.first_refusal(phone):
                return await self._tell(phone, "rate_limited")
            return self._twiml(EMPTY_TWIML)
        if attachment is None and not unsupported:
            joined = await self._joined_with_the_rest(phone, sid, full_body)
            if joined is None:
                return self._twiml(EMPTY_TWIML)  # taken by the text that completed it
            full_body = joined
            body = full_body[: self.config.limits.max_message_chars]
        session = await self.session_for(phone)
        await self.emergency_first.before_truncation(session, self.name, full_body,
                                                     self.config.limits.max_message_chars)
        body = await self.map_option(session, body)
        lost = False
        if attachment is not None:
            # Only a copy we fetched and checked goes on: Twilio's URL carries the account SID, needs our
            # credentials, and its bytes were never looked at, yet it became a ticket's public photo link.
            local = await fetch_twilio_media(self.config, self.http, attachment["url"]) if self.http else None
            attachment, lost = ({"type": "image", "url": local}, False) if local else (None, True)
        if lost and not body:
            return await self._tell(phone, "sms_photo_not_received")
        incoming = Incoming(body or "(photo)", None, client_msg_id=sid, attachment=attachment,
                            extra_metadata={"contact": phone})  # offered by the report form
        self.run_turn_later(self._turn(session, incoming, phone))
        if unsupported or lost:
            return await self._tell(phone, "sms_media_unsupported" if unsupported else "sms_photo_not_received")
        if len(full_body) > len(body):  # the end of a long text was lost without a word (e-mail says so too)
            return await self._tell(phone, "sms_cut", limit=f"{self.config.limits.max_message_chars:,}")
        return self._twiml(EMPTY_TWIML)

    async def _joined_with_the_rest(self, phone: str, sid: str, body: str) -> str | None:
        """A text sent in two parts, by the phone or the carrier, or before it was finished ("… on Queens Rd near
        the" and "corner with Providence Rd, …"), is one message: the first half was taken as the report's
        location and the second as its description (probe AG). A text that reads unfinished waits
        `sms_join_wait_s` (while Twilio waits for the webhook's answer) for the next one from the number, in any
        process, which then carries both; None when that happened. Not an emergency: it is answered at once."""
        held = await self.redis.getdel(self._held_key(phone))
        start = await self.redis.getdel(self._held_body_key(redis_values.text(held))) if held else None
        if start is not None:
            body = f"{redis_values.text(start)} {body}"
        wait_s = self.cfg.sms_join_wait_s
        if wait_s <= 0 or not looks_unfinished(body) or await self.service.describes_emergency(body):
            return body
        ttl_ms = int((wait_s + WEBHOOK_BUDGET_S) * 1000)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self._held_body_key(sid), body, px=ttl_ms)
        pipe.set(self._held_key(phone), sid, px=ttl_ms)
        await pipe.execute()
        await asyncio.sleep(wait_s)
        return body if await self.redis.delete(self._held_body_key(sid)) else None

    def _held_key(self, phone: str) -> str:
        return f"{self.prefix}sms:held:{phone}"

    def _held_body_key(self, sid: str) -> str:
        return f"{self.prefix}sms:held_body:{sid}"

    async def _turn(self, session: str, incoming: Incoming, phone: str) -> None:
        try:
            await self.service.handle_resident_message(session, self.name, incoming)
        except DuplicateInFlight:
            pass
        except STORAGE_FAILURES:
            # after "200 OK": Twilio will not send it again, so the sender hears of it straight from Twilio's API
            log.exception("sms turn failed", extra={"session": session[:6]})
            await self._send_unstored(phone, self._untaken_reply(phone, incoming.text))
        except Exception:
            log.exception("sms turn failed", extra={"session": session[:6]})

    def _attachment(self, params: dict[str, str]) -> dict[str, Any] | None:
        for i in range(min(_media_count(params), 10)):
            url = params.get(f"MediaUrl{i}", "")
            kind = params.get(f"MediaContentType{i}", "")
            if url.startswith(("https://", "http://")) and (kind.startswith("image/") or not kind):
                return {"type": "image", "url": url[:500]}
        return None

    async def _keyword_language(self, phone: str, keyword: str) -> str:
        if keyword in SPANISH_KEYWORDS:
            return "es"
        token = await self.redis.get(self._identity_key(phone))
        conv = await self.store.current_conversation(redis_values.text(token)) if token else None
        return conv.language if conv else "en"

    async def _opt_out(self, phone: str, keyword: str) -> web.Response:
        await self.redis.hset(self._optout_key(), phone, f"{time.time():.3f}")
        log.info("sms opt-out", extra={"phone": redact(phone)})
        language = await self._keyword_language(phone, keyword)
        token = await self.redis.get(self._identity_key(phone))
        conv = await self.store.current_conversation(redis_values.text(token)) if token else None
        if conv is not None and conv.state != CLOSED:
            await self.service.close(conv, "opted_out")
        return self._keyword_reply("sms_stopped", language)

    async def _tell(self, phone: str, key: str, **fmt: str) -> web.Response:
        """A TwiML answer about the text itself (not a keyword's, which `sms_keyword_replies` may leave to Twilio),
        in the resident's language."""
        return self._twiml(twiml_message(text(key, await self._keyword_language(phone, ""), **fmt)))

    def _keyword_reply(self, key: str, language: str) -> web.Response:
        if not self.cfg.sms_keyword_replies:
            return self._twiml(EMPTY_TWIML)
        return self._twiml(twiml_message(text(key, language)))

    @staticmethod
    def _twiml(body: str) -> web.Response:
        return web.Response(text=body, content_type="text/xml")

    # outbound --------------------------------------------------------------------------------
    async def deliver(self, conv: Conversation, message: Message) -> None:
        if message.sender == "resident" or self.told_by_event(message):
            return
        notice = message.extra.get("notice")
        phone = await self.address_of(conv.session)
        if not phone:
            await self.notice_outcome(notice, "skipped", "no phone number")
            return
        quick = await self.remember_options(conv, message)
        body = render_options(message.text or "", quick, message.language or conv.language)
        media = None
        attachment = message.extra.get("attachment")
        if isinstance(attachment, dict) and str(attachment.get("url", "")).startswith("/media/"):
            media = f"{self.public_url}{attachment['url']}"
        elif isinstance(attachment, dict) and str(attachment.get("url", "")).startswith(("https://", "http://")):
            media = str(attachment["url"])
        await self.queue_text(conv.id, message.id, phone, body, media, notice)

    async def notify(self, conv: Conversation, event: str, data: dict[str, Any]) -> None:
        body = await self.event_as_text(conv, event, data)
        if not body:
            return
        phone = await self.address_of(conv.session)
        if phone:
            await self.queue_text(conv.id, f"event:{event}", phone, body)

    async def queue_text(self, conversation_id: str, message_id: str, phone: str, body: str,
                         media_url: str | None = None, notice: dict[str, Any] | None = None) -> None:
        """Put a message's texts on the outbox. A `notice` tag rides on every part; its outcome is
        reported once: sent when Twilio took the last part, failed when the outbox gave up on any."""
        if not body.strip() and not media_url:
            await self.notice_outcome(notice, "skipped", "empty message")
            return
        if await self.opted_out(phone):
            await self.record_delivery(conversation_id, message_id, "canceled", error="opted out")
            await self.notice_outcome(notice, "skipped", "opted out")
            return
        parts = split_message(body, self.cfg.sms_max_chars) or [""]
        for index, part in enumerate(parts):
            info = segment_info(part)
            job = {"key": phone, "to": phone, "body": part, "conv": conversation_id, "msg": message_id,
                   "part": index, "parts": len(parts), "segments": info.segments, "encoding": info.encoding}
            if media_url and index == 0:
                job["media_url"] = media_url
            if notice:
                job["notice"] = notice
            await self.record_delivery(conversation_id, message_id, "accepted", f"part{index}",
                                       segments=info.segments, encoding=info.encoding)
            await self.outbox.put(job)

    async def _send(self, job: dict[str, Any]) -> None:
        """One POST to Twilio's Messages API; raises Retry/GiveUp for the outbox."""
        if await self.opted_out(job["to"]):
            await self.record_delivery(job["conv"], job["msg"], "canceled", error="opted out")
            await self.notice_outcome(job.get("notice"), "skipped", "opted out")
            return
        try:
            status, payload, retry_after = await self._post_message(job["to"], job["body"], job.get("media_url"))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise Retry(f"twilio unreachable: {type(exc).__name__}: {exc}") from exc
        if status in (200, 201) and isinstance(payload, dict) and payload.get("sid"):
            message_sid = str(payload["sid"])
            ref: dict[str, str] = {"conv": str(job["conv"]), "msg": str(job["msg"])}
            if job.get("notice"):  # a later "undelivered" callback must reach the notice's counter too
                ref["notice"] = json.dumps(job["notice"])
            await self.redis.hset(self._sid_key(message_sid), mapping=redis_values.fields(ref))
            await self.redis.expire(self._sid_key(message_sid), 30 * 86400)
            await self.record_delivery(job["conv"], job["msg"], str(payload.get("status") or "queued"), message_sid,
                                       replaces=f"part{job.get('part', 0)}", segments=job.get("segments"),
                                       encoding=job.get("encoding"))
            if int(job.get("part", 0)) >= int(job.get("parts", 1)) - 1:
                await self.notice_outcome(job.get("notice"), "sent")
            return
        code = payload.get("code") if isinstance(payload, dict) else None
        detail = f"HTTP {status} code {code}: {(payload or {}).get('message', '') if isinstance(payload, dict) else ''}"
        if status == 429 or status >= 500:
            after = float(retry_after) if retry_after and retry_after.isdigit() else None
            raise Retry(detail, after)
        if code == UNSUBSCRIBED:
            await self.redis.hset(self._optout_key(), job["to"], f"{time.time():.3f}")
        raise GiveUp(detail)

    async def _post_message(self, to: str, body: str, media_url: str | None = None) -> tuple[int, Any, str | None]:
        """One POST to Twilio's Messages API: (status, JSON reply, Retry-After)."""
        assert self.http is not None
        sid = self.cfg.twilio_account_sid
        url = f"{self.cfg.twilio_api_base.rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"
        form = {"To": to, "Body": body, "StatusCallback": f"{self.public_url}{STATUS_PATH}"}
        if self.cfg.twilio_messaging_service_sid:
            form["MessagingServiceSid"] = self.cfg.twilio_messaging_service_sid
        else:
            form["From"] = self.cfg.twilio_from_number
        if media_url:
            form["MediaUrl"] = media_url
        async with self.http.post(url, data=form, auth=aiohttp.BasicAuth(sid, self.cfg.twilio_auth_token)) as resp:
            return resp.status, await resp.json(content_type=None), resp.headers.get("Retry-After")

    async def _send_unstored(self, phone: str, body: str) -> None:
        """A text sent at once, outside the outbox (which is in Redis): for when storage has failed."""
        try:
            status, _, _ = await self._post_message(phone, body)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            log.exception("unstored sms failed", extra={"phone": redact(phone)})
            return
        if status not in (200, 201):
            log.warning("unstored sms refused", extra={"phone": redact(phone), "status": status})

    async def _send_failed(self, job: dict[str, Any], reason: str) -> None:
        await self.record_delivery(job["conv"], job["msg"], "failed", f"part{job.get('part', 0)}", reason)
        await self.notice_outcome(job.get("notice"), "failed", reason)

    # status callbacks ------------------------------------------------------------------------
    async def status_callback(self, request: web.Request) -> web.Response:
        params = await self._verified_form(request)
        message_sid = params.get("MessageSid") or params.get("SmsSid") or ""
        status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
        ref = await self.redis.hgetall(self._sid_key(message_sid)) if message_sid else {}
        if not ref or status not in {"queued", "sending", "sent", "delivered", "undelivered", "failed", "read",
                                     "accepted", "scheduled", "canceled"}:
            return web.Response(status=204)
        conv_id, msg_id = redis_values.text(ref[b"conv"]), redis_values.text(ref[b"msg"])
        error = params.get("ErrorCode") or ""
        await self.record_delivery(conv_id, msg_id, status, message_sid, f"Twilio error {error}" if error else "")
        if status in ("undelivered", "failed") and ref.get(b"notice"):
            await self.notice_outcome(json.loads(ref[b"notice"]), "undelivered",
                                      f"Twilio {status}" + (f", error {error}" if error else ""))
        if error == str(UNSUBSCRIBED):
            to = params.get("To", "")
            if _E164.match(to):
                await self.redis.hset(self._optout_key(), to, f"{time.time():.3f}")
        return web.Response(status=204)
