"""Supervisor API, CSV export, roles and `/metrics` against the real app (in-process) and real Redis.

The bot is not needed here: the event log is scripted (tests/test_metrics.py) into a key prefix of
its own, and the app reads it exactly as in production.
"""

from __future__ import annotations

from datetime import datetime

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.support.metrics import TZ, scripted_day, xadd_all
from tests.support.supervisor_app import SCRAPE_TOKEN, App


async def test_dashboard_report_csv_and_prometheus_agree(app_server: App) -> None:
    today = datetime.now(TZ).date()
    await xadd_all(app_server.redis, f"{app_server.prefix}events", scripted_day(today))
    http, _ = await app_server.session("sue", ["supervisor"])
    async with http:
        async with http.get(f"{app_server.url}/console/supervisor/api/dashboard") as r:
            assert r.status == 200
            doc = await r.json()
        t = doc["today"]
        assert (t["chats"], t["service_level"], t["asa_s"], t["abandonment_rate"], t["aht_s"]) == (
            20, 0.7, 28.0, 0.1, 360.0)
        assert (t["containment_rate"], t["escalation_rate"], t["csat_avg"], t["tickets"]) == (0.5, 0.55, 3.8, 4)
        assert doc["target"] == {"service_level": 0.7, "service_level_s": 30.0}
        assert sum(h["chats"] for h in doc["hourly"]) == 20 and doc["daily"][-1]["chats"] == 20

        async with http.get(f"{app_server.url}/console/supervisor/api/report",
                            params={"name": "fallbacks"}) as r:
            rows = (await r.json())["rows"]
        assert rows[0] == {"text": "can i rent a goat", "count": 2}

        async with http.get(f"{app_server.url}/console/supervisor/api/export.csv",
                            params={"name": "daily", "start": today.isoformat(), "end": today.isoformat()}) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
            assert "attachment" in r.headers["Content-Disposition"]
            lines = (await r.text()).strip().split("\r\n")
        # … 11 asked for a person, 1 of them out of hours (none available), 10 queued …
        assert len(lines) == 2 and lines[1].startswith(f"{today.isoformat()},20,10,0.5,11,0.55,1,10,9,7,0.7,")

        async with http.get(f"{app_server.url}/console/supervisor/api/report",
                            params={"name": "daily", "start": "2025-13-01"}) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "bad_date"

    async with aiohttp.ClientSession() as anon, anon.get(f"{app_server.url}/metrics") as r:
        assert r.status == 200
        families = {f.name: f for f in text_string_to_metric_families(await r.text())}
    value = {s.name: s.value for s in families["chat311_conversations"].samples}
    assert value["chat311_conversations_total"] == 20
    assert {s.labels["figure"]: s.value for s in families["chat311_today"].samples}["service_level"] == 0.7
    waits = {s.labels.get("le"): s.value for s in families["chat311_answer_wait_seconds"].samples
             if s.name.endswith("_bucket")}
    assert waits["30.0"] == 7 and waits["+Inf"] == 9
    assert families["chat311_queue_length"].samples[0].value == 0


