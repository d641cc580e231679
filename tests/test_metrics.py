"""Metrics from a scripted day of conversations with known answers (pure fold and the Redis reader)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from chat_server.metrics.compute import Aggregator, LogEvent, aggregate, figures
from chat_server.metrics.reader import MetricsReader
from chat_server.metrics.reports import dashboard, report, to_csv
from tests.support.metrics import TZ, at, scripted_day, xadd_all

DAY = date(2025, 3, 12)


def check_day(f: dict[str, Any]) -> None:
    assert f["chats"] == 20
    assert f["contained"] == 10 and f["containment_rate"] == 0.5
    assert f["escalated"] == 11 and f["escalation_rate"] == 0.55
    assert f["unserved"] == 1  # c10 asked out of hours and never reached the queue (counted as contained too)
    assert f["queued"] == 10
    assert f["answered"] == 9 and f["answered_in_sl"] == 7
    assert f["service_level"] == 0.7
    assert f["asa_s"] == 28.0
    assert f["abandoned"] == 1 and f["abandonment_rate"] == 0.1
    assert f["handled"] == 9 and f["aht_s"] == 360.0
    assert f["csat_responses"] == 5 and f["csat_avg"] == 3.8 and f["csat_satisfied_rate"] == 0.6
    assert f["tickets"] == 4
    assert f["transfers"] == 1
    assert f["fallbacks"] == 3 and f["bot_answers"] == 18


def test_scripted_day_figures() -> None:
    agg = aggregate(scripted_day(DAY), tz="America/New_York")
    check_day(figures(agg.range_bucket(DAY, DAY)))
    # Nothing left in the queue at the end of the day.
    assert agg.live(at(DAY, 23)) == {"queue_length": 0, "longest_wait_s": 0.0}


def test_hourly_and_daily_buckets_add_up() -> None:
    agg = aggregate(scripted_day(DAY) + scripted_day(DAY - timedelta(days=1)), tz="America/New_York")
    hours = agg.hour_buckets(DAY)
    assert [b.chats for _, b in hours][9:17] == [3, 3, 3, 3, 2, 2, 2, 2]
    assert sum(b.chats for _, b in hours) == 20
    days = agg.day_buckets(DAY - timedelta(days=2), DAY)
    assert [b.chats for _, b in days] == [0, 20, 20]
    both = figures(agg.range_bucket(DAY - timedelta(days=1), DAY))
    assert both["chats"] == 40 and both["service_level"] == 0.7 and both["tickets"] == 8


def test_service_level_threshold_is_configurable() -> None:
    agg = aggregate(scripted_day(DAY), tz="America/New_York", service_level_s=20)
    f = figures(agg.range_bucket(DAY, DAY), 20)
    assert f["answered_in_sl"] == 5 and f["service_level"] == 0.5


def test_closed_while_waiting_counts_as_abandoned_and_live_queue() -> None:
    t = at(DAY, 10)
    events = [
        LogEvent("conversation_created", "q1", t, {"channel": "web", "language": "en"}),
        LogEvent("queued", "q1", t + 1),
        LogEvent("conversation_created", "q2", t, {"channel": "web", "language": "es"}),
        LogEvent("queued", "q2", t + 5),
    ]
    agg = aggregate(events, tz="America/New_York")
    assert agg.live(t + 41) == {"queue_length": 2, "longest_wait_s": 40.0}
    agg.add(LogEvent("conversation_closed", "q1", t + 50, {"reason": "resident_left"}))
    f = figures(agg.range_bucket(DAY, DAY))
    assert f["abandoned"] == 1 and f["escalated"] == 2 and f["service_level"] == 0.0
    assert agg.live(t + 60)["queue_length"] == 1


def test_time_back_in_the_queue_is_waiting_not_handling() -> None:
    """Probe S: a chat requeued when its agent left had its whole life counted as handle time."""
    t = at(DAY, 10)
    agg = aggregate([
        LogEvent("conversation_created", "r1", t, {"channel": "web", "language": "en"}),
        LogEvent("queued", "r1", t + 10),
        LogEvent("assigned", "r1", t + 20, {"agent": "ann"}),  # 10 s wait
        LogEvent("requeued", "r1", t + 120, {"agent": "ann"}),  # ann had it 100 s
    ], tz="America/New_York")
    assert agg.live(t + 130) == {"queue_length": 1, "longest_wait_s": 10.0}  # waiting since the requeue
    agg.feed([
        LogEvent("assigned", "r1", t + 420, {"agent": "bob"}),  # 300 s back in the queue
        LogEvent("transferred", "r1", t + 470, {"from": "bob", "to": "queue"}),  # bob had it 50 s
        LogEvent("assigned", "r1", t + 500, {"agent": "cy"}),
        LogEvent("conversation_closed", "r1", t + 530, {"reason": "agent"}),  # cy had it 30 s
    ])
    f = figures(agg.range_bucket(DAY, DAY))
    assert f["answered"] == 1 and f["asa_s"] == 10.0  # speed of answer: to the first agent only
    assert f["handled"] == 1 and f["aht_s"] == 180.0
    agents = {r["agent"]: r for r in report(agg, "agents", DAY, DAY)}
    assert {name: (r["handled"], r["aht_s"]) for name, r in agents.items() if r["handled"]} == {
        "ann": (1, 100.0), "bob": (1, 50.0), "cy": (1, 30.0)}


def test_reports_and_csv() -> None:
    agg = aggregate(scripted_day(DAY), tz="America/New_York")
    intents = report(agg, "intents", DAY, DAY)
    assert intents[0] == {"label": "faq/trash_schedule", "count": 6, "share": round(6 / 21, 4)}
    fallbacks = report(agg, "fallbacks", DAY, DAY)
    assert fallbacks[0] == {"text": "can i rent a goat", "count": 2}
    assert all("555-1234" not in row["text"] for row in fallbacks)
    agents = {r["agent"]: r for r in report(agg, "agents", DAY, DAY)}
    assert agents["alice"]["answered"] == 5 and agents["bob"]["answered"] == 4
    # The transferred chat (c02) counts for both: alice had it for its first minute, bob until the close.
    assert agents["alice"]["handled"] == 5 and agents["bob"]["handled"] == 5
    day = figures(agg.range_bucket(DAY, DAY))
    shares = sum(r["aht_s"] * r["handled"] for r in agents.values())
    assert shares == pytest.approx(day["aht_s"] * day["handled"], abs=0.5)
    assert agents["alice"]["transfers_out"] == 1
    assert agents["alice"]["csat_avg"] == 4.5  # c00 5, c01 4 (c02 went to bob)
    volumes = report(agg, "volumes", DAY, DAY)
    assert {"dimension": "channel", "value": "sms", "count": 4} in volumes
    assert {"dimension": "language", "value": "es", "count": 5} in volumes
    daily = report(agg, "daily", DAY - timedelta(days=1), DAY)
    text = to_csv(daily)
    lines = text.strip().split("\r\n")
    assert lines[0].startswith("date,chats,contained,containment_rate")
    assert lines[2].startswith("2025-03-12,20,10,0.5,11,0.55")
    assert to_csv([{"text": "=HYPERLINK(1)"}]).split("\r\n")[1] == "'=HYPERLINK(1)"


def test_dashboard_document_shape() -> None:
    agg = aggregate(scripted_day(DAY), tz="America/New_York")
    doc = dashboard(agg, DAY, at(DAY, 18), 30, {"online": 2, "busy": 1, "away": 0, "offline": 0}, 0.7)
    assert doc["today"]["service_level"] == 0.7
    assert len(doc["hourly"]) == 24 and len(doc["daily"]) == 30
    assert doc["daily"][-1]["date"] == DAY.isoformat() and doc["daily"][-1]["chats"] == 20
    assert sum(h["count"] for h in doc["wait_histogram"]) == 9


async def test_redis_reader_is_incremental(redis_client: Any) -> None:
    prefix = f"t8m:{uuid.uuid4().hex[:8]}:"
    stream = f"{prefix}events"
    today = datetime.now(TZ).date()
    old_day = today - timedelta(days=60)  # outside the reader's 30-day window
    old_events = scripted_day(old_day)
    await xadd_all(redis_client, stream, old_events, at_event_time=True)
    day_events = scripted_day(today)
    half = len(day_events) // 2
    await xadd_all(redis_client, stream, day_events[:half])
    reader = MetricsReader(redis_client, stream, "America/New_York", 30, 30.0, 4, min_interval_s=0)
    await reader.refresh()
    assert reader.agg.events_seen == half  # the 60-day-old events are not in the live window
    await xadd_all(redis_client, stream, day_events[half:])
    await reader.refresh()
    assert reader.agg.events_seen == len(day_events)  # read only the new half
    check_day(figures(reader.agg.range_bucket(today, today)))
    assert await reader.for_range(today, today) is reader.agg
    # An old date range outside the window is folded from the stream on demand.
    old = await reader.for_range(old_day, old_day)
    assert old is not reader.agg and old.events_seen == len(old_events)
    check_day(figures(old.range_bucket(old_day, old_day)))
    await redis_client.delete(stream)


def test_unknown_kinds_and_bad_data_are_ignored() -> None:
    agg = Aggregator()
    agg.add(LogEvent("something_new", "x", 1.0, {}))
    agg.add(LogEvent("csat", "x", 2.0, {"rating": "not a number"}))
    agg.add(LogEvent("csat", "x", 3.0, {"rating": 9}))
    for odd in (float("inf"), float("nan"), None, [4], {"stars": 4}):
        agg.add(LogEvent("csat", "x", 4.0, {"rating": odd}))
    assert agg.totals.csat_n == 0 and agg.events_seen == 8
    agg.add(LogEvent("csat", "x", 5.0, {"rating": "4"}))  # the form posts text
    assert agg.totals.csat_n == 1
    assert LogEvent.from_stream({b"kind": b"x", b"conv": b"c", b"ts": b"5", b"data": b"{bad"}).data == {}


@pytest.mark.parametrize("rating,satisfied", [(4, 1), (3, 0)])
def test_csat_threshold(rating: int, satisfied: int) -> None:
    agg = aggregate([LogEvent("csat", "x", at(DAY, 9), {"rating": rating})], tz="America/New_York")
    assert agg.range_bucket(DAY, DAY).csat_satisfied == satisfied


def test_incident_report_counts_reach_questions_and_who_still_wanted_an_agent() -> None:
    """Probe Y: the incidents page's figures could not be reported or exported."""
    events = [
        LogEvent("incident_noticed", "a", at(DAY, 9), {"incident_id": "inc-1", "matched": True, "channel": "web",
                                                       "title": "Water main break"}),
        LogEvent("escalation_requested", "a", at(DAY, 9, 1), {"reason": "request_human"}),
        LogEvent("escalation_requested", "a", at(DAY, 9, 2), {"reason": "request_human"}),  # once a chat
        LogEvent("incident_noticed", "b", at(DAY, 9), {"incident_id": "inc-1", "matched": True, "channel": "sms"}),
        # an SMS chat's opening message, about something else: reached, not asked
        LogEvent("incident_noticed", "c", at(DAY, 10), {"incident_id": "inc-1", "matched": False, "channel": "sms"}),
        LogEvent("escalation_requested", "c", at(DAY, 10, 1), {"reason": "request_human"}),
        LogEvent("incident_noticed", "d", at(DAY, 11), {"incident_id": "inc-2", "matched": True, "channel": "web"}),
        LogEvent("escalation_requested", "e", at(DAY, 11, 1), {"reason": "request_human"}),  # asked nothing
    ]
    rows = report(aggregate(events, tz="America/New_York"), "incidents", DAY, DAY)
    assert rows == [
        {"incident_id": "inc-1", "title": "Water main break", "reached": 3, "asked": 2, "escalated": 1,
         "contained_by_notice": 1},
        {"incident_id": "inc-2", "title": "", "reached": 1, "asked": 1, "escalated": 0, "contained_by_notice": 1},
    ]
    later = DAY + timedelta(days=1)
    assert report(aggregate(events, tz="America/New_York"), "incidents", later, later) == []
