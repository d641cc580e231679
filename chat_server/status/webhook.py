"""POST /status/webhook: status changes pushed by the city's back-office system (docs/open311.md).

Signed like our own outgoing webhooks (channels/api.py `sign`): `X-Chat311-Timestamp` (Unix
seconds) and `X-Chat311-Signature: sha256=<hex HMAC-SHA256(status.webhook_secret,
"<timestamp>.<raw body>")>`. A missing or wrong signature, or a timestamp further than
`status.webhook_max_skew_s` from now, is refused before the body is read as JSON; nothing changes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import datetime

from aiohttp import web

from chat_server.channels.api import error_response, sign
from chat_server.status.changes import Source, TicketStatusService
from chat_server.status.settings import StatusConfig
from chat_server.tickets.catalogue import TicketValidationError

log = logging.getLogger("chat311.status.webhook")

PATH = "/status/webhook"
MAX_BODY = 16 * 1024
FIELDS = {"service_request_id", "status", "status_notes", "change_id", "actor", "updated_datetime"}


def _instant(value: str) -> float:
    """Open311's date-time (ISO 8601 with its UTC offset) as epoch seconds; ValueError without an offset."""
    moment = datetime.fromisoformat(value.strip())
    if moment.tzinfo is None:
        raise ValueError("no UTC offset")
    return moment.timestamp()


def verified(secret: str, timestamp: str, signature: str, body: bytes, max_skew_s: float, now: float) -> bool:
    if not timestamp.isdigit() or abs(now - int(timestamp)) > max_skew_s:
        return False
    return hmac.compare_digest(signature.encode(), sign(secret, timestamp, body).encode())


class StatusWebhook:
    def __init__(self, status: TicketStatusService, config: StatusConfig) -> None:
        self.status = status
        self.config = config

    def routes(self, app: web.Application) -> None:
        app.router.add_post(PATH, self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        if not self.config.webhook_secret:
            return error_response(503, "not_configured", "the status webhook is off (set status.webhook_secret)")
        if (request.content_length or 0) > MAX_BODY:
            return error_response(413, "too_large", f"the body must be at most {MAX_BODY} bytes")
        body = await request.read()
        if not verified(self.config.webhook_secret, request.headers.get("X-Chat311-Timestamp", ""),
                        request.headers.get("X-Chat311-Signature", ""), body, self.config.webhook_max_skew_s,
                        time.time()):
            log.warning("status webhook refused: bad or missing signature")
            return error_response(401, "bad_signature", "X-Chat311-Timestamp / X-Chat311-Signature missing, "
                                                        "stale or wrong")
        try:
            data = json.loads(body)
        except ValueError:
            return error_response(400, "malformed", "the body must be a JSON object")
        if not isinstance(data, dict) or set(data) - FIELDS:
            return error_response(400, "malformed", f"the body must be a JSON object with {', '.join(sorted(FIELDS))}")
        if not all(isinstance(v, str) for v in data.values()) or not data.get("service_request_id") \
                or not data.get("status"):
            return error_response(400, "malformed", "service_request_id and status are required strings")
        change_id = data.get("change_id")
        if change_id is not None and not 1 <= len(change_id) <= 200:
            return error_response(400, "malformed", "change_id must have 1 to 200 characters")
        try:
            occurred_at = _instant(data["updated_datetime"]) if "updated_datetime" in data else None
        except ValueError:
            return error_response(400, "malformed", "updated_datetime must be ISO 8601 with a UTC offset, e.g. "
                                                    "2026-12-07T14:05:00-05:00")
        ticket_id = data["service_request_id"].strip().upper()
        # Without a change_id, the signature names this one request: a captured request sent again within the
        # allowed skew records nothing twice and tells nobody twice (probe U).
        signature = request.headers["X-Chat311-Signature"]
        key = f"webhook:{change_id}" if change_id else f"webhook-signed:{signature.removeprefix('sha256=')[:64]}"
        try:
            change = await self.status.change(
                ticket_id, data["status"], data.get("status_notes"), Source.WEBHOOK,
                (data.get("actor") or "webhook")[:60], change_key=f"{ticket_id}:{key}", occurred_at=occurred_at,
                change_digest=hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32])
        except TicketValidationError as exc:
            code = {404: "not_found", 409: "conflict"}.get(exc.code, "invalid")
            return error_response(exc.code, code, exc.description)
        return web.json_response({"service_request_id": change.ticket.id, "status": change.ticket.status,
                                  "sub_status": change.ticket.sub_status, "applied": change.applied})
