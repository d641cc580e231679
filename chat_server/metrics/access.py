"""Who may see the supervisor dashboard and the training page: one check, used by every handler.

Console logins belong to the agents module (accounts, roles, session cookie, CSRF token). This
module only asks it "whose session is this?" — through the agents module's SessionStore and
AccountStore — and enforces the role: `supervisor` for the dashboard and reports, `content`
for the training page (admins may do both). Page requests without a session are sent to the
console login; API requests get a JSON 401/403. State-changing API calls must echo the
session's CSRF token in the `X-CSRF-Token` header.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from chat_server.context import CTX
from chat_server.metrics.staff_page import page_html

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOGIN_PATH = "/console/login"


@dataclass
class ConsoleUser:
    username: str
    name: str
    roles: list[str]
    csrf: str

    def public(self) -> dict[str, Any]:
        return {"username": self.username, "name": self.name, "roles": self.roles, "csrf": self.csrf}


USER: web.RequestKey[ConsoleUser] = web.RequestKey("chat311_console_user", ConsoleUser)


def prometheus_allowed(remote: str | None, proxied: bool, authorization: str | None, token: str,
                       public: bool) -> bool:
    """Whether a `/metrics` request may be served without a console session.

    A request that came through a reverse proxy (it carries X-Forwarded-For) is never taken as a
    loopback caller: behind nginx on the same host every visitor would otherwise look local.
    """
    if public:
        return True
    if token and authorization is not None:
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode()):
            return True
    if proxied or not remote:
        return False
    try:
        return ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def json_object(request: web.Request) -> dict[str, Any]:
    """A staff API's request body, which must be a JSON object; anything else is refused with 400."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": {"code": "bad_json", "message": "body must be a JSON object"}}',
                                 content_type="application/json")
    return body


async def current_user(request: web.Request) -> tuple[ConsoleUser | None, Any]:
    """(user, account) for the request's console session cookie, or (None, None)."""
    from chat_server.agents.accounts import AccountStore
    from chat_server.agents.auth import SESSION_COOKIE, SessionStore

    ctx = request.app[CTX]
    prefix = ctx.config.redis.key_prefix
    sessions = SessionStore(ctx.redis, prefix, ctx.config.console.session_ttl_s)
    session = await sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None, None
    account = await AccountStore(ctx.redis, prefix).get(session.username)
    if account is None or account.disabled:
        return None, None
    return ConsoleUser(account.username, account.name, list(account.roles), session.csrf), account


def require_role(*roles: str, api: bool = True) -> Callable[[Handler], Handler]:
    """Decorator: the handler runs only for a logged-in console user with one of `roles` (or admin)."""
    needed = " or ".join(roles)

    def wrap(handler: Handler) -> Handler:
        @wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            user, account = await current_user(request)
            if user is None:
                if api:
                    return error(401, "login_required", "log in to the console first")
                raise web.HTTPFound(f"{LOGIN_PATH}?next={quote(request.path_qs, safe='')}")
            if not account.has_role(*roles):
                if api:
                    return error(403, "forbidden", f"this needs the {needed} role")
                return web.Response(status=403, text=f"Forbidden: this page needs the {needed} role.",
                                    content_type="text/plain")
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                from chat_server.agents.auth import tokens_equal

                if not tokens_equal(request.headers.get("X-CSRF-Token"), user.csrf):
                    return error(403, "csrf", "missing or wrong X-CSRF-Token header")
            request[USER] = user
            return await handler(request)

        return checked

    return wrap


class StaffApi:
    """One staff page and its JSON API, with the page's role check stated once.

    `@API.get("/inbox")` / `@API.post("/inbox/{id}/label")` put a handler behind `require_role` (the
    page's roles, or the ones named instead: the incidents page adds agents for the current notice) and
    remember it at `<path>/api/inbox`, next to the handler. `add_to(app)` adds what every staff page
    has: the page (its file in the shared frame, metrics/staff_page.py), `<path>/api/me` and the
    page's static files; then each API route, in the order the handlers are defined."""

    def __init__(self, path: str, static: Path, *roles: str) -> None:
        self.path = path
        self.static = static
        self.roles = roles
        self._routes: list[tuple[str, str, Handler]] = []

    def get(self, sub: str, *roles: str) -> Callable[[Handler], Handler]:
        return self._route("GET", sub, roles)

    def post(self, sub: str, *roles: str) -> Callable[[Handler], Handler]:
        return self._route("POST", sub, roles)

    def _route(self, method: str, sub: str, roles: tuple[str, ...]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            checked = require_role(*(roles or self.roles))(handler)
            self._routes.append((method, f"{self.path}/api{sub}", checked))
            return checked

        return register

    def add_to(self, app: web.Application) -> None:
        roles = self.roles
        html = page_html(self.static / "index.html")

        @require_role(*roles, api=False)
        async def page(request: web.Request) -> web.StreamResponse:
            return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-cache"})

        @require_role(*roles)
        async def me(request: web.Request) -> web.StreamResponse:
            return web.json_response(request[USER].public())

        app.router.add_get(self.path, page)
        app.router.add_get(f"{self.path}/api/me", me)
        app.router.add_static(f"/static/{self.static.name}/", self.static, show_index=False, append_version=False)
        for method, path, handler in self._routes:
            if method == "GET":
                app.router.add_get(path, handler)
            else:
                app.router.add_post(path, handler)