async def test_roles_csrf_and_login_redirect(app_server: App) -> None:
    base = app_server.url
    async with aiohttp.ClientSession() as anon:
        async with anon.get(f"{base}/console/supervisor/api/dashboard") as r:
            assert r.status == 401 and (await r.json())["error"]["code"] == "login_required"
        async with anon.get(f"{base}/console/supervisor", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"].startswith("/console/login?next=")
    agent, _ = await app_server.session("andy", ["agent"])
    async with agent, agent.get(f"{base}/console/supervisor/api/dashboard") as r:
        assert r.status == 403
    sup, csrf = await app_server.session("sam", ["supervisor"])
    async with sup:
        async with sup.get(f"{base}/console/supervisor") as r:
            assert r.status == 200
            html = await r.text()
            assert "<script src=\"/static/supervisor/supervisor.js\"" in html and "<script>" not in html
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        async with sup.get(f"{base}/static/supervisor/charts.js") as r:
            assert r.status == 200
        async with sup.get(f"{base}/console/supervisor/api/me") as r:
            assert (await r.json())["username"] == "sam"
        async with sup.post(f"{base}/console/supervisor/api/override", json={"mode": "open", "hours": 2}) as r:
            assert r.status == 403 and (await r.json())["error"]["code"] == "csrf"
        headers = {"X-CSRF-Token": csrf}
        async with sup.post(f"{base}/console/supervisor/api/override", json={"mode": "sideways"},
                            headers=headers) as r:
            assert r.status == 400
        async with sup.post(f"{base}/console/supervisor/api/override", json={"mode": "open", "hours": 2},
                            headers=headers) as r:
            assert r.status == 200, await r.text()
            state = await r.json()
            assert state["mode"] == "open" and state["by"] == "sam"
        async with sup.get(f"{base}/console/supervisor/api/dashboard") as r:
            assert (await r.json())["override"]["mode"] == "open"
        async with sup.post(f"{base}/console/supervisor/api/override", json={"mode": None},
                            headers=headers) as r:
            assert (await r.json())["mode"] is None


async def test_metrics_needs_loopback_token_or_supervisor(app_server: App) -> None:
    """Behind a proxy every visitor looks local, so a forwarded request needs the token or a login."""
    url = f"{app_server.url}/metrics"
    proxied = {"X-Forwarded-For": "203.0.113.9"}
    async with aiohttp.ClientSession() as anon:
        async with anon.get(url, headers=proxied) as r:
            assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
            assert "chat311_conversations_total" not in await r.text()
        async with anon.get(url, headers={**proxied, "Authorization": "Bearer wrong-token"}) as r:
            assert r.status == 401
        async with anon.get(url, headers={**proxied, "Authorization": f"Bearer {SCRAPE_TOKEN}"}) as r:
            assert r.status == 200 and "chat311_conversations_total" in await r.text()
    agent, _ = await app_server.session("arno", ["agent"])
    async with agent, agent.get(url, headers=proxied) as r:
        assert r.status == 403
    sup, _ = await app_server.session("sue", ["supervisor"])
    async with sup, sup.get(url, headers=proxied) as r:
        assert r.status == 200 and "chat311_conversations_total" in await r.text()


def test_prometheus_access_rule() -> None:
    from chat_server.metrics.access import prometheus_allowed

    assert prometheus_allowed("127.0.0.1", False, None, "", public=False)
    assert prometheus_allowed("::1", False, None, "", public=False)
    assert not prometheus_allowed("10.1.2.3", False, None, "", public=False)
    assert not prometheus_allowed("127.0.0.1", True, None, "", public=False)
    assert not prometheus_allowed("10.1.2.3", False, "Bearer x", "", public=False)  # no token configured
    assert prometheus_allowed("10.1.2.3", False, "Bearer tok", "tok", public=False)
    assert prometheus_allowed("10.1.2.3", False, "bearer tok", "tok", public=False)
    assert not prometheus_allowed("10.1.2.3", False, "Basic tok", "tok", public=False)
    assert not prometheus_allowed(None, False, None, "tok", public=False)
    assert prometheus_allowed("10.1.2.3", True, None, "", public=True)


def test_csv_cells_never_start_a_formula() -> None:
    from chat_server.metrics.reports import csv_cell, to_csv

    for bad in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", " =HYPERLINK(\"x\")", "\ufeff=1+1",
                "\t\t+1", "  @x", "\u00a0=1", "\n=1"):
        assert csv_cell(bad) == "'" + bad, repr(bad)
    for fine in ("hello", "a=b", "", "311-12", "  text"):
        assert csv_cell(fine) == fine
    assert csv_cell(None) == "" and csv_cell(3) == 3
    assert to_csv([{"text": "\ufeff=cmd|' /C calc'!A0"}]).splitlines()[1].startswith("'\ufeff=")
