"""The staff navigation bar's data and files (/static/staff/: nav.js, nav.css, api.js).

Every staff page (console, dashboard, content, training, incidents) includes the same nav.js,
which asks `/console/staff/api/me` who is signed in and which pages their role may open. The
page list and the role each page needs live here only, next to the same role check the pages
themselves use (Account.has_role), so the bar never links to a page that would answer 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from chat_server.metrics.access import current_user, error

STATIC = Path(__file__).resolve().parent.parent / "static" / "staff"


@dataclass(frozen=True)
class StaffPage:
    key: str
    label: str
    href: str
    roles: tuple[str, ...]  # any of these (admins may open every page but the console)

    def may_open(self, account: Any) -> bool:
        if self.key == "console":  # only people who take chats (the console sends others to their home page)
            return bool(account.takes_chats)
        return bool(account.has_role(*self.roles))


PAGES = (
    StaffPage("console", "Agent console", "/console", ("agent", "supervisor")),
    StaffPage("dashboard", "Dashboard", "/console/supervisor", ("supervisor",)),
    StaffPage("content", "Knowledge articles", "/console/content", ("content",)),
    StaffPage("training", "Bot training", "/console/training", ("content",)),
    StaffPage("incidents", "Incidents", "/console/incidents", ("supervisor", "content")),
)


async def me(request: web.Request) -> web.Response:
    """Who is signed in, their roles, and the pages they may open (any signed-in staff member)."""
    user, account = await current_user(request)
    if user is None:
        return error(401, "login_required", "log in to the console first")
    pages = [{"key": p.key, "label": p.label, "href": p.href} for p in PAGES if p.may_open(account)]
    return web.json_response({"username": user.username, "name": user.name, "roles": user.roles,
                              "csrf": user.csrf, "pages": pages})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/console/staff/api/me", me)
    app.router.add_static("/static/staff/", STATIC, show_index=False, append_version=False)
