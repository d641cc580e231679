"""Local stand-ins for the outside world of the channels: Twilio, an SMTP relay, an app's webhook.

They speak the real formats: the Twilio stand-in answers `POST /2010-04-01/Accounts/{sid}/
Messages.json` with Twilio's JSON (201, `sid`, `status: "queued"`, its error objects), and sends
inbound messages and status callbacks the way Twilio does, signed with the official `twilio`
library's RequestValidator. The SMTP server is aiosmtpd in the test's own event loop.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email.policy
import hashlib
import hmac
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from typing import Any

import aiohttp
from aiohttp import web
from aiosmtpd.smtp import SMTP
from twilio.request_validator import RequestValidator

from chat_server.child_specs import free_port
from tests.support.images import JPEG
from tests.support.servers import ChatServerProcess, chat311_env, server_env
from tests.support.waiting import until

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f" * 8 + secrets.token_hex(12)
CITY_NUMBER = "+17045550311"


class Waitable:
    """A list of recorded items plus an event, so tests await conditions instead of sleeping."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def add(self, item: Any) -> None:
        self.items.append(item)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[list[Any]], Any], timeout: float = 30.0) -> Any:
        return await until(lambda: predicate(self.items), timeout,
                           lambda _: f"condition not met within {timeout}s; recorded: {self.items[-8:]}",
                           wake=self._changed)


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


# ---------------------------------------------------------------------------------------- Twilio

def _twilio_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message,
                              "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
                             status=status)


GONE_MEDIA = "MEgone"  # a media id the stand-in answers with 404, as Twilio does for deleted media

