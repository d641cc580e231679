"""HTTP side of the agent console: login/logout pages, the console page and its static files.

No inline scripts anywhere (CSP `script-src 'self'`); the login page is rendered server-side
with every value HTML-escaped, in English; the staff pages' i18n.js then puts it in the browser's
or the chosen language (its words are keys of staff_texts.yml). Login is throttled per (IP, username);
the form carries a double-submit CSRF token because there is no session yet, logout carries the session's own.
"""

from __future__ import annotations

import html
import secrets
import time
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from chat_server.agents.accounts import Account, AccountStore
from chat_server.agents.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    AgentSession,
    AuditLog,
    LoginThrottle,
    SessionStore,
    tokens_equal,
)
from chat_server.agents.search import ConversationSearch, SearchError, parse_query
from chat_server.config import PROJECT_ROOT
from chat_server.context import CTX
from chat_server.sanitize import client_ip
from chat_server.staff_texts import staff_texts

ResponseT = TypeVar("ResponseT", bound=web.StreamResponse)
STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "console"
# The socket.io browser client: our own build (chat_server/static/console/dist) or the widget's copy.
SOCKET_IO_CANDIDATES = (
    STATIC_DIR / "dist" / "socket.io.min.js",
    PROJECT_ROOT / "widget" / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js",
)
STATIC_FILES = {"console.js": "application/javascript", "console.css": "text/css"}

SESSIONS: web.AppKey[SessionStore] = web.AppKey("agent_sessions", SessionStore)
ACCOUNTS: web.AppKey[AccountStore] = web.AppKey("agent_accounts", AccountStore)
THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("login_throttle", LoginThrottle)
AUDIT: web.AppKey[AuditLog] = web.AppKey("agent_audit", AuditLog)
SEARCH: web.AppKey[ConversationSearch] = web.AppKey("console_search", ConversationSearch)

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title data-i18n="login.title">chat311 agent console — sign in</title>
<link rel="stylesheet" href="/console/static/console.css">
<script src="/static/staff/i18n.js" defer></script></head>
<body class="login"><main class="login-box">
<div class="login-lang" data-staff-lang></div>
<h1 data-i18n="login.heading">chat311 agent console</h1>
{message}
<form method="post" action="/console/login" autocomplete="on">
<input type="hidden" name="csrf" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<label for="username" data-i18n="login.username">Username</label>
<input id="username" name="username" autocomplete="username" required maxlength="40" value="{username}"{user_focus}>
<label for="password" data-i18n="login.password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required
 maxlength="200"{pass_focus}>
<button type="submit" data-i18n="login.submit">Sign in</button>
</form></main></body></html>
"""


def _set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str, max_age: int) -> None:
    secure = request.app[CTX].config.server.public_url.startswith("https://")
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Strict", secure=secure, path="/")


async def current_session(request: web.Request) -> AgentSession | None:
    return await request.app[SESSIONS].get(request.cookies.get(SESSION_COOKIE))


def _no_store(response: ResponseT) -> ResponseT:
    response.headers["Cache-Control"] = "no-store"
    return response


def _login_page(request: web.Request, message: str = "", username: str = "", status: int = 200,
                next_path: str = "") -> web.Response:
    """`message` is a key of staff_texts.yml (login.*): English here, the page's language in the browser."""
    csrf = secrets.token_urlsafe(24)
    # After a refusal the name is kept: the password is what to type again (focus went to the name, probe S).
    body = LOGIN_PAGE.format(
        csrf=html.escape(csrf), username=html.escape(username), next=html.escape(next_path),
        user_focus="" if username else " autofocus", pass_focus=" autofocus" if username else "",
        message=(f'<p class="error" role="alert" data-i18n="{html.escape(message)}">'
                 f'{html.escape(staff_texts()[message]["en"])}</p>') if message else "",
    )
    response = web.Response(text=body, content_type="text/html", status=status)
    _set_cookie(response, request, LOGIN_CSRF_COOKIE, csrf, 3600)
    return _no_store(response)


def home_for(account: Account) -> str:
    """Where a signed-in user lands. The agent console serves only people who take chats: sending a
    content-only or admin-only user there bounced between it and the login page forever. A supervisor who is not
    also an agent lands on the dashboard: landing on the console set them Online, and chats were offered to
    someone watching the dashboard (probe S); they can still open the console to take chats."""
    if "agent" in account.roles:
        return "/console"
    if account.has_role("supervisor"):
        return "/console/supervisor"
    return "/console/training"


