"""Staff HTTP for incidents: the page and its JSON API (roles supervisor or content).

Routes (POSTs need the X-CSRF-Token header):
- GET  /console/incidents                  the page
- GET  /console/incidents/api/me           who is logged in + CSRF token
- GET  /console/incidents/api/current      the live notices (agents too: the console shows them)
- GET  /console/incidents/api/incidents    recent incidents (live, scheduled, ended) with their figures
- POST /console/incidents/api/incidents    post one: {title{en,es}, message{en,es}, url?, phrases,
                                           starts_at?, ends_at (epoch s), extend_hours?}
- POST /console/incidents/api/incidents/{id}       correct a live or scheduled one (the same fields; a begun
                                           notice keeps its start)
- POST /console/incidents/api/incidents/{id}/end   end it now
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from chat_server.incidents.model import IncidentError
from chat_server.incidents.service import IncidentService
from chat_server.metrics.access import USER, StaffApi, error

STATIC = Path(__file__).resolve().parent.parent / "static" / "incidents"
SERVICE: web.AppKey[IncidentService] = web.AppKey("chat311_incidents", IncidentService)
ROLES = ("supervisor", "content")
API = StaffApi("/console/incidents", STATIC, *ROLES)
MAX_BODY = 16 * 1024


def _refused(exc: IncidentError) -> web.Response:
    if exc.message == "no such incident":
        return error(404, "not_found", exc.message)
    return web.json_response({"error": {"code": "invalid", "field": exc.field, "message": exc.message}},
                             status=400)


async def _json(request: web.Request) -> Any:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise IncidentError("incident", f"the request is larger than {MAX_BODY // 1024} KB")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise IncidentError("incident", "the body must be JSON (UTF-8)") from exc


@API.get("/current", "agent", *ROLES)
async def current_incident(request: web.Request) -> web.Response:
    """The live notices for the agent console, newest first (`incidents`), and the newest alone (`incident`, the
    web banner): titles and the notice text in both languages. With three live, an agent saw only the newest
    while residents asked about another (probe Y)."""
    live = [{"id": i.id, "title": i.title, "notice": {lang: i.notice_text(lang) for lang in ("en", "es")}}
            for i in request.app[SERVICE].live()]
    return web.json_response({"incident": live[0] if live else None, "incidents": live})


@API.get("/incidents")
async def list_incidents(request: web.Request) -> web.Response:
    return web.json_response({"incidents": await request.app[SERVICE].overview()})


@API.post("/incidents")
async def post_incident(request: web.Request) -> web.Response:
    try:
        user = request[USER]
        incident = await request.app[SERVICE].post(await _json(request), user.username,
                                                   may_extend_hours=_supervises(user.roles))
    except IncidentError as exc:
        return _refused(exc)
    return web.json_response({"incident": incident.to_dict()}, status=201)


@API.post("/incidents/{id}")
async def revise_incident(request: web.Request) -> web.Response:
    try:
        user = request[USER]
        incident = await request.app[SERVICE].revise(request.match_info["id"], await _json(request), user.username,
                                                     may_extend_hours=_supervises(user.roles))
    except IncidentError as exc:
        return _refused(exc)
    return web.json_response({"incident": incident.to_dict()})


@API.post("/incidents/{id}/end")
async def end_incident(request: web.Request) -> web.Response:
    try:
        incident = await request.app[SERVICE].end(request.match_info["id"], request[USER].username)
    except IncidentError as exc:
        return _refused(exc)
    return web.json_response({"incident": incident.to_dict()})


def _supervises(roles: Iterable[str]) -> bool:
    return bool({"supervisor", "admin"} & set(roles))


def add_routes(app: web.Application) -> None:
    API.add_to(app)
