"""Service-delivery figures for supervisors (issue 17): pure functions, no I/O.

A 311 centre answers for the service it delivers, not only for the chats it takes. These
functions turn tickets closed in a date range (read by chat_server/metrics/delivery_io.py) and
the notification counts of the event log into report rows (docs/supervision.md, "Service delivery"):

- time_to_close: per service, the median and 90th percentile of closed_at - requested_at over the
  tickets closed in the range. The median of an even count is the mean of the two middle values;
  p90 is the nearest-rank value (the smallest duration with at least 90% of closings at or below it),
  so it is always a real ticket's time.
- closed_on_time: per service and overall, the share of closings with an expected date
  (Open311 expected_datetime) that happened at or before it. Tickets without an expected date are
  counted (`closed`) but left out of the share.
- notifications: per channel, status notifications sent (delivered to the web chat or taken by the
  provider), failed (given up on) and skipped.

A ticket closed, re-opened and closed again within the range counts once, at its last closing in
the range; its time to close is still measured from when it was requested.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from chat_server.tickets.store import CLOSED, StatusEntry

ALL = "ALL"  # service_code / channel of the overall row
# Outcomes of status notifications as counted in the event log (Bucket.notices keys "<channel>/<outcome>"),
# each settled once per follower and change by chat_server/status/notify.py:
# queued: handed to a channel's outbox (not in the report: its fate is not known yet);
# sent: shown in the web chat, or taken by the provider (Twilio, the SMTP relay, the app's webhook);
# failed: the status outbox or the channel's outbox gave up on it (a refusal for good, or retries spent);
# skipped: nobody to tell (conversation deleted, channel off, number opted out);
# undelivered: sent, then Twilio reported it lost (counted in the report as failed instead of sent).
OUTCOMES = ("queued", "sent", "failed", "skipped", "undelivered")


@dataclass(frozen=True)
class Closing:
    """One ticket closed in the report's range."""

    ticket_id: str
    service_code: str
    requested_at: float
    closed_at: float
    expected_at: float | None = None

    @property
    def seconds(self) -> float:
        return max(self.closed_at - self.requested_at, 0.0)

    @property
    def on_time(self) -> bool | None:
        """Closed at or before the expected date; None when the ticket had none."""
        return None if self.expected_at is None else self.closed_at <= self.expected_at


def last_closing(history: Sequence[StatusEntry], lo: float, hi: float) -> float | None:
    """Time of the last move from open to closed with lo <= ts < hi (a note on a closed ticket is no closing)."""
    previous, found = "", None
    for entry in history:
        if entry.status == CLOSED and previous != CLOSED and lo <= entry.ts < hi:
            found = entry.ts
        previous = entry.status
    return found


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least `share` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)), 1) - 1]


def _by_service(closings: Iterable[Closing]) -> dict[str, list[Closing]]:
    groups: dict[str, list[Closing]] = {}
    for closing in closings:
        groups.setdefault(closing.service_code, []).append(closing)
    return dict(sorted(groups.items()))


def service_names(catalogue: Iterable[Any], language: str, texts: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """service_code → its name in `language` for the reports; the overall row's is staff copy
    (`report.all_services` of staff_texts.yml)."""
    return {ALL: texts["report.all_services"][language], **{s.service_code: s.name(language) for s in catalogue}}


def _name(code: str, names: dict[str, str] | None) -> str:
    """The service's name; the overall row's is `names[ALL]` when the caller gives it in the reader's language."""
    return (names or {}).get(code, "All services" if code == ALL else code)


def time_to_close(closings: Sequence[Closing], names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per service (then the overall row): closed, median_s, p90_s (seconds, rounded)."""
    rows = []
    groups = _by_service(closings)
    for code, group in [*groups.items(), (ALL, list(closings))]:
        if code == ALL and not closings:
            break
        seconds = [c.seconds for c in group]
        mid, p90 = median(seconds), percentile(seconds, 0.9)
        rows.append({"service_code": code, "service": _name(code, names), "closed": len(group),
                     "median_s": round(mid), "p90_s": round(p90) if p90 is not None else None})
    return rows


def closed_on_time(closings: Sequence[Closing], names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per service (then the overall row): closed, with_expected, on_time, on_time_rate."""
    rows = []
    for code, group in [*_by_service(closings).items(), (ALL, list(closings))]:
        if code == ALL and not closings:
            break
        judged = [c.on_time for c in group if c.on_time is not None]
        on_time = sum(1 for ok in judged if ok)
        rows.append({"service_code": code, "service": _name(code, names), "closed": len(group),
                     "with_expected": len(judged), "on_time": on_time, "late": len(judged) - on_time,
                     "on_time_rate": round(on_time / len(judged), 4) if judged else None})
    return rows


def notifications(notices: Counter[str]) -> list[dict[str, Any]]:
    """One row per channel (then the overall row). A notification the provider lost after it took it
    counts as failed, not sent, so sent + failed + skipped is every settled notification once; one
    still waiting in a channel's outbox (queued) is in none of them."""
    channels = sorted({key.split("/", 1)[0] for key in notices})
    rows = []
    for channel in [*channels, ALL] if channels else []:
        def n(outcome: str, ch: str = channel) -> int:
            if ch == ALL:
                return sum(notices[f"{c}/{outcome}"] for c in channels)
            return notices[f"{ch}/{outcome}"]

        undelivered = n("undelivered")
        sent = max(n("sent") - undelivered, 0)
        failed = n("failed") + undelivered
        rows.append({"channel": channel, "sent": sent, "failed": failed, "skipped": n("skipped"),
                     "failure_rate": round(failed / (sent + failed), 4) if sent + failed else None})
    return rows