def safe_next(value: object) -> str:
    """A staff page to return to after sign-in: only this site's /console pages (no open redirect)."""
    path = str(value or "")
    if not path.startswith("/console/") or path.startswith("/console/login") or "//" in path or "\\" in path:
        return ""
    return path if len(path) <= 300 and path.isprintable() else ""


async def _signed_in(request: web.Request) -> Account | None:
    session = await current_session(request)
    account = await request.app[ACCOUNTS].get(session.username) if session else None
    return None if account is None or account.disabled else account


async def login_get(request: web.Request) -> web.StreamResponse:
    account = await _signed_in(request)
    if account is not None:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")) or home_for(account))
    return _login_page(request, next_path=safe_next(request.query.get("next")))


async def login_post(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    form = await request.post()
    username = str(form.get("username", "")).strip().lower()[:40]
    next_path = safe_next(form.get("next"))
    password = str(form.get("password", ""))[:200]
    if not tokens_equal(str(form.get("csrf", "")), request.cookies.get(LOGIN_CSRF_COOKIE)):
        return _login_page(request, "login.expired", username, 400, next_path)
    ip = client_ip({"aiohttp.request": request}, ctx.config.server.forwarded_hops())
    throttle, audit = request.app[THROTTLE], request.app[AUDIT]
    if not await throttle.reserve(ip, username):
        await audit.record(username or "?", "login_throttled", ip=ip)
        return _login_page(request, "login.throttled", username, 429, next_path)
    account = await request.app[ACCOUNTS].verify(username, password)
    if account is None:
        await audit.record(username or "?", "login_failed", ip=ip)
        return _login_page(request, "login.failed", username, 401, next_path)
    await throttle.succeeded(ip, username)
    token, _ = await request.app[SESSIONS].create(account.username)
    await audit.record(account.username, "login", ip=ip)
    response = web.HTTPSeeOther(next_path or home_for(account))
    _set_cookie(response, request, SESSION_COOKIE, token, ctx.config.console.session_ttl_s)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    session = await current_session(request)
    form = await request.post()
    if session is not None:
        if not tokens_equal(str(form.get("csrf", "")), session.csrf):
            return web.json_response({"error": {"code": "csrf", "message": "invalid CSRF token"}}, status=403)
        await request.app[SESSIONS].delete(session)
        await request.app[AUDIT].record(session.username, "logout")
    response = web.HTTPSeeOther("/console/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


async def console_page(request: web.Request) -> web.StreamResponse:
    account = await _signed_in(request)
    if account is None:
        raise web.HTTPSeeOther("/console/login")
    if not account.takes_chats:
        raise web.HTTPSeeOther(home_for(account))
    return _no_store(web.FileResponse(STATIC_DIR / "index.html"))


async def me(request: web.Request) -> web.StreamResponse:
    session = await current_session(request)
    account = await request.app[ACCOUNTS].get(session.username) if session else None
    if session is None or account is None or account.disabled:
        return web.json_response({"error": {"code": "unauthorized", "message": "please log in"}}, status=401)
    return _no_store(web.json_response({**account.public(), "csrf": session.csrf}))


async def search(request: web.Request) -> web.StreamResponse:
    """GET /console/api/search?ticket=&phone=&email=&date=YYYY-MM-DD&agent= (search.py says who sees what)."""
    account = await _signed_in(request)
    if account is None:
        return web.json_response({"error": {"code": "unauthorized", "message": "please log in"}}, status=401)
    try:
        query = parse_query({k: v[:200] for k, v in request.query.items()})
        found = await request.app[SEARCH].search(account, query, time.time())
    except SearchError as exc:
        return web.json_response({"error": exc.as_dict()},
                                 status=403 if exc.code == "forbidden" else 400)
    await request.app[AUDIT].record(account.username, "search", fields=sorted(
        k for k in ("ticket", "phone", "email", "date", "agent") if request.query.get(k)))
    return _no_store(web.json_response(found))


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name == "socket.io.min.js":
        for candidate in SOCKET_IO_CANDIDATES:
            if candidate.is_file():
                return web.FileResponse(candidate, headers={"Content-Type": "application/javascript"})
        return web.json_response({"error": {"code": "not_built", "message": "run the console build (npm ci)"}},
                                 status=503)
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC_DIR / name, headers={"Content-Type": STATIC_FILES[name],
                                                        "Cache-Control": "no-cache"})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/console", console_page)
    app.router.add_get("/console/", console_page)
    app.router.add_get("/console/login", login_get)
    app.router.add_post("/console/login", login_post)
    app.router.add_post("/console/logout", logout)
    app.router.add_get("/console/api/me", me)
    app.router.add_get("/console/api/search", search)
    app.router.add_get("/console/static/{name}", static_file)
