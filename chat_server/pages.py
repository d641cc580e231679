"""Static pages: the demo city homepage at `/`, the built widget at `/widget.js`, an empty favicon, and the
staff pages' interface copy at `/staff/texts.json` (staff_texts.yml, checked when the server starts)."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from chat_server.config import PROJECT_ROOT
from chat_server.context import AppContext
from chat_server.staff_texts import LANGUAGES, staff_texts

WIDGET_DIST = PROJECT_ROOT / "widget" / "dist"
DEMO_DIR = PROJECT_ROOT / "widget" / "demo"


def _file(path: Path, what: str) -> web.StreamResponse:
    if not path.is_file():
        return web.json_response(
            {"error": {"code": "not_built", "message": f"{what} is missing; run `make run` to build it"}}, status=503
        )
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


async def index(request: web.Request) -> web.StreamResponse:
    return _file(DEMO_DIR / "index.html", "the demo page")


async def widget_js(request: web.Request) -> web.StreamResponse:
    return _file(WIDGET_DIST / "widget.js", "the widget bundle")


def _safe_child(base: Path, name: str) -> Path | None:
    target = (base / name).resolve()
    return target if target.is_relative_to(base.resolve()) and target.is_file() else None


async def demo_file(request: web.Request) -> web.StreamResponse:
    target = _safe_child(DEMO_DIR, request.match_info["name"])
    return web.FileResponse(target) if target else web.HTTPNotFound()


async def widget_file(request: web.Request) -> web.StreamResponse:
    target = _safe_child(WIDGET_DIST, request.match_info["name"])
    return web.FileResponse(target) if target else web.HTTPNotFound()


async def favicon(request: web.Request) -> web.StreamResponse:
    """Browsers ask every page's host for /favicon.ico; an empty answer keeps a 404 out of every console."""
    return web.Response(status=204, headers={"Cache-Control": "max-age=86400"})


def staff_texts_handler(body: str) -> Handler:
    """UI copy only (no data), so public: the sign-in page needs it before anyone is signed in."""
    async def serve_staff_texts(request: web.Request) -> web.StreamResponse:
        return web.Response(text=body, content_type="application/json", headers={"Cache-Control": "no-cache"})
    return serve_staff_texts


def setup(app: web.Application, ctx: AppContext) -> None:
    body = json.dumps({"languages": list(LANGUAGES), "texts": staff_texts()}, ensure_ascii=False)
    app.router.add_get("/staff/texts.json", staff_texts_handler(body))
    app.router.add_get("/", index)
    app.router.add_get("/widget.js", widget_js)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/demo/{name:.+}", demo_file)
    app.router.add_get("/widget/{name:.+}", widget_file)
