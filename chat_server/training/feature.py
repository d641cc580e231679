"""Training feature module (wiring only): the training service, its bus subscriptions and the content
staff page's routes (training/http.py)."""

from __future__ import annotations

from aiohttp import web

from chat_server.context import AppContext
from chat_server.training import http
from chat_server.training.service import Training


def setup(app: web.Application, ctx: AppContext) -> None:
    svc = Training(ctx.redis, ctx.config, ctx.store)
    app[http.TRAINING] = svc
    ctx.bus.subscribe("fallback", svc.on_fallback)
    ctx.bus.subscribe("bot_answered", svc.on_bot_answered)
    ctx.bus.subscribe("kb_feedback", svc.on_kb_feedback)
    ctx.bus.subscribe("kb_menu_rejected", svc.on_menu_rejected)
    http.add_routes(app)
