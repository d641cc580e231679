"""Service-level metrics as pure functions over the event log (no I/O; see docs/supervision.md).

Events are folded one at a time into an `Aggregator`: each fact is counted in the local-time
hour bucket of its own timestamp, and a little per-conversation state (when it was queued,
when an agent took it, by whom) turns later facts into durations. Buckets add up, so a day,
30 days or any date range is the sum of its hours, and the live Redis reader only has to
feed the events it has not seen yet.

Definitions (the dashboard, the CSV export and /metrics all use these):
- chats: `conversation_created`.
- escalated: conversations with `escalation_requested`; queued: conversations that entered the
  agent queue (`queued`, counted once per conversation).
- contained (bot containment): chats that never entered the agent queue = chats - queued.
- unserved: chats that asked for a person and never reached the queue (nobody online, the line closed) =
  escalated - queued; they count as contained too, so the dashboard shows them beside it.
- answered: first `assigned` of a queued conversation; wait = assigned.ts - first queued.ts
  (or data.wait_s when the publisher gives it). Service level = answered within
  `service_level_s` / (answered + abandoned). Average speed of answer = mean wait.
- abandoned: `abandoned`, or `conversation_closed` while still waiting in the queue.
- handled: `conversation_closed` of an answered conversation; handle time = closed.ts - assigned.ts.
- CSAT: `csat` ratings 1..5; satisfied = rating >= csat_satisfied_min.
- tickets: `ticketed` (conversation tickets) + `ticket_created` without a conversation id.
- tickets closed: `ticket_status` moving a ticket from open to closed (the ids of the hour's closed
  tickets are kept so service-delivery reports can read those tickets; chat_server/metrics/delivery.py).
- status notifications: `status_notification` outcomes per channel (`via`, else `channel`). The
  publisher (chat_server/status/notify.py) settles each follower's notice once: queued when handed
  to a channel, then sent / failed / skipped as that channel's outbox ends it, undelivered when Twilio
  later loses a text it took.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chat_server.redis_values import text_map

# Histogram bounds (seconds) for /metrics and the dashboard's distribution charts.
WAIT_BOUNDS = (10.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0, 600.0)
HANDLE_BOUNDS = (60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)
STATE_TTL_S = 2 * 86400  # per-conversation state kept this long after its last event


@dataclass(frozen=True)
class LogEvent:
    """One entry of the `<prefix>events` stream, decoded."""

    kind: str
    conv: str
    ts: float
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_stream(cls, raw: dict[bytes | str, bytes | str]) -> LogEvent:
        f = text_map(raw)
        try:
            data = json.loads(f.get("data") or "{}")
        except ValueError:
            data = {}
        return cls(f.get("kind", ""), f.get("conv", ""), float(f.get("ts") or 0),
                   data if isinstance(data, dict) else {})


@dataclass
class Handling:
    """The sums behind answered chats' wait, handle time and CSAT, kept alike per period (Bucket)
    and per agent (AgentStats): one event adds to both."""

    answered: int = 0
    wait_sum: float = 0.0
    handled: int = 0
    handle_sum: float = 0.0
    csat_n: int = 0
    csat_sum: int = 0

    def answer(self, wait: float) -> None:
        self.answered += 1
        self.wait_sum += wait

    def handle(self, seconds: float) -> None:
        self.handled += 1
        self.handle_sum += seconds

    def rate(self, rating: int) -> None:
        self.csat_n += 1
        self.csat_sum += rating


@dataclass
class AgentStats(Handling):
    transfers_out: int = 0

    def add(self, other: AgentStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def _hist(bounds: tuple[float, ...]) -> list[int]:
    return [0] * (len(bounds) + 1)


def _observe(hist: list[int], bounds: tuple[float, ...], value: float) -> None:
    for i, bound in enumerate(bounds):
        if value <= bound:
            hist[i] += 1
            return
    hist[-1] += 1


@dataclass
class Bucket(Handling):
    """Additive counts for one period (an hour, a day, a range)."""

    chats: int = 0
    escalated: int = 0
    queued: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    abandon_wait_sum: float = 0.0
    transfers: int = 0
    closed: int = 0
    csat_satisfied: int = 0
    tickets: int = 0
    bot_answers: int = 0
    fallbacks: int = 0
    low_confidence: int = 0
    resident_messages: int = 0
    emergencies: int = 0
    tickets_closed: int = 0
    channels: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    labels: Counter[str] = field(default_factory=Counter)
    fallback_texts: Counter[str] = field(default_factory=Counter)
    dispositions: Counter[str] = field(default_factory=Counter)
    services: Counter[str] = field(default_factory=Counter)
    kb_helpful: Counter[str] = field(default_factory=Counter)  # article id → "Yes" answers
    kb_not_helpful: Counter[str] = field(default_factory=Counter)  # article id → "No" answers
    closed_tickets: Counter[str] = field(default_factory=Counter)  # ticket id → closings (hour buckets only)
    notices: Counter[str] = field(default_factory=Counter)  # "<channel>/<outcome>" → status notifications
    incident_reached: Counter[str] = field(default_factory=Counter)  # incident id → chats given its notice
    incident_asked: Counter[str] = field(default_factory=Counter)  # ... of them, chats that asked about it
    incident_escalated: Counter[str] = field(default_factory=Counter)  # ... of those, chats that wanted an agent
    agents: dict[str, AgentStats] = field(default_factory=dict)
    wait_hist: list[int] = field(default_factory=lambda: _hist(WAIT_BOUNDS))
    handle_hist: list[int] = field(default_factory=lambda: _hist(HANDLE_BOUNDS))

    def agent(self, username: str) -> AgentStats:
        stats = self.agents.get(username)
        if stats is None:
            stats = self.agents[username] = AgentStats()
        return stats

    def add(self, other: Bucket) -> Bucket:
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, Counter):
                mine.update(theirs)
            elif isinstance(mine, dict):
                for name, stats in theirs.items():
                    self.agent(name).add(stats)
            elif isinstance(mine, list):
                for i, value in enumerate(theirs):
                    mine[i] += value
            else:
                setattr(self, f.name, mine + theirs)
        return self


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def _mean(total: float, n: int) -> float | None:
    return round(total / n, 1) if n else None


def figures(b: Bucket, service_level_s: float = 30.0) -> dict[str, Any]:
    """The headline numbers of one bucket (rates are 0..1 shares, None when undefined)."""
    offered = b.answered + b.abandoned
    contained = max(b.chats - b.queued, 0)
    return {
        "chats": b.chats,
        "contained": contained,
        "containment_rate": _ratio(contained, b.chats),
        "escalated": b.escalated,
        "escalation_rate": _ratio(b.escalated, b.chats),
        "unserved": max(b.escalated - b.queued, 0),
        "queued": b.queued,
        "answered": b.answered,
        "answered_in_sl": b.answered_in_sl,
        "service_level": _ratio(b.answered_in_sl, offered),
        "service_level_s": service_level_s,
        "asa_s": _mean(b.wait_sum, b.answered),
        "abandoned": b.abandoned,
        "abandonment_rate": _ratio(b.abandoned, offered),
        "handled": b.handled,
        "aht_s": _mean(b.handle_sum, b.handled),
        "transfers": b.transfers,
        "csat_responses": b.csat_n,
        "csat_avg": round(b.csat_sum / b.csat_n, 2) if b.csat_n else None,
        "csat_satisfied_rate": _ratio(b.csat_satisfied, b.csat_n),
        "tickets": b.tickets,
        "bot_answers": b.bot_answers,
        "fallbacks": b.fallbacks,
        "fallback_rate": _ratio(b.fallbacks, b.bot_answers + b.fallbacks),
    }


@dataclass
class ConvState:
    last_ts: float
    queued_since: float | None = None  # in the queue right now, since
    first_queued: float | None = None
    escalated: bool = False
    answered: bool = False
    agent: str = ""
    with_agent_since: float | None = None  # an agent has it now, since
    agent_time: dict[str, float] = field(default_factory=dict)  # agent → seconds they had it (segments ended)
    abandoned: bool = False
    closed: bool = False
    incidents: set[str] = field(default_factory=set)  # incidents whose notice this chat asked about

    def handle_times(self, now: float) -> dict[str, float]:
        """Seconds each agent had the chat, the current agent's until `now`: time back in the queue after a
        transfer or a lost connection is waiting, not handling (probe S: it had grown the AHT)."""
        times = dict(self.agent_time)
        if self.with_agent_since is not None:
            times[self.agent] = times.get(self.agent, 0.0) + max(now - self.with_agent_since, 0.0)
        return times

    def end_segment(self, now: float) -> None:
        self.agent_time = self.handle_times(now)
        self.with_agent_since = None


class Aggregator:
    """Folds events into hourly buckets plus live queue state. Feed events in stream order."""

    def __init__(self, tz: str = "America/New_York", service_level_s: float = 30.0, csat_satisfied_min: int = 4,
                 low_confidence: float = 0.0) -> None:
        self.tz = ZoneInfo(tz)
        self.service_level_s = service_level_s
        self.csat_satisfied_min = csat_satisfied_min
        self.low_confidence = low_confidence
        self.hours: dict[str, Bucket] = {}  # "YYYY-MM-DDTHH" local → bucket
        self.totals = Bucket()  # everything ever fed (monotonic: Prometheus counters)
        self.convs: dict[str, ConvState] = {}
        self.queue: dict[str, float] = {}  # conversation → waiting since
        self.incident_titles: dict[str, str] = {}  # incident id → its (English) title, as its notices said
        self.events_seen = 0
        self.last_ts = 0.0

    # time ---------------------------------------------------------------------
    def hour_key(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self.tz).strftime("%Y-%m-%dT%H")

    def local_date(self, ts: float) -> date:
        return datetime.fromtimestamp(ts, self.tz).date()

    def _buckets(self, ts: float) -> tuple[Bucket, Bucket]:
        key = self.hour_key(ts)
        bucket = self.hours.get(key)
        if bucket is None:
            bucket = self.hours[key] = Bucket()
        return bucket, self.totals

    # folding ------------------------------------------------------------------
    def feed(self, events: Iterable[LogEvent]) -> None:
        for event in events:
            self.add(event)

    def add(self, ev: LogEvent) -> None:
        self.events_seen += 1
        self.last_ts = max(self.last_ts, ev.ts)
        handler = getattr(self, f"_on_{ev.kind}", None)
        if handler is None and ev.kind != "requeued":  # requeued changes state only (_after)
            return
        st = None
        if ev.conv:
            st = self.convs.get(ev.conv)
            if st is None:
                st = self.convs[ev.conv] = ConvState(ev.ts)
            st.last_ts = max(st.last_ts, ev.ts)
        if handler is not None:
            for bucket in self._buckets(ev.ts):
                handler(bucket, ev, st)
        if st is not None:
            self._after(ev, st)

    def _after(self, ev: LogEvent, st: ConvState) -> None:
        """State changes, applied once after every bucket has seen the event."""
        kind = ev.kind
        if kind == "escalation_requested":
            st.escalated = True
        elif kind == "incident_noticed":
            incident = str(ev.data.get("incident_id") or "?")
            if ev.data.get("title"):
                self.incident_titles[incident] = str(ev.data["title"])
            if ev.data.get("matched") is True:
                st.incidents.add(incident)
        elif kind == "queued":
            if st.first_queued is None:
                st.first_queued = ev.ts
            if st.queued_since is None and not st.closed:
                st.queued_since = ev.ts
                self.queue[ev.conv] = ev.ts
        elif kind == "assigned":
            st.answered = True
            st.end_segment(ev.ts)
            st.agent = str(ev.data.get("agent") or ev.data.get("username") or st.agent)
            st.with_agent_since = ev.ts
            st.queued_since = None
            self.queue.pop(ev.conv, None)
        elif kind == "transferred":
            to = ev.data.get("to_agent") or ev.data.get("to")
            if to == "queue":
                self._requeue(ev, st)
            elif to:
                st.end_segment(ev.ts)
                st.agent = str(to)
                st.with_agent_since = ev.ts
        elif kind == "requeued":
            self._requeue(ev, st)
        elif kind in ("abandoned", "conversation_closed"):
            if st.queued_since is not None and not st.answered:
                st.abandoned = True
            st.queued_since = None
            self.queue.pop(ev.conv, None)
            if kind == "conversation_closed":
                st.end_segment(ev.ts)
                st.closed = True
        elif kind == "ticketed":
            # A queued resident who took a ticket instead has left the queue.
            if st.queued_since is not None and not st.answered:
                st.abandoned = True
            st.queued_since = None
            self.queue.pop(ev.conv, None)

    def _requeue(self, ev: LogEvent, st: ConvState) -> None:
        """Back in the queue after an agent had it (transfer to queue, agent gone): live queue only."""
        st.end_segment(ev.ts)
        if not st.closed and st.queued_since is None:
            st.queued_since = ev.ts
            self.queue[ev.conv] = ev.ts

    # one method per event kind; each updates one bucket (called for the hour and the totals)
    def _on_conversation_created(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        b.chats += 1
        b.channels[str(ev.data.get("channel") or "web")] += 1
        b.languages[str(ev.data.get("language") or "en")] += 1

    def _on_resident_message(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        b.resident_messages += 1

    def _on_bot_answered(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        b.bot_answers += 1
        b.labels[str(ev.data.get("label") or "?")] += 1
        confidence = ev.data.get("confidence")
        if isinstance(confidence, int | float) and confidence < self.low_confidence:
            b.low_confidence += 1

    def _on_fallback(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        b.fallbacks += 1
        b.labels["nlu_fallback"] += 1
        text = " ".join(str(ev.data.get("text") or "").lower().split())
        if text:
            b.fallback_texts[text[:200]] += 1

    def _on_kb_feedback(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        article = str(ev.data.get("article_id") or "?")
        (b.kb_helpful if ev.data.get("helpful") is True else b.kb_not_helpful)[article] += 1

    def _on_emergency(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        b.emergencies += 1

    def _on_escalation_requested(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        if st is not None and not st.escalated:
            b.escalated += 1
            for incident in st.incidents:
                b.incident_escalated[incident] += 1

    def _on_incident_noticed(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        incident = str(ev.data.get("incident_id") or "?")
        b.incident_reached[incident] += 1
        if ev.data.get("matched") is True:
            b.incident_asked[incident] += 1

    def _on_queued(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        if st is not None and st.first_queued is None:
            b.queued += 1
            if not st.escalated:
                # Queued without a recorded request (e.g. an agent pulled it): still an escalation.
                b.escalated += 1

    def _wait(self, ev: LogEvent, st: ConvState) -> float:
        given = ev.data.get("wait_s")
        if isinstance(given, int | float) and given >= 0:
            return float(given)
        return max(ev.ts - (st.first_queued if st.first_queued is not None else ev.ts), 0.0)

    def _on_assigned(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        if st is None or st.answered:
            return
        wait = self._wait(ev, st)
        b.answer(wait)
        if wait <= self.service_level_s:
            b.answered_in_sl += 1
        _observe(b.wait_hist, WAIT_BOUNDS, wait)
        agent = str(ev.data.get("agent") or ev.data.get("username") or "")
        if agent:
            b.agent(agent).answer(wait)

    def _on_transferred(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        b.transfers += 1
        source = ev.data.get("from_agent") or ev.data.get("from") or (st.agent if st else "")
        if source:
            b.agent(str(source)).transfers_out += 1

    def _abandon(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        if st is None or st.queued_since is None or st.answered or st.abandoned:
            return
        b.abandoned += 1
        b.abandon_wait_sum += max(ev.ts - st.queued_since, 0.0)

    def _on_abandoned(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        self._abandon(b, ev, st)

    def _on_wrapped_up(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        """The outcome of a chat the resident ended, recorded by its agent afterwards."""
        b.dispositions[str(ev.data.get("disposition") or "?")] += 1

    def _on_conversation_closed(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        b.closed += 1
        disposition = ev.data.get("disposition")
        if disposition:
            b.dispositions[str(disposition)] += 1
        if st is None or st.closed:
            return
        self._abandon(b, ev, st)
        times = st.handle_times(ev.ts)
        if st.answered and times:
            handle = sum(times.values())
            b.handle(handle)
            _observe(b.handle_hist, HANDLE_BOUNDS, handle)
            for agent, seconds in times.items():
                if agent:
                    b.agent(agent).handle(seconds)

    def _on_ticketed(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        b.tickets += 1
        b.services[str(ev.data.get("service_code") or "?")] += 1
        self._abandon(b, ev, st)

    def _on_ticket_created(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        # Conversation tickets are counted by `ticketed`; this adds API / e-mail / SMS-only ones.
        if not ev.conv:
            b.tickets += 1
            b.services[str(ev.data.get("service_code") or "?")] += 1

    def _on_ticket_status(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        if ev.data.get("status") != "closed" or ev.data.get("previous_status") == "closed":
            return
        b.tickets_closed += 1
        if b is not self.totals:  # ids only per hour: the process-lifetime totals must not grow with them
            b.closed_tickets[str(ev.data.get("ticket_id") or "?")] += 1

    def _on_status_notification(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        channel = str(ev.data.get("via") or ev.data.get("channel") or "?")
        b.notices[f"{channel}/{ev.data.get('outcome') or '?'}"] += 1

    def _on_csat(self, b: Bucket, ev: LogEvent, st: ConvState | None) -> None:
        raw = ev.data.get("rating")
        if not isinstance(raw, int | float | str):
            return
        try:
            rating = int(raw)
        except (ValueError, OverflowError):  # "4.5", NaN, infinity
            return
        if not 1 <= rating <= 5:
            return
        b.rate(rating)
        if rating >= self.csat_satisfied_min:
            b.csat_satisfied += 1
        agent = ev.data.get("agent") or (st.agent if st else "")
        if agent:
            b.agent(str(agent)).rate(rating)

    # upkeep -------------------------------------------------------------------
    def prune(self, now: float, days: int) -> None:
        """Forget hour buckets older than `days` local days and idle per-conversation state."""
        oldest = (self.local_date(now) - timedelta(days=days)).isoformat()
        for key in [k for k in self.hours if k[:10] < oldest]:
            del self.hours[key]
        cut = now - STATE_TTL_S
        for cid in [c for c, st in self.convs.items() if st.last_ts < cut and st.queued_since is None]:
            del self.convs[cid]

    # queries ------------------------------------------------------------------
    def range_bucket(self, start: date, end: date) -> Bucket:
        """Sum of the hours of local dates start..end (inclusive)."""
        lo, hi = start.isoformat(), end.isoformat()
        total = Bucket()
        for key, bucket in self.hours.items():
            if lo <= key[:10] <= hi:
                total.add(bucket)
        return total

    def day_buckets(self, start: date, end: date) -> list[tuple[date, Bucket]]:
        out = []
        day = start
        while day <= end:
            out.append((day, self.range_bucket(day, day)))
            day += timedelta(days=1)
        return out

    def hour_buckets(self, day: date) -> list[tuple[int, Bucket]]:
        prefix = day.isoformat()
        return [(h, self.hours.get(f"{prefix}T{h:02d}") or Bucket()) for h in range(24)]

    def live(self, now: float) -> dict[str, Any]:
        waits = [now - since for since in self.queue.values()]
        return {"queue_length": len(waits), "longest_wait_s": round(max(waits), 1) if waits else 0.0}


def aggregate(events: Iterable[LogEvent], **kwargs: Any) -> Aggregator:
    """Fold a finite list of events (tests, reports over stored history)."""
    agg = Aggregator(**kwargs)
    agg.feed(sorted(events, key=lambda e: e.ts))
    return agg
