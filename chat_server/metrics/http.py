"""Supervisor dashboard, reports, CSV export and `/metrics`: the handlers (metrics/feature.py wires them;
see docs/supervision.md).

Routes:
- GET  /console/supervisor                     the dashboard page (role supervisor)
- GET  /console/supervisor/api/me              who is logged in + CSRF token
- GET  /console/supervisor/api/dashboard       live + today + hourly + 30-day figures (polled)
- GET  /console/supervisor/api/report?name=&start=&end=      JSON rows of one report
- GET  /console/supervisor/api/export.csv?name=&start=&end=&lang=en|es&headings=words|keys  the same as CSV
- GET  /console/supervisor/api/live            live lists: agents (status, chats, time in status), waiting chats
- GET/POST /console/supervisor/api/override    emergency staffing override (agents/override.py)
- GET  /console/staff/api/me, /static/staff/*  the shared staff navigation bar (metrics/staff.py)
- GET  /metrics                                Prometheus text format
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from chat_server.context import CTX, AppContext
from chat_server.metrics import staff
from chat_server.metrics.access import USER, StaffApi, error, prometheus_allowed, require_role
from chat_server.metrics.delivery import service_names
from chat_server.metrics.delivery_io import report_rows
from chat_server.metrics.prom import EventLogCollector
from chat_server.metrics.reader import MetricsReader
from chat_server.metrics.reports import REPORTS, article_ratings, csv_headings, dashboard, to_csv
from chat_server.metrics.settings import MetricsConfig
from chat_server.staff_texts import LANGUAGES, staff_texts

log = logging.getLogger("chat311.metrics")
STATIC = Path(__file__).resolve().parent.parent / "static" / "supervisor"
API = StaffApi("/console/supervisor", STATIC, "supervisor")
READER: web.AppKey[MetricsReader] = web.AppKey("chat311_metrics_reader", MetricsReader)
LIVE: web.AppKey[Any] = web.AppKey("chat311_metrics_live", object)
MAX_RANGE_DAYS = 3660


def routing_store(ctx: AppContext) -> Any:
    """The agents module's Redis state (queue, presence, hours override), or None if not installed."""
    try:
        from chat_server.agents.routing_store import RoutingStore
    except ImportError:
        return None
    return RoutingStore(ctx.redis, ctx.config.redis.key_prefix)


def agent_counter(ctx: AppContext) -> Any:
    store = routing_store(ctx)
    if store is None:
        return None

    async def counts() -> dict[str, int]:
        now = time.time()
        out = {"online": 0, "busy": 0, "away": 0, "offline": 0}
        for agent in await store.agents(now - 3 * ctx.config.routing.heartbeat_s):
            if not agent.connected or agent.status == "offline":
                out["offline"] += 1
            elif agent.status in ("away", "missed"):  # missed an offer: no new offers until they answer
                out["away"] += 1
            else:
                out["online"] += 1
                if agent.load > 0:
                    out["busy"] += 1
        return out

    return counts


async def live_queue(ctx: AppContext, reader: MetricsReader, now: float) -> dict[str, Any]:
    """Queue length / longest wait: the routing queue itself when present, else the event log."""
    store = routing_store(ctx)
    if store is not None:
        try:  # an offer not yet answered is a resident still waiting
            waits = [now - entry.waiting_since for entry in await store.waiting()]
            return {"queue_length": len(waits), "longest_wait_s": round(max(waits), 1) if waits else 0.0}
        except Exception:
            log.exception("reading the routing queue failed")
    return reader.agg.live(now)


def _parse_range(request: web.Request, today: date, default_days: int = 1) -> tuple[date, date]:
    try:
        end = date.fromisoformat(request.query["end"]) if request.query.get("end") else today
        start = (date.fromisoformat(request.query["start"]) if request.query.get("start")
                 else end - timedelta(days=default_days - 1))
    except ValueError as exc:
        raise web.HTTPBadRequest(
            text='{"error": {"code": "bad_date", "message": "start/end must be dates like 2025-01-31"}}',
            content_type="application/json") from exc
    if start > end or (end - start).days > MAX_RANGE_DAYS:
        raise web.HTTPBadRequest(
            text='{"error": {"code": "bad_range", "message": "start must not be after end (at most 10 years)"}}',
            content_type="application/json")
    return start, end


async def dashboard_payload(ctx: AppContext, reader: MetricsReader) -> dict[str, Any]:
    agg = await reader.refresh()
    now = time.time()
    agents = await reader.agents()
    data = dashboard(agg, reader.today(now), now, ctx.config.metrics.days, agents,
                     ctx.config.metrics.service_level_target)
    data["live"].update(await live_queue(ctx, reader, now))
    override = await _get_override(ctx)
    data["override"] = override
    data["poll_s"] = ctx.config.metrics.refresh_s
    return data


@API.get("/live")
async def live_api(request: web.Request) -> web.Response:
    lists = request.app[LIVE]
    if lists is None:
        return error(501, "not_available", "agent routing is not installed")
    return web.json_response(await lists.snapshot())


