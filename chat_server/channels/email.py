"""E-mail: an SMTP listener for residents' mail, SMTP (aiosmtplib) for replies, threaded.

Inbound: an aiosmtpd server (normally behind the city's MTA, which does SPF/DKIM/DMARC and
spam filtering) accepts mail for `email_address`. The sender's address maps to a resident
session; the reply text is cut from the quoted history (`split_reply`) and goes through the
conversation core like any chat message. Auto-replies and bounces are dropped (RFC 3834), so
two robots never talk to each other forever.

Outbound: the bot's replies to one e-mail are sent as one e-mail; agent messages go out as
they are written. Every outgoing mail carries threading headers so the resident's client
keeps one thread and their reply lands in the same conversation:
- Message-ID `<conv-<conversation id>.<random>@<our domain>>`,
- In-Reply-To: the resident's latest Message-ID (else the conversation reference),
- References: the conversation reference `<conv-<id>@<our domain>>` + the resident's ids,
- Subject: "Re: <their subject>".
An incoming reply naming one of our ids (In-Reply-To / References) continues that
conversation if it belongs to the sender.

A resident who writes just "transcript" (or "transcripción") gets the whole conversation
mailed back; the API channel offers the same as `POST .../transcript`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.policy
import json
import logging
import re
import secrets
import weakref
import zoneinfo
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formataddr, formatdate, parseaddr
from typing import Any

import aiosmtplib
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session
from redis.asyncio import Redis

from chat_server import redis_values
from chat_server.app_hooks import run_with_app
from chat_server.channels.media import store_image
from chat_server.channels.resident_channel import STORAGE_FAILURES, ResidentChannel
from chat_server.channels.text_shaping import html_to_text, render_options, split_reply
from chat_server.config import Config
from chat_server.conversations.emergency_first import EmergencyFirst, scanned
from chat_server.conversations.limits import RateLimiter
from chat_server.conversations.service import PHOTO_ONLY, ConversationService, DuplicateInFlight, Incoming
from chat_server.conversations.store import CLOSED, Conversation, Message
from chat_server.language import detect_language
from chat_server.redaction import redact
from chat_server.safety import emergency_language
from chat_server.sanitize import clean_text
from chat_server.stopping import cancel_and_wait
from chat_server.stream_outbox import GiveUp, Retry
from chat_server.texts import text

REFUSED_KEPT = 10_000  # mails refused for a storage failure whose retry is remembered
UNMARK_EVERY_S, UNMARK_TRIES = 5.0, 120  # a refused mail's seen mark is taken back within ten minutes
log = logging.getLogger("chat311.channels.email")

TRANSCRIPT_WORDS = {"transcript", "transcripcion", "transcripción"}
_CONV_REF = re.compile(r"<conv-([0-9a-f]{32})[.@]")
_ADDRESS = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")
_ROBOT_LOCALPARTS = ("mailer-daemon", "postmaster", "no-reply", "noreply", "do-not-reply", "donotreply")
# Out-of-office replies that carry no RFC 3834 header, by their subject ("Respuesta automática: Re: basura" was
# answered "Perdón, no entendí").
# A message id as RFC 5322 writes it. Ids and subjects are the resident's to write, and an encoded word can hide a
# line break in either: kept whole, it made every reply unbuildable, the 911 answer included (probe U).
_MSG_ID = re.compile(r"<[!-;=?-~]{1,250}>")


def one_line(value: str) -> str:
    """A header value with every run of white space (line breaks too) as one space."""
    return " ".join(value.split())


def message_ids(value: str) -> list[str]:
    """The well-formed message ids in a header value; anything else in it is dropped."""
    return _MSG_ID.findall(value)


_AUTO_SUBJECT = re.compile(r"^\s*(auto(matic)?[ -]?(reply|response|respuesta)|out of (the )?office|"
                           r"respuesta autom[aá]tica|fuera de (la )?oficina)\b", re.IGNORECASE)


def _adds_to(subject: str, body: str) -> bool:
    """Whether a mail's subject says something its body does not (not a reply's "Re: …", not the body's start)."""
    folded = subject.casefold().strip(" .!?:")
    return bool(folded) and not re.match(r"^(re|aw|rv|fwd?)\s*:", folded) and folded not in body.casefold() \
        and body != PHOTO_ONLY