@dataclass
class TwilioStandin:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    sent: Waitable = field(default_factory=Waitable)
    fail_next: int = 0  # answer this many sends with a 503 first (to exercise retries)
    unsubscribed: set[str] = field(default_factory=set)
    requests: int = 0
    runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> TwilioStandin:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create_message)
        app.router.add_get("/2010-04-01/Accounts/{sid}/Messages/{mid}/Media/{media}", self._media)
        self.runner, port = await _serve(app)
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    def env(self) -> dict[str, str]:
        """chat_server settings that point SMS at this stand-in."""
        return {
            "CHAT311_CHANNELS__SMS_ENABLED": "true",
            "CHAT311_CHANNELS__TWILIO_ACCOUNT_SID": self.account_sid,
            "CHAT311_CHANNELS__TWILIO_AUTH_TOKEN": self.auth_token,
            "CHAT311_CHANNELS__TWILIO_FROM_NUMBER": CITY_NUMBER,
            "CHAT311_CHANNELS__TWILIO_API_BASE": self.url,
            "CHAT311_CHANNELS__OUTBOX_RETRY_BASE_S": "0.2",
        }

    def _authorized(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.match_info["sid"] == self.account_sid and hmac.compare_digest(
            request.headers.get("Authorization", ""), expected)

    async def _media(self, request: web.Request) -> web.Response:
        """An MMS photo, behind HTTP basic auth (Twilio's "enforce HTTP auth on media URLs")."""
        if not self._authorized(request):
            return _twilio_error(401, 20003, "Authenticate")
        if request.match_info["media"] == GONE_MEDIA:  # deleted, or never an image: Twilio's 404
            return _twilio_error(404, 20404, "The requested resource was not found")
        return web.Response(body=JPEG, content_type="image/jpeg")

    def media_url(self, media: str = "ME1") -> str:
        return f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Messages/MM{secrets.token_hex(16)}/Media/{media}"

    async def _create_message(self, request: web.Request) -> web.Response:
        self.requests += 1
        sid = request.match_info["sid"]
        if not self._authorized(request):
            return _twilio_error(401, 20003, "Authenticate")
        form = await request.post()
        if self.fail_next > 0:
            self.fail_next -= 1
            return _twilio_error(503, 20503, "Service Unavailable")
        to, body = str(form.get("To", "")), str(form.get("Body", ""))
        sender = str(form.get("From", "")) or None
        if not to:
            return _twilio_error(400, 21604, "A 'To' phone number is required.")
        if not sender and not form.get("MessagingServiceSid"):
            return _twilio_error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
        if not body and not form.get("MediaUrl"):
            return _twilio_error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return _twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if to in self.unsubscribed:
            return _twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        message_sid = "SM" + secrets.token_hex(16)
        now = format_datetime(dt.datetime.now(dt.UTC))
        record = {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": body,
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": sender,
            "messaging_service_sid": form.get("MessagingServiceSid"), "num_media": "1" if form.get("MediaUrl") else "0",
            "num_segments": "1", "price": None, "price_unit": "USD", "sid": message_sid, "status": "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}/Media.json"},
            "to": to, "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
        }
        self.sent.add({**record, "status_callback": form.get("StatusCallback"), "media_url": form.get("MediaUrl")})
        return web.json_response(record, status=201)

    # what Twilio sends to the server -----------------------------------------------------------
    def sign(self, url: str, params: dict[str, str]) -> str:
        return RequestValidator(self.auth_token).compute_signature(url, params)

    async def post_signed(self, url: str, params: dict[str, str], signature: str | None = None) -> int:
        headers = {"X-Twilio-Signature": signature if signature is not None else self.sign(url, params)}
        async with aiohttp.ClientSession() as session, session.post(url, data=params, headers=headers) as resp:
            return resp.status

    def inbound_params(self, sender: str, body: str, media_url: str | None = None,
                       media_type: str = "image/jpeg") -> dict[str, str]:
        """Exactly the fields Twilio posts for an incoming SMS/MMS."""
        message_sid = "SM" + secrets.token_hex(16)
        params = {
            "ToCountry": "US", "ToState": "NC", "SmsMessageSid": message_sid, "NumMedia": "0",
            "ToCity": "CHARLOTTE", "FromZip": "28202", "SmsSid": message_sid, "FromState": "NC",
            "SmsStatus": "received", "FromCity": "CHARLOTTE", "Body": body, "FromCountry": "US",
            "To": CITY_NUMBER, "ToZip": "28202", "NumSegments": "1", "MessageSid": message_sid,
            "AccountSid": self.account_sid, "From": sender, "ApiVersion": "2010-04-01",
        }
        if media_url:
            params.update({"NumMedia": "1", "MediaUrl0": media_url, "MediaContentType0": media_type})
        return params

    async def text_server(self, server_url: str, sender: str, body: str, **kwargs: Any) -> tuple[int, str]:
        """A resident texts the city: Twilio POSTs the signed webhook; returns (status, TwiML)."""
        url = f"{server_url}/channels/sms/twilio"
        params = self.inbound_params(sender, body, **kwargs)
        headers = {"X-Twilio-Signature": self.sign(url, params)}
        async with aiohttp.ClientSession() as session, session.post(url, data=params, headers=headers) as resp:
            return resp.status, await resp.text()

    async def status_callback(self, message: dict[str, Any], status: str, error_code: str | None = None) -> int:
        params = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "From": message["from"] or "",
                  "MessageSid": message["sid"], "MessageStatus": status, "SmsSid": message["sid"],
                  "SmsStatus": status, "To": message["to"]}
        if error_code:
            params["ErrorCode"] = error_code
        url = message["status_callback"]
        headers = {"X-Twilio-Signature": self.sign(url, params)}
        async with aiohttp.ClientSession() as session, session.post(url, data=params, headers=headers) as resp:
            return resp.status

    def to(self, phone: str) -> list[dict[str, Any]]:
        return [m for m in self.sent.items if m["to"] == phone]


# ---------------------------------------------------------------------------------------- SMTP

class SmtpCapture:
    """A real SMTP server (aiosmtpd) in this event loop that keeps every message it receives.

    `refusals` maps a recipient to the replies its RCPT TO gets, one per attempt (e.g. ["451 ...",
    "451 ...", "250 OK"]); the last reply repeats. Every RCPT attempt is recorded in `rcpt_attempts`.
    """

    def __init__(self, refusals: dict[str, list[str]] | None = None) -> None:
        self.messages = Waitable()
        self.rcpt_attempts = Waitable()
        self.refusals = {address: list(replies) for address, replies in (refusals or {}).items()}
        self.port = free_port()
        self._server: asyncio.AbstractServer | None = None

    def attempts(self, address: str) -> int:
        return sum(1 for a in self.rcpt_attempts.items if a == address)

    async def start(self) -> SmtpCapture:
        capture = self

        class Handler:
            async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                                  rcpt_options: list[str]) -> str:
                replies = capture.refusals.get(address) or ["250 OK"]
                reply = replies.pop(0) if len(replies) > 1 else replies[0]
                if reply.startswith("250"):
                    envelope.rcpt_tos.append(address)
                capture.rcpt_attempts.add(address)
                return reply

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                parsed = BytesParser(policy=email.policy.default).parsebytes(envelope.original_content
                                                                             or envelope.content)
                capture.messages.add({"rcpt": list(envelope.rcpt_tos), "mail_from": envelope.mail_from,
                                      "msg": parsed})
                return "250 OK"

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SMTP(Handler(), hostname="relay.test"),
                                                "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    def to(self, address: str) -> list[EmailMessage]:
        return [m["msg"] for m in self.messages.items if address in m["rcpt"]]