@API.get("/dashboard")
async def dashboard_api(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    return web.json_response(await dashboard_payload(ctx, request.app[READER]))


async def _report_rows(request: web.Request) -> tuple[str, date, date, list[dict[str, Any]]]:
    reader = request.app[READER]
    name = request.query.get("name") or request.query.get("report") or "daily"
    if name not in REPORTS:
        raise web.HTTPBadRequest(
            text=f'{{"error": {{"code": "bad_report", "message": "report must be one of {", ".join(REPORTS)}"}}}}',
            content_type="application/json")
    start, end = _parse_range(request, reader.today(), default_days=7 if name == "daily" else 1)
    ctx = request.app[CTX]
    tickets = ctx.tickets
    try:
        language = request.query.get("lang", "en")
        language = language if language in LANGUAGES else "en"
        rows = await report_rows(reader, name, start, end, ctx.config.metrics.top_n, tickets.store if tickets else None,
                                 service_names(tickets.catalogue if tickets else (), language, staff_texts()))
    except ValueError as exc:
        raise web.HTTPNotImplemented(text=json.dumps({"error": {"code": "not_available", "message": str(exc)}}),
                                     content_type="application/json") from exc
    return name, start, end, rows


@API.get("/report")
async def report_api(request: web.Request) -> web.Response:
    name, start, end, rows = await _report_rows(request)
    return web.json_response({"report": name, "start": start.isoformat(), "end": end.isoformat(), "rows": rows})


@API.get("/ratings", "supervisor", "content")
async def ratings_api(request: web.Request) -> web.Response:
    """What residents said of each article ("Was this helpful?") over the last `days` (30 by default): content
    staff see it beside their articles, so the role may read this one figure of the supervisors' reports."""
    reader = request.app[READER]
    try:
        days = int(request.query.get("days", "30"))
    except ValueError:
        days = 0
    if not 1 <= days <= reader.days:
        return error(400, "bad_days", f"days must be a whole number from 1 to {reader.days}")
    end = reader.today()
    start = end - timedelta(days=days - 1)
    bucket = (await reader.for_range(start, end)).range_bucket(start, end)
    return web.json_response({"start": start.isoformat(), "end": end.isoformat(), "days": days,
                              "articles": article_ratings(bucket)})


@API.get("/export.csv")
async def export_csv(request: web.Request) -> web.Response:
    """Headings in words in `?lang=` (en by default; the dashboard passes its own language), or the
    columns' keys with `?headings=keys` for scripts written against the raw names."""
    language = request.query.get("lang", "en")
    if language not in LANGUAGES:
        return error(400, "bad_language", f"lang must be one of {', '.join(LANGUAGES)}")
    form = request.query.get("headings", "words")
    if form not in ("words", "keys"):
        return error(400, "bad_headings", "headings must be words or keys")
    name, start, end, rows = await _report_rows(request)
    headings = csv_headings(rows, language, staff_texts()) if form == "words" else None
    filename = f"chat311-{name}-{start.isoformat()}-{end.isoformat()}.csv"
    return web.Response(text=to_csv(rows, headings), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


async def _get_override(ctx: AppContext) -> dict[str, Any] | None:
    store = routing_store(ctx)
    if store is None:
        return None
    try:
        current = await store.hours_override()
    except Exception:
        log.exception("reading the hours override failed")
        return None
    if current is None:
        return {"mode": None}
    return {"mode": current.mode, "until": current.until.timestamp(), "reason": current.reason, "by": current.by}


@API.get("/override")
async def override_get(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    state = await _get_override(ctx)
    if state is None:
        return error(501, "not_available", "staffed hours are not managed by this installation")
    return web.json_response(state)


@API.post("/override")
async def override_post(request: web.Request) -> web.Response:
    """Body {mode: "open"|"closed"|"clear"|null, minutes (or hours, older clients), reason?}: the same rule
    as the console and the CLI (chat_server/agents/override.py)."""
    from chat_server.agents.auth import AuditLog
    from chat_server.agents.override import HoursOverrides, OverrideError, parse_override

    ctx = request.app[CTX]
    store = routing_store(ctx)
    if store is None:
        return error(501, "not_available", "staffed hours are not managed by this installation")
    try:
        body = await request.json()
    except ValueError:
        return error(400, "bad_json", "body must be JSON")
    if not isinstance(body, dict):
        return error(400, "bad_json", "body must be a JSON object")
    try:
        override = parse_override(body.get("mode"), body.get("minutes"), body.get("reason"), hours=body.get("hours"))
    except OverrideError as exc:
        return error(400, f"bad_{exc.field}", exc.message)
    user = request[USER]
    await HoursOverrides(store, AuditLog(ctx.redis, ctx.config.redis.key_prefix)).apply(override, user.username)
    log.info("hours override", extra={"by": user.username, "mode": override.mode, "minutes": override.minutes})
    return web.json_response(await _get_override(ctx) or {"mode": None})


def prometheus_endpoint(reader: MetricsReader, target: float,
                        settings: MetricsConfig) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """GET /metrics: open to the Prometheus rules (loopback or the bearer token), else supervisors only."""
    collector = EventLogCollector(reader, target)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)

    async def metrics_endpoint(request: web.Request) -> web.Response:
        await reader.refresh()
        collector.agents = await reader.agents()
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    supervisor_metrics = require_role("supervisor")(metrics_endpoint)

    async def guarded_metrics(request: web.Request) -> web.StreamResponse:
        if prometheus_allowed(request.remote, "X-Forwarded-For" in request.headers,
                              request.headers.get("Authorization"), settings.prometheus_token,
                              settings.public_prometheus):
            return await metrics_endpoint(request)
        response = await supervisor_metrics(request)
        if response.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="chat311 metrics"'
        return response

    return guarded_metrics


def add_routes(app: web.Application, metrics: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
    API.add_to(app)
    app.router.add_get("/metrics", metrics)
    staff.setup_routes(app)