class EmailChannel(ResidentChannel):
    name = "email"

    def __init__(self, config: Config, redis: Redis, service: ConversationService, limiter: RateLimiter,
                 emergency_first: EmergencyFirst) -> None:
        super().__init__(config, redis, service, limiter, emergency_first)
        self.address = self.cfg.email_address.lower()
        self.domain = self.address.rsplit("@", 1)[1]
        self.outbox = self.make_outbox("email", self._send, self._send_failed)
        self.tz = zoneinfo.ZoneInfo(config.hours.timezone)
        self._server: asyncio.AbstractServer | None = None
        self._turns: dict[str, list[str]] = {}  # conversation id -> texts collected during an inbound turn
        # One inbound e-mail at a time per sender, so two mails cannot share one turn's reply buffer.
        self._sender_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._refused: dict[str, str] = {}  # Message-ID -> seen-mark token of a delivery refused with 451
        self._unmarking: set[asyncio.Task[None]] = set()

    # lifecycle -------------------------------------------------------------------------------
    def setup(self, app: web.Application) -> None:
        app.on_shutdown.append(self._drain)
        run_with_app(app, self)

    async def start(self) -> None:
        await self.outbox.start()
        if self.cfg.smtp_listen:
            loop = asyncio.get_running_loop()
            handler = _InboundHandler(self)
            self._server = await loop.create_server(
                lambda: SMTP(handler, data_size_limit=self.cfg.email_max_bytes, enable_SMTPUTF8=True,
                             hostname=self.domain, ident="chat311"),
                host=self.cfg.smtp_listen_host, port=self.cfg.smtp_listen_port, reuse_port=True,
            )
            log.info("smtp listener started", extra={"host": self.cfg.smtp_listen_host,
                                                     "port": self.cfg.smtp_listen_port})

    async def _drain(self, app: web.Application) -> None:
        """On shutdown (before any cleanup closes Redis): stop listening, let running turns finish."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()
        await self.finish_turns()
        await cancel_and_wait(self._unmarking)

    async def stop(self) -> None:
        await self.outbox.stop()

    def conv_ref(self, conversation_id: str) -> str:
        return f"<conv-{conversation_id}@{self.domain}>"

    # inbound ---------------------------------------------------------------------------------
    def accepts_recipient(self, address: str) -> bool:
        return address.lower() == self.address

    async def receive(self, raw: bytes, envelope_from: str) -> str:
        """Handle one accepted e-mail; returns the SMTP reply (250 unless we refuse it)."""
        msg = BytesParser(policy=email.policy.default).parsebytes(raw)
        sender = parseaddr(str(msg.get("From", "")))[1].lower() or envelope_from.lower()
        if not _ADDRESS.match(sender):
            return "550 5.1.7 sender address is not valid"
        if self._is_robot(msg, sender):
            log.info("dropped automatic e-mail", extra={"sender": redact(sender)})
            return "250 OK (automatic message ignored)"
        message_id = next(iter(message_ids(str(msg.get("Message-ID", "")))), "")
        seen = f"{self.prefix}email:in:{message_id}"
        token = self._refused.pop(message_id, None) or secrets.token_hex(8)
        try:
            if message_id and not await self.first_arrival(seen, 7 * 86400, token):
                return "250 OK (duplicate)"
            return await self._receive(msg, sender, message_id)
        except STORAGE_FAILURES:
            # Answered 451, so the sending server tries again later: that try must not read as a duplicate, and
            # the mark may land after this refusal (probe Z), so the retry carries this delivery's token.
            if message_id:
                if len(self._refused) >= REFUSED_KEPT:
                    self._refused.pop(next(iter(self._refused)))
                self._refused[message_id] = token
                # with several workers the resend may reach another one, which does not know the token: the
                # mark is also taken back once Redis answers again
                unmark = asyncio.create_task(self._unmark_later(seen, token))
                self._unmarking.add(unmark)
                unmark.add_done_callback(self._unmarking.discard)
            # An emergency does not wait for that retry: its 911 answer goes by SMTP at once (probe Z).
            await self._answer_unstored(sender, one_line(str(msg.get("Subject", "")))[:200],
                                        "\n".join(self._body_text(msg)), or_not_taken=False)
            raise

    async def _unmark_later(self, key: str, token: str) -> None:
        """Remove a refused delivery's seen mark (if it is still that delivery's) when Redis answers again."""
        for _ in range(UNMARK_TRIES):
            await asyncio.sleep(UNMARK_EVERY_S)
            with contextlib.suppress(*STORAGE_FAILURES):
                if redis_values.text(await self.redis.get(key) or b"") == token:
                    await self.redis.delete(key)
                return

    async def _receive(self, msg: EmailMessage, sender: str, message_id: str) -> str:
        body, signed = self._body_text(msg)
        photo, unreadable = await self._photo(msg)
        subject = one_line(clean_text(str(msg.get("Subject", ""))))[:200]
        if not body and subject and not re.match(r"^(re|aw|rv|fwd?)\s*:", subject, re.IGNORECASE):
            body = subject
        full_body, body = body, body[: self.config.limits.max_message_chars]
        if not body and (photo or unreadable):
            body = PHOTO_ONLY
        if not body:
            # no subject, no text: the sender is told, or it vanished without a word (probe X); once a window,
            # under the sender's message limit like any answer
            if await self.resident_within_limit(sender):
                await self.queue_notice(sender, text("email_subject", "en"), text("email_empty", "en") + "\n\n"
                                        + text("email_empty", "es"), "empty")
            return "250 OK (empty message)"
        if not await self.resident_within_limit(sender):
            said, session = f"{subject}\n{body}\n{signed}", await self.session_for(sender)
            if emergency_language(scanned(said)) is not None:
                # answered in the thread of this mail: it came inside the reply to an earlier, unrelated one (probe AG)
                conv = await self.service.open_conversation(session, self.name, None)
                own = self._referenced_conversation(msg) is None or not conv.get("email_subject")
                await self._remember_thread(conv, subject if own else "", message_id)
            await self.emergency_first.answer_unseen(session, self.name, said)
            return "451 4.7.1 too many messages; try again later"
        session = await self.session_for(sender)
        referenced = self._referenced_conversation(msg)
        self.run_turn_later(self._turn(session, sender, body, subject, message_id, referenced, photo, full_body,
                                       signed, unreadable))
        return "250 OK"

    def _is_robot(self, msg: EmailMessage, sender: str) -> bool:
        auto = str(msg.get("Auto-Submitted", "no")).strip().lower()
        precedence = str(msg.get("Precedence", "")).strip().lower()
        local = sender.split("@", 1)[0]
        return (auto not in ("", "no") or precedence in ("bulk", "junk", "list", "auto_reply")
                or local in _ROBOT_LOCALPARTS or sender == self.address
                or bool(msg.get("X-Autoreply")) or bool(msg.get("X-Autorespond"))
                or str(msg.get_content_type()) == "multipart/report"
                or bool(_AUTO_SUBJECT.match(str(msg.get("Subject", "")))))

    @staticmethod
    def _body_text(msg: EmailMessage) -> tuple[str, str]:
        """The mail's new words, and what was cut from them as its signature (`split_reply`)."""
        part = msg.get_body(preferencelist=("plain", "html"))
        if part is None:
            return "", ""
        try:
            content = part.get_content()
        except (LookupError, UnicodeDecodeError, AssertionError):
            payload = part.get_payload(decode=True) or b""
            content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)
        if part.get_content_type() == "text/html":
            content = html_to_text(str(content))
        body, signed = split_reply(str(content))
        return clean_text(body), clean_text(signed)

    async def _photo(self, msg: EmailMessage) -> tuple[str | None, str]:
        """The first image attachment (JPEG/PNG/WebP by its bytes), stored under /media/, and the names of the
        attachments that could not be taken when none could (an iPhone's HEIC photo, a PDF): they were dropped
        without a word, and the report then asked "Do you have a photo?" (probe AG)."""
        skipped: list[str] = []
        for part in msg.iter_attachments():
            data = part.get_payload(decode=True) if part.get_content_maintype() == "image" else None
            if isinstance(data, bytes) and (url := await store_image(self.config, data)):
                return url, ""
            skipped.append(one_line(clean_text(part.get_filename() or part.get_content_type()))[:80])
        return None, ", ".join(skipped[:3])

    @staticmethod
    def _referenced_conversation(msg: EmailMessage) -> str | None:
        refs = f"{msg.get('In-Reply-To', '')} {msg.get('References', '')}"
        found = _CONV_REF.findall(refs)
        return found[-1] if found else None

    async def _turn(self, session: str, sender: str, body: str, subject: str, message_id: str,
                    referenced: str | None, photo: str | None, full_body: str, signed: str, unreadable: str) -> None:
        lock = self._sender_locks.get(session)
        if lock is None:
            lock = self._sender_locks[session] = asyncio.Lock()
        async with lock:
            await self._locked_turn(session, sender, body, subject, message_id, referenced, photo, full_body,
                                    signed, unreadable)

    async def _locked_turn(self, session: str, sender: str, body: str, subject: str, message_id: str,
                           referenced: str | None, photo: str | None, full_body: str, signed: str,
                           unreadable: str = "") -> None:
        try:
            conv = await self.store.current_conversation(session)
            if referenced and conv is not None and referenced != conv.id:
                # A reply to an older thread: fine, it still continues the session's conversation;
                # only a closed conversation starts anew (handle_resident_message does that).
                log.info("reply to an earlier conversation", extra={"conv": referenced})
            if body.strip().lower().rstrip(".!") in TRANSCRIPT_WORDS and conv is not None:
                await self._remember_thread(conv, subject, message_id)
                await self.send_transcript(conv, sender)
                return
            body = await self.map_option(session, body)
            is_new = conv is None or conv.state == CLOSED
            conv = await self.service.open_conversation(session, self.name, None)
            # A reply keeps the thread's subject; a new mail (no reference to the conversation) has a subject of its
            # own, and the answer goes under it ("Dog barking all night" was answered as "Re: quick question").
            own_subject = is_new or referenced is None or not conv.get("email_subject")
            await self._remember_thread(conv, subject if own_subject else "", message_id)
            self._turns[conv.id] = []
            limit = self.config.limits.max_message_chars
            # A new conversation's subject is part of what the resident said: the agent saw only "please send
            # someone to 5th and Tryon" under "URGENT: man lying in the street not moving" (probe AG).
            said = f"{subject}\n{body}" if is_new and _adds_to(subject, body) else body
            try:
                # What the guard will not see is answered first, in this reply of the resident's thread: "House on
                # fire" as the subject over "please send someone", or a fire told past the cut of a long mail (that
                # one was a mail of its own, outside the thread, and the threaded reply asked about streetlights).
                unseen = [await self.emergency_first.answer_unseen(session, self.name, subject)
                          if subject and subject != body and said == body else None,
                          await self.emergency_first.before_truncation(session, self.name, full_body, limit),
                          # "-- / Maria / PS my dad is not breathing": cut as a signature, still hers (probe AC)
                          await self.emergency_first.answer_unseen(session, self.name, signed) if signed else None]
                attachment = {"type": "image", "url": photo} if photo else None
                try:
                    # the address this mail came from: the report form offers it instead of asking for one
                    incoming = Incoming(said, attachment=attachment, extra_metadata={"contact": sender})
                    await self.service.handle_resident_message(session, self.name, incoming)
                except DuplicateInFlight:
                    raise
                except Exception:  # the 911 answer above still goes out
                    log.exception("e-mail turn failed", extra={"sender": redact(sender)})
            finally:
                collected = self._turns.pop(conv.id, [])
            cut = len(full_body) > len(body)
            if not (collected or cut or unreadable):
                return
            fresh = await self.store.get(conv.id) or conv
            answered = sum(m is not None for m in unseen)
            if cut:  # the resident is told, or the end of a long story is lost without a word
                collected.insert(answered, text("email_cut", fresh.language, limit=f"{limit:,}"))
            if unreadable:
                collected.insert(answered, text("email_attachment_unreadable", fresh.language, files=unreadable))
            await self._queue_mail(fresh, sender, "\n\n".join(collected))
        except DuplicateInFlight:
            pass
        except STORAGE_FAILURES:
            # after "250 OK": the sending server will not try again, so the sender is answered outside the outbox
            log.exception("e-mail turn failed", extra={"sender": redact(sender)})
            await self._answer_unstored(sender, subject, f"{full_body}\n{signed}", or_not_taken=True)
        except Exception:
            log.exception("e-mail turn failed", extra={"sender": redact(sender)})

    async def _answer_unstored(self, to: str, subject: str, body: str, or_not_taken: bool) -> None:
        """When storage has failed: the 911 answer for an emergency, else (`or_not_taken`) word that the mail was
        not taken, sent at once outside the outbox (which is in Redis)."""
        said = f"{subject}\n{body}"
        reply = self.emergency_first.reply_for(said, None, f"{self.name}|{to}")
        if reply is None and not or_not_taken:
            return
        language = detect_language(body or subject)[0] if (body or subject) else "en"
        job = {"to": to, "subject": f"Re: {subject}" if subject else text("email_subject", language),
               "body": reply or text("message_not_taken", language),
               "message_id": f"<unstored.{secrets.token_hex(8)}@{self.domain}>", "conv": ""}
        try:
            await self._relay(self.build(job))
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            log.exception("unstored e-mail failed", extra={"to": redact(to)})

    async def _remember_thread(self, conv: Conversation, subject: str, message_id: str) -> None:
        fields: dict[str, str] = {}
        if subject:
            fields["email_subject"] = re.sub(r"^((re|aw|rv|fwd?)\s*:\s*)+", "", subject, flags=re.IGNORECASE)[:200]
        if message_id:
            refs = json.loads(conv.get("email_refs") or "[]")
            refs = [*refs, message_id][-10:]
            fields["email_refs"] = json.dumps(refs)
            fields["email_last_id"] = message_id
        if fields:
            await self.store.update(conv.id, **fields)
            conv.fields.update(fields)

    # outbound --------------------------------------------------------------------------------
    def _message_text(self, message: Message, quick: list[dict[str, Any]] | None, language: str) -> str:
        body = render_options(message.text or "", quick, language)
        if message.sender == "agent" and message.extra.get("agent_name"):
            body = f"{body}\n\n— {message.extra['agent_name']}, City 311"
        return body

    async def deliver(self, conv: Conversation, message: Message) -> None:
        if message.sender == "resident" or self.told_by_event(message):
            return
        notice = message.extra.get("notice")
        quick = await self.remember_options(conv, message)
        body = self._message_text(message, quick, message.language or conv.language)
        if not body.strip():
            await self.notice_outcome(notice, "skipped", "empty message")
            return
        if conv.id in self._turns and not notice:  # a notice is its own mail, counted on its own
            self._turns[conv.id].append(body)
            return
        address = await self.address_of(conv.session)
        if address:
            await self._queue_mail(conv, address, body, message.id, notice=notice)
        else:
            await self.notice_outcome(notice, "skipped", "no e-mail address")

    async def notify(self, conv: Conversation, event: str, data: dict[str, Any]) -> None:
        body = await self.event_as_text(conv, event, data)
        if not body:
            return
        if conv.id in self._turns:
            self._turns[conv.id].append(body)
            return
        address = await self.address_of(conv.session)
        if address:
            await self._queue_mail(conv, address, body, f"event:{event}")

    async def _queue_mail(self, conv: Conversation, to: str, body: str, message_id: str = "",
                          subject: str = "", notice: dict[str, Any] | None = None) -> None:
        fresh = await self.store.get(conv.id) or conv
        original = fresh.get("email_subject")
        subject = subject or (f"Re: {original}" if original else text("email_subject", fresh.language))
        refs = json.loads(fresh.get("email_refs") or "[]")
        job: dict[str, Any] = {
            "key": conv.id, "conv": conv.id, "msg": message_id or "turn", "to": to, "subject": subject,
            "body": body, "message_id": f"<conv-{conv.id}.{secrets.token_hex(8)}@{self.domain}>",
            "in_reply_to": fresh.get("email_last_id") or self.conv_ref(conv.id),
            "references": " ".join([self.conv_ref(conv.id), *refs])[:1900],
        }
        if notice:
            job["notice"] = notice
        await self.outbox.put(job)
        await self.record_delivery(conv.id, job["msg"], "queued", job["message_id"])

    async def queue_notice(self, to: str, subject: str, body: str, ref: str, unsubscribe: str = "",
                           notice: dict[str, Any] | None = None) -> None:
        """A message outside any conversation (ticket status updates, follow confirmations): durable and
        retried like every e-mail; `unsubscribe` becomes the List-Unsubscribe link; the outcome of a
        `notice` tag goes to the notice hooks when the relay took the mail or the outbox gave up."""
        job: dict[str, Any] = {
            "key": to, "conv": "", "msg": "", "to": to, "subject": subject, "body": body,
            "message_id": f"<{ref}.{secrets.token_hex(8)}@{self.domain}>", "unsubscribe": unsubscribe,
            "auto": "auto-generated"}
        if notice:
            job["notice"] = notice
        await self.outbox.put(job)

    def build(self, job: dict[str, Any]) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = formataddr((self.cfg.email_display_name, self.address))
        msg["To"] = job["to"]
        msg["Reply-To"] = self.address
        msg["Subject"] = one_line(job["subject"])
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = job["message_id"]
        # ids and subjects stored before they were checked on the way in must not stop a reply either
        if in_reply_to := " ".join(message_ids(job.get("in_reply_to") or "")):
            msg["In-Reply-To"] = in_reply_to
        if references := " ".join(message_ids(job.get("references") or "")):
            msg["References"] = references
        if job["conv"]:
            msg["X-Chat311-Conversation"] = job["conv"]
        if job.get("unsubscribe"):
            msg["List-Unsubscribe"] = f"<{job['unsubscribe']}>"
            # RFC 8058: mail clients stop it with one POST of this body to the link (status page's unfollow takes it)
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["Auto-Submitted"] = job.get("auto", "auto-replied")  # RFC 3834: vacation responders must not answer
        msg.set_content(job["body"])
        return msg

    async def _relay(self, msg: EmailMessage) -> None:
        """Hand one message to the city's SMTP relay (the outbox's sends and the unstored replies)."""
        await aiosmtplib.send(
            msg, hostname=self.cfg.smtp_host, port=self.cfg.smtp_port,
            username=self.cfg.smtp_username or None, password=self.cfg.smtp_password or None,
            start_tls=self.cfg.smtp_starttls, use_tls=self.cfg.smtp_tls, timeout=self.cfg.smtp_timeout_s,
        )

    async def _send(self, job: dict[str, Any]) -> None:
        try:
            await self._relay(self.build(job))
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # RCPT TO refused. A 5xx reply (550 mailbox unavailable) is final; a 4xx (451 try later,
            # greylisting) asks us to come back, so only a refusal that is 5xx for every recipient gives up.
            detail = redact("; ".join(f"{r.code} {r.message}" for r in exc.recipients))[:300]
            if exc.recipients and all(500 <= r.code < 600 for r in exc.recipients):
                raise GiveUp(f"recipient refused: SMTP {detail}") from exc
            raise Retry(f"recipient deferred: SMTP {detail}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            detail = redact(f"SMTP {exc.code}: {exc.message}")[:300]
            if 500 <= exc.code < 600:
                raise GiveUp(detail) from exc
            raise Retry(detail) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise Retry(f"SMTP unavailable: {type(exc).__name__}: {redact(str(exc))[:200]}") from exc
        if job.get("conv") and job.get("msg"):
            await self.record_delivery(job["conv"], job["msg"], "sent", job["message_id"])
        await self.notice_outcome(job.get("notice"), "sent")

    async def _send_failed(self, job: dict[str, Any], reason: str) -> None:
        if job.get("conv") and job.get("msg"):
            await self.record_delivery(job["conv"], job["msg"], "failed", job["message_id"], reason)
        await self.notice_outcome(job.get("notice"), "failed", reason)

    # transcripts -----------------------------------------------------------------------------
    async def transcript_text(self, conv: Conversation) -> str:
        language = conv.language
        lines = [text("transcript_intro", language), ""]
        for message in await self.store.messages(conv.id):
            if message.extra.get("visibility") == "internal":
                continue
            when = dt.datetime.fromtimestamp(message.ts / 1000, self.tz).strftime("%Y-%m-%d %H:%M")
            who = text(f"sender_{message.sender}", language)
            if message.sender == "agent" and message.extra.get("agent_name"):
                who = f"{message.extra['agent_name']} ({who})"
            lines.append(f"[{when}] {who}: {message.text}")
        return "\n".join(lines)

    async def send_transcript(self, conv: Conversation, to: str) -> None:
        """Queue the conversation's transcript to `to` (durable, retried like any e-mail)."""
        body = await self.transcript_text(conv)
        await self._queue_mail(conv, to, body, "transcript", subject=text("transcript_subject", conv.language))
        await self.bus.publish("transcript_sent", conv.id, channel=conv.channel)


class _InboundHandler:
    """aiosmtpd hooks: accept only our address, hand complete messages to the channel."""

    def __init__(self, channel: EmailChannel) -> None:
        self.channel = channel

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if not self.channel.accepts_recipient(address):
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "replace")
        try:
            return await self.channel.receive(raw or b"", str(envelope.mail_from or ""))
        except Exception:
            log.exception("inbound e-mail failed")
            return "451 4.3.0 temporary failure; please retry"