def body_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


# ---------------------------------------------------------------------------------------- webhooks

class WebhookReceiver:
    """An app backend's webhook endpoint: checks chat311's signature, can fail on purpose."""

    def __init__(self) -> None:
        self.calls = Waitable()
        self.fail_next = 0
        self.refuse_with = 0  # answer every call with this 4xx status (a backend that refuses for good)
        self.secret = ""
        self.url = ""
        self.runner: web.AppRunner | None = None

    async def start(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self.runner, port = await _serve(app)
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        ts = request.headers.get("X-Chat311-Timestamp", "")
        mac = hmac.new(self.secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(request.headers.get("X-Chat311-Signature", ""), f"sha256={mac}")
        fresh = ts.isdigit() and abs(time.time() - int(ts)) < 300
        if self.refuse_with:
            self.calls.add({"failed": True, "refused": True, "valid": valid})
            return web.Response(status=self.refuse_with)
        if self.fail_next > 0:
            self.fail_next -= 1
            self.calls.add({"failed": True, "valid": valid})
            return web.Response(status=503)
        self.calls.add({"valid": valid and fresh, "event": request.headers.get("X-Chat311-Event"),
                        "body": json.loads(raw)})
        return web.Response(status=204)

    def delivered(self) -> list[dict[str, Any]]:
        return [c for c in self.calls.items if not c.get("failed")]


# ---------------------------------------------------------------------------------------- servers

async def bare_server(redis_url: str, name: str, **env_overrides: str) -> Any:
    """A real chat311 process without a bot (Rasa points at a closed port): for channel mechanics.

    The conversation core answers with its "assistant is not responding" message (which carries a
    "Talk to a person" button), so channel behaviour is testable without waiting for Rasa.
    """
    port = free_port()
    prefix = f"c311t{secrets.token_hex(3)}:"
    env = server_env(redis_url, port, f"http://127.0.0.1:{free_port()}", prefix=prefix,
                     **{"CHAT311_RASA__TIMEOUT_S": "1", **env_overrides})
    server = ChatServerProcess(env, port, name)
    server.prefix = prefix  # type: ignore[attr-defined]
    await server.start()
    return server


async def channel_messages(redis: Any, prefix: str, channel: str, identity: str) -> tuple[str | None, list[dict]]:
    """(current conversation id, its messages as {id, sender, text, extra}) for a channel identity."""
    token = await redis.get(f"{prefix}chan:{channel}:id:{identity}")
    if token is None:
        return None, []
    cid = await redis.lindex(f"{prefix}session:{token.decode()}:convs", -1)
    if cid is None:
        return None, []
    rows = await redis.xrange(f"{prefix}conv:{cid.decode()}:msgs")
    out = []
    for mid, raw in rows:
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        out.append({"id": mid.decode(), "sender": fields["sender"], "text": fields.get("text", ""),
                    "extra": json.loads(fields.get("extra", "{}"))})
    return cid.decode(), out


async def delivery_of(redis: Any, prefix: str, conversation_id: str, message_id: str) -> dict[str, Any]:
    """The delivery record chat311 keeps for a message ({} when there is none yet)."""
    from chat_server.channels.channel_base import delivery_record

    return await delivery_record(redis, f"{prefix}conv:{conversation_id}:delivery", message_id) or {}


def apptokens(server: Any, *args: str) -> str:
    """Run `chat311 apptokens ...` against the server's Redis and key prefix; returns stdout."""
    env = chat311_env(server.env["REDIS_URL"], CHAT311_REDIS__KEY_PREFIX=server.env["CHAT311_REDIS__KEY_PREFIX"])
    done = subprocess.run([sys.executable, "-c", "from chat_server.cli import main; raise SystemExit(main())",
                           "apptokens", *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def issue(server: Any, name: str, *extra: str) -> dict[str, str]:
    out = apptokens(server, "add", name, *extra)
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line and not line.startswith("Store"))
    return {k.strip(): v.strip() for k, v in fields.items()}


class App:
    """A city app's HTTP client for /api/v1."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        async with aiohttp.ClientSession(headers=self.headers) as http, \
                http.request(method, f"{self.base}{path}", json=body, **kwargs) as resp:
            data = await resp.json(content_type=None)
            return resp.status, data
