"""Metrics feature module (wiring only): the event-log reader, the live lists, the dashboard's and
/metrics' routes (metrics/http.py), and a first read of the window in the background at startup."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from chat_server.context import AppContext
from chat_server.metrics import http
from chat_server.metrics.live import LiveLists
from chat_server.metrics.reader import MetricsReader
from chat_server.stopping import cancel_and_wait

log = logging.getLogger("chat311.metrics")


def setup(app: web.Application, ctx: AppContext) -> None:
    reader = MetricsReader.for_config(ctx.redis, ctx.config)
    reader.agent_counts = http.agent_counter(ctx)
    app[http.READER] = reader
    settings = ctx.config.metrics
    http.add_routes(app, http.prometheus_endpoint(reader, settings.service_level_target, settings))
    routing = http.routing_store(ctx)
    app[http.LIVE] = (LiveLists(ctx.redis, ctx.config.redis.key_prefix, ctx.store, routing,
                                ctx.config.routing.heartbeat_s) if routing is not None else None)

    async def warm(app: web.Application) -> AsyncIterator[None]:
        # The first read of the window happens in the background, not in a supervisor's request.
        async def run() -> None:
            try:
                await reader.refresh(force=True)
            except Exception:
                log.exception("initial metrics read failed")

        task = asyncio.create_task(run())
        yield
        await cancel_and_wait([task])

    app.cleanup_ctx.append(warm)
