"""`/healthz` (the process is alive) and `/readyz` (it can serve: Redis and a Rasa server reachable).

Features may add informational components under `ctx.readiness_details` (name → async check):
they appear in /readyz with `"required": false` and never make the service unready.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from aiohttp import web

from chat_server import redis_connect
from chat_server.context import CTX, AppContext


async def _timed(check: Any) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(2.0):
            detail = await check()
        out: dict[str, Any] = {"ok": True}
        if isinstance(detail, dict):
            out.update(detail)
    except Exception as exc:  # any failure means "not ready", reported by name
        out = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
    out["latency_ms"] = round((time.perf_counter() - start) * 1000, 1)
    return out


async def readiness(ctx: AppContext) -> dict[str, dict[str, Any]]:
    async def redis_check() -> dict[str, Any]:
        # With Sentinel: which master we are on, or why there is none (unknown name, no Sentinel).
        return await redis_connect.check(ctx.redis)

    async def rasa_check() -> dict[str, Any]:
        # Ready while one Rasa server answers (turns go to it); each server is listed with its state.
        servers = await ctx.bot.check_all()
        up = [s for s in servers if s["ok"]]
        out: dict[str, Any] = {"ok": bool(up), "servers": servers, "model": up[0]["model"] if up else ""}
        if not up:
            out["error"] = "no Rasa server answers: " + ", ".join(f"{s['url']} ({s['error']})" for s in servers)
        return out

    async def actions_check() -> dict[str, Any]:
        base = ctx.config.rasa.actions_url.rstrip("/")
        if not base:
            return {"checked": False}
        async with aiohttp.ClientSession() as session, session.get(f"{base}/health") as resp:
            resp.raise_for_status()
        return {}

    names = ["redis", "rasa", "actions"]
    results = await asyncio.gather(_timed(redis_check), _timed(rasa_check), _timed(actions_check))
    components = dict(zip(names, results, strict=True))
    # Features add informational components (e.g. the upstream Open311 server): shown, not required.
    details = ctx.readiness_details
    for name, result in zip(details, await asyncio.gather(*(_timed(c) for c in details.values())), strict=True):
        components[name] = {**result, "required": False}
    return components


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    components = await readiness(request.app[CTX])
    ok = all(c["ok"] for c in components.values() if c.get("required", True))
    return web.json_response({"status": "ready" if ok else "not_ready", "components": components},
                             status=200 if ok else 503)


def setup(app: web.Application, ctx: AppContext) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
