"""The console's status action: POST /api/tickets/{id}/status {status, note} (agents, supervisors).

Signed-in console users with the agent role (supervisors and admins include it); the request must
carry the session's `X-CSRF-Token` like every console API call.
"""

from __future__ import annotations

import json

from aiohttp import web

from chat_server.metrics.access import USER, error, require_role
from chat_server.status.changes import Source, TicketStatusService
from chat_server.tickets.catalogue import TicketValidationError


class StaffStatusAPI:
    def __init__(self, status: TicketStatusService) -> None:
        self.status = status

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/tickets/{ticket_id}/status", require_role("agent")(self.change))

    async def change(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            return error(400, "malformed", "the body must be JSON {status, note}")
        if not isinstance(body, dict) or not isinstance(body.get("status"), str) \
                or not isinstance(body.get("note", ""), str | None):
            return error(400, "malformed", "status (a string) is required; note is optional text")
        try:
            change = await self.status.change(request.match_info["ticket_id"], body["status"], body.get("note"),
                                              Source.STAFF, request[USER].username)
        except TicketValidationError as exc:
            return error(exc.code, "not_found" if exc.code == 404 else "invalid", exc.description)
        return web.json_response({"service_request_id": change.ticket.id, "status": change.ticket.status,
                                  "sub_status": change.ticket.sub_status, "applied": change.applied})
