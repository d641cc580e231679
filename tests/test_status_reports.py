"""Supervisor reports for service delivery (issue 17 item 5): time to close, closed on time,
notifications sent and failed.

Pure tests pin the definitions with known numbers (chat_server/metrics/delivery.py and the event
fold). The end-to-end test runs a real chat311 process with the Twilio stand-in: tickets filed
through Open311, given known request and expected times, closed with `chat311 tickets status`
(TicketStatusService); two SMS followers, one of whom Twilio refuses (21610), so that notification
fails permanently. The dashboard's report API, `chat311 report` and /metrics must all show it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import date
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chat_server.metrics.compute import LogEvent, aggregate
from chat_server.metrics.delivery import (
    Closing,
    closed_on_time,
    last_closing,
    notifications,
    percentile,
    time_to_close,
)
from chat_server.metrics.reports import report, to_csv
from chat_server.status.followers import Follower, FollowerKind, FollowerStore
from chat_server.tickets.store import StatusEntry
from tests.support.browser import chromium, new_page
from tests.support.channel_standins import TwilioStandin, bare_server
from tests.support.open311 import cli, file_ticket, new_api_key
from tests.support.staff import console_login
from tests.support.waiting import events_until

H = 3600.0
T0 = 1_741_800_000.0  # 2025-03-12 17:20 UTC


def closing(code: str, hours: float, expected_hours: float | None = None, tid: str = "311-1") -> Closing:
    return Closing(tid, code, T0, T0 + hours * H, None if expected_hours is None else T0 + expected_hours * H)


def test_time_to_close_median_and_nearest_rank_p90() -> None:
    closings = [closing("POTHOLE", h) for h in (40, 10, 30, 20)] + [closing("GRAFFITI", 5)]
    rows = time_to_close(closings, {"POTHOLE": "Pothole"})
    assert rows == [
        {"service_code": "GRAFFITI", "service": "GRAFFITI", "closed": 1, "median_s": 5 * 3600, "p90_s": 5 * 3600},
        {"service_code": "POTHOLE", "service": "Pothole", "closed": 4, "median_s": 25 * 3600, "p90_s": 40 * 3600},
        {"service_code": "ALL", "service": "All services", "closed": 5, "median_s": 20 * 3600, "p90_s": 40 * 3600},
    ]
    assert percentile(list(range(1, 11)), 0.9) == 9 and percentile(list(range(1, 12)), 0.9) == 10
    assert percentile([], 0.9) is None and time_to_close([]) == []


def test_closed_on_time_share_per_service_and_overall() -> None:
    closings = [closing("POTHOLE", h, expected_hours=24) for h in (10, 20, 30, 40)]
    closings += [closing("POTHOLE", 24, expected_hours=24), closing("GRAFFITI", 5)]  # exactly at the date: on time
    rows = {r["service_code"]: r for r in closed_on_time(closings)}
    assert rows["POTHOLE"] == {"service_code": "POTHOLE", "service": "POTHOLE", "closed": 5, "with_expected": 5,
                               "on_time": 3, "late": 2, "on_time_rate": 0.6}
    assert rows["GRAFFITI"]["with_expected"] == 0 and rows["GRAFFITI"]["on_time_rate"] is None
    assert (rows["ALL"]["closed"], rows["ALL"]["with_expected"], rows["ALL"]["on_time_rate"]) == (6, 5, 0.6)


def test_last_closing_ignores_notes_on_a_closed_ticket_and_counts_the_last_in_range() -> None:
    history = [StatusEntry(100, "open", "submitted"), StatusEntry(200, "closed", "resolved"),
               StatusEntry(300, "open", "in_progress"), StatusEntry(400, "closed", "resolved"),
               StatusEntry(500, "closed", "duplicate", note="same as 311-9")]
    assert last_closing(history, 0, 1000) == 400
    assert last_closing(history, 0, 350) == 200
    assert last_closing(history, 450, 1000) is None
    assert last_closing(history[:1], 0, 1000) is None


def test_event_fold_counts_closings_and_notifications_once() -> None:
    day = date(2025, 3, 12)

    def ev(kind: str, conv: str = "", dt: float = 0, **data: Any) -> LogEvent:
        return LogEvent(kind, conv, T0 + dt, data)

    events = [
        ev("ticket_status", "", 1, ticket_id="311-1", status="closed", previous_status="open"),
        ev("ticket_status", "", 2, ticket_id="311-1", status="closed", previous_status="closed"),  # a note
        ev("ticket_status", "c1", 3, ticket_id="311-2", status="closed", previous_status="open"),
        ev("ticket_status", "", 4, ticket_id="311-3", status="open", previous_status="open"),
        *[ev("status_notification", dt=5, channel="conversation", via="web", outcome="sent") for _ in range(2)],
        # Handed to SMS: not counted until Twilio took them (or the outbox gave up on one).
        *[ev("status_notification", dt=5.5, channel="sms", via="sms", outcome="queued") for _ in range(4)],
        *[ev("status_notification", dt=6, channel="sms", via="sms", outcome="sent") for _ in range(2)],
        ev("status_notification", dt=7, channel="email", via="email", outcome="skipped"),
        ev("status_notification", dt=8, channel="sms", via="sms", outcome="failed", error="6 attempts"),
        # Twilio later lost one of the two texts it took: it moves from sent to failed.
        ev("status_notification", dt=9, channel="sms", via="sms", outcome="undelivered", error="Twilio undelivered"),
        # A chat message that failed is not a status notification.
        ev("channel_delivery", "conv-9", 11, channel="sms", message_id="1-0", status="failed"),
    ]
    agg = aggregate(events, tz="America/New_York")
    bucket = agg.range_bucket(day, day)
    assert bucket.tickets_closed == 2 and agg.totals.tickets_closed == 2
    assert sorted(bucket.closed_tickets) == ["311-1", "311-2"] and not agg.totals.closed_tickets
    rows = report(agg, "notifications", day, day)
    assert rows == [
        {"channel": "email", "sent": 0, "failed": 0, "skipped": 1, "failure_rate": None},
        {"channel": "sms", "sent": 1, "failed": 2, "skipped": 0, "failure_rate": 0.6667},
        {"channel": "web", "sent": 2, "failed": 0, "skipped": 0, "failure_rate": 0.0},
        {"channel": "ALL", "sent": 3, "failed": 2, "skipped": 1, "failure_rate": 0.4},
    ]
    assert notifications(Counter()) == []
    assert to_csv(rows).splitlines()[0] == "channel,sent,failed,skipped,failure_rate"


# --------------------------------------------------------------------------- end to end
GOOD, REFUSED = "+17045550131", "+17045550132"


async def next_event(redis: Any, stream: str, match: Any, timeout: float = 60.0) -> dict[str, Any]:
    """Block on the event stream until an event matches (kind, conv, data) → bool; returns its data."""
    return (await events_until(redis, stream, match, 1, timeout))[0]


@pytest.mark.browser
async def test_reports_from_real_closings_and_a_refused_notification(redis_server: Any, redis_client: Any) -> None:
    twilio = await TwilioStandin().start()
    twilio.unsubscribed.add(REFUSED)
    server = await bare_server(redis_server.url, "status-reports", **twilio.env())
    prefix, events = server.prefix, f"{server.prefix}events"
    try:
        _, key = await asyncio.to_thread(new_api_key, redis_server, prefix)
        async with aiohttp.ClientSession() as http:
            p1 = await file_ticket(http, server.url, key, "POTHOLE", ("road_position", "lane"))
            p2 = await file_ticket(http, server.url, key, "POTHOLE", ("road_position", "lane"))
            g1 = await file_ticket(http, server.url, key, "GRAFFITI", ("surface", "bridge"))
        # Known times: requested 10 h / 30 h / 20 h ago; P1 due in an hour, P2 due an hour ago, G1 has no date.
        now = time.time()
        for tid, age, due in ((p1, 10, now + H), (p2, 30, now - H), (g1, 20, None)):
            await redis_client.hset(f"{prefix}ticket:{tid}", "requested_at", repr(now - age * H))
            if due is None:
                await redis_client.hdel(f"{prefix}ticket:{tid}", "expected_at")
            else:
                await redis_client.hset(f"{prefix}ticket:{tid}", "expected_at", repr(due))
        followers = FollowerStore(redis_client, prefix)
        for phone in (GOOD, REFUSED):
            await followers.follow(p1, FollowerKind.SMS, phone, "en")

        for tid in (p1, p2, g1):
            out = await asyncio.to_thread(cli, redis_server, prefix, "tickets", "status", tid, "resolved",
                                          "--note", "Fixed by the crew")
            assert out.returncode == 0, out.stderr
        closed_by = time.time()

        # The refused text fails for good (Twilio 21610: GiveUp, no retry); the other is sent.
        await twilio.sent.wait_for(lambda items: [m for m in items if m["to"] == GOOD and p1 in m["body"]])
        refused = await next_event(redis_client, events, lambda k, c, d: k == "channel_delivery"
                                   and c == f"ticket:{p1}" and d.get("status") == "failed")
        assert refused["message_id"].startswith("status:")

        # A note on the closed ticket is no second closing; the refused number is now opted out (skipped).
        out = await asyncio.to_thread(cli, redis_server, prefix, "tickets", "status", p1, "closed",
                                      "--note", "Road resurfaced too")
        assert out.returncode == 0, out.stderr
        await next_event(redis_client, events, lambda k, c, d: k == "status_notification" and d.get("outcome")
                         == "skipped" and d.get("ticket_id") == p1)
        await twilio.sent.wait_for(lambda items: [m for m in items if m["to"] == GOOD and "resurfaced" in m["body"]])
        # Counted once Twilio took them: the good number's two texts.
        await events_until(redis_client, events, lambda k, c, d: k == "status_notification"
                           and d.get("ticket_id") == p1 and d.get("outcome") == "sent", 2)

        from chat_server.agents.auth import SESSION_COOKIE

        token, _ = await console_login(redis_client, prefix, "sue", ["supervisor"])
        async with aiohttp.ClientSession(cookies={SESSION_COOKIE: token}) as sup:
            async def rows(name: str) -> list[dict[str, Any]]:
                async with sup.get(f"{server.url}/console/supervisor/api/report", params={"name": name}) as r:
                    body = await r.json()
                    assert r.status == 200, body
                    return list(body["rows"])

            ttc = {r["service_code"]: r for r in await rows("time_to_close")}
            notices = {r["channel"]: r for r in await rows("notifications")}
            async with sup.get(f"{server.url}/console/supervisor/api/export.csv",
                               params={"name": "closed_on_time", "headings": "keys"}) as r:
                csv_text = await r.text()
            async with sup.get(f"{server.url}/console/supervisor/api/export.csv",
                               params={"name": "closed_on_time", "lang": "es"}) as r:
                spanish_csv = await r.text()

        slack = closed_by - now + 1
        assert set(ttc) == {"POTHOLE", "GRAFFITI", "ALL"}
        assert ttc["POTHOLE"]["closed"] == 2 and ttc["POTHOLE"]["service"] == "Pothole"
        assert 20 * H <= ttc["POTHOLE"]["median_s"] <= 20 * H + slack  # (10 h + 30 h) / 2
        assert 30 * H <= ttc["POTHOLE"]["p90_s"] <= 30 * H + slack
        assert 20 * H <= ttc["GRAFFITI"]["median_s"] <= 20 * H + slack
        assert ttc["ALL"]["closed"] == 3 and 30 * H <= ttc["ALL"]["p90_s"] <= 30 * H + slack
        assert notices["sms"] == {"channel": "sms", "sent": 2, "failed": 1, "skipped": 1, "failure_rate": 0.3333}
        assert set(notices) == {"sms", "ALL"}
        lines = csv_text.strip().split("\r\n")
        assert lines[0] == "service_code,service,closed,with_expected,on_time,late,on_time_rate"
        assert "POTHOLE,Pothole,2,2,1,1,0.5" in lines and "GRAFFITI,Graffiti,1,0,0,0," in lines

        # The CLI gives the same figures (JSON), from the same stored tickets and event log.
        out = await asyncio.to_thread(cli, redis_server, prefix, "report", "closed_on_time", "--format", "json")
        assert out.returncode == 0, out.stderr
        overall = next(r for r in json.loads(out.stdout) if r["service_code"] == "ALL")
        assert (overall["closed"], overall["with_expected"], overall["on_time"], overall["on_time_rate"]) == (
            3, 2, 1, 0.5)
        # ... and, asked for words, the same Spanish headings and service names as the dashboard's export
        out = await asyncio.to_thread(cli, redis_server, prefix, "report", "closed_on_time", "--headings", "words",
                                      "--lang", "es")
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[0] == spanish_csv.splitlines()[0] != lines[0], (out.stdout, spanish_csv)
        for row in ("POTHOLE,Bache,2,2,1,1,0.5", "ALL,Todos los servicios,3,2,1,1,0.5"):
            assert row in out.stdout.splitlines() and row in spanish_csv.splitlines(), (row, out.stdout, spanish_csv)

        async with aiohttp.ClientSession() as anon, anon.get(f"{server.url}/metrics") as r:
            families = {f.name: f for f in text_string_to_metric_families(await r.text())}
        sent = {(s.labels["channel"], s.labels["outcome"]): s.value
                for s in families["chat311_status_notifications"].samples}
        assert sent == {("sms", "queued"): 3, ("sms", "sent"): 2, ("sms", "failed"): 1, ("sms", "skipped"): 1}
        assert families["chat311_tickets_closed"].samples[0].value == 3

        # The dashboard's report picker shows it with headings in words.
        from playwright.async_api import expect

        async with chromium() as browser:
            page = await new_page(browser)
            await page.context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": server.url}])
            await page.goto(f"{server.url}/console/supervisor")
            await page.select_option("#report-name", "time_to_close")
            await page.get_by_role("button", name="Show").click()
            table = page.locator("#report-table")
            await expect(table.locator("th")).to_have_text(["Service code", "Service", "Tickets closed",
                                                           "Median time to close", "90th percentile time to close"])
            pothole = table.locator("tr", has_text="POTHOLE")
            await expect(pothole.locator("td")).to_have_text(["POTHOLE", "Pothole", "2", "20h 0m", "30h 0m"])
            await page.select_option("#report-name", "closed_on_time")
            await page.get_by_role("button", name="Show").click()
            await expect(table.locator("tr", has_text="All services").locator("td").last).to_have_text("50%")
            assert page.errors == []
    finally:
        await server.stop()
        await twilio.stop()


async def test_a_notification_the_outbox_gives_up_on_is_counted_failed(redis_server: Any, redis_client: Any) -> None:
    """The status outbox's own give-up path: handing the text to SMS raises on every attempt (the
    opt-out list in Redis is unreadable), so after outbox_max_attempts the job fails for good; the
    follower it never reached is one failed SMS notification, not a sent one."""
    twilio = await TwilioStandin().start()
    server = await bare_server(redis_server.url, "status-giveup", **{
        **twilio.env(), "CHAT311_CHANNELS__OUTBOX_MAX_ATTEMPTS": "2", "CHAT311_CHANNELS__OUTBOX_RETRY_BASE_S": "0.1"})
    prefix = server.prefix
    try:
        _, key = await asyncio.to_thread(new_api_key, redis_server, prefix)
        async with aiohttp.ClientSession() as http:
            ticket_id = await file_ticket(http, server.url, key, "POTHOLE", ("road_position", "lane"))
        await FollowerStore(redis_client, prefix).follow(ticket_id, FollowerKind.SMS, GOOD, "en")
        await redis_client.set(f"{prefix}sms:optout", "not a hash")  # every SMS hand-off now raises WRONGTYPE
        out = await asyncio.to_thread(cli, redis_server, prefix, "tickets", "status", ticket_id, "in_progress")
        assert out.returncode == 0, out.stderr
        failed = await next_event(redis_client, f"{prefix}events", lambda k, c, d: k == "status_notification"
                                  and d.get("ticket_id") == ticket_id)
        assert (failed["outcome"], failed["channel"], failed["via"]) == ("failed", "sms", "sms")
        assert failed["error"].startswith("2 attempts")
        marks = await redis_client.hgetall(f"{prefix}status:notified:{ticket_id}:{failed['change_id']}")
        assert marks == {Follower(FollowerKind.SMS, GOOD).mark.encode(): b"failed"}
        assert GOOD.encode() not in b"".join(marks)  # delivery records name followers without their number

        from chat_server.agents.auth import SESSION_COOKIE

        token, _ = await console_login(redis_client, prefix, "sue", ["supervisor"])
        async with aiohttp.ClientSession(cookies={SESSION_COOKIE: token}) as sup, sup.get(
                f"{server.url}/console/supervisor/api/report", params={"name": "notifications"}) as r:
            rows = (await r.json())["rows"]
        assert rows[0] == {"channel": "sms", "sent": 0, "failed": 1, "skipped": 0, "failure_rate": 1.0}
        assert twilio.requests == 0
    finally:
        await server.stop()
        await twilio.stop()


@pytest.mark.parametrize("name", ["time_to_close", "closed_on_time", "notifications"])
def test_report_names_are_offered_everywhere(name: str) -> None:
    from pathlib import Path

    from chat_server.metrics.reports import REPORTS

    assert name in REPORTS
    page = (Path(__file__).resolve().parent.parent / "chat_server/static/supervisor/index.html").read_text()
    assert f'<option value="{name}">' in page
