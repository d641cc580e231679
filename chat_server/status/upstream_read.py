"""Reading an upstream Open311 server's answers: pure parsing, no I/O.

GeoReport v2 has no "changed since" query, so open tickets are read back by id
(`GET requests.json?service_request_id=a,b,c`); FixMyStreet-style servers also offer
`servicerequestupdates` (a list of updates since a date, each with its own `update_id`). Anything
that does not look like either is a MalformedReply: the poller then changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat_server.tickets.store import CLOSED, OPEN

# servicerequestupdates statuses (FixMyStreet's Open311 updates) → our statuses.
UPDATE_STATUSES = {
    "open": OPEN, "closed": CLOSED, "fixed": "resolved", "in_progress": "in_progress",
    "action_scheduled": "in_progress", "investigating": "acknowledged", "duplicate": "duplicate",
    "not_councils_responsibility": "referred", "internal_referral": "referred", "no_further_action": "cancelled",
}


class MalformedReply(ValueError):
    """The upstream answered, but not in GeoReport v2 form."""


@dataclass(frozen=True)
class UpstreamState:
    """One upstream ticket's status as read back, with the key that identifies this change."""

    upstream_id: str
    status: str
    notes: str
    change_key: str
    updated: datetime | None = None


def _when(value: Any, what: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise MalformedReply(f"{what}: {str(value)[:40]!r} is not an ISO 8601 date") from None


def parse_requests(rows: Any) -> list[UpstreamState]:
    """GET requests.json: a list of objects with service_request_id and status open/closed."""
    if not isinstance(rows, list):
        raise MalformedReply(f"requests.json: expected a list, got {type(rows).__name__}")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not row.get("service_request_id"):
            raise MalformedReply(f"requests.json[{i}]: no service_request_id")
        status = row.get("status")
        if status not in (OPEN, CLOSED):
            raise MalformedReply(f"requests.json[{i}]: status {str(status)[:20]!r} is not open/closed")
        notes = str(row.get("status_notes") or "")
        updated = _when(row.get("updated_datetime"), f"requests.json[{i}].updated_datetime")
        digest = hashlib.sha256(notes.encode()).hexdigest()[:16]
        key = f"upstream:{row['service_request_id']}:{status}:{row.get('updated_datetime') or ''}:{digest}"
        out.append(UpstreamState(str(row["service_request_id"]), status, notes, key, updated))
    return out


def _update_rows(body: str) -> list[dict[str, Any]]:
    text = body.lstrip()
    if text.startswith("<"):
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            raise MalformedReply(f"servicerequestupdates: not XML ({exc})") from None
        if root.tag != "service_request_updates":
            raise MalformedReply(f"servicerequestupdates: root element <{root.tag[:40]}>")
        return [{child.tag: (child.text or "").strip() for child in item} for item in root]
    try:
        data = json.loads(text)
    except ValueError:
        raise MalformedReply("servicerequestupdates: neither XML nor JSON") from None
    if isinstance(data, dict):
        data = data.get("service_request_updates")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise MalformedReply("servicerequestupdates: expected a list of updates")
    return data


def parse_updates(body: str) -> list[UpstreamState]:
    """servicerequestupdates (XML as FixMyStreet serves it, or the same fields as JSON)."""
    out = []
    for i, row in enumerate(_update_rows(body)):
        update_id, request_id = row.get("update_id"), row.get("service_request_id")
        status = UPDATE_STATUSES.get(str(row.get("status") or "").strip().lower())
        if not update_id or not request_id or status is None:
            raise MalformedReply(f"servicerequestupdates[{i}]: needs update_id, service_request_id and a known "
                                 f"status (got {str(row.get('status'))[:30]!r})")
        updated = _when(row.get("updated_datetime"), f"servicerequestupdates[{i}].updated_datetime")
        out.append(UpstreamState(str(request_id), status, str(row.get("description") or ""),
                                 f"upstream-update:{update_id}", updated))
    return out
