"""A city's upstream Open311 server for tests, run as its own process:
`python -m tests.support.georeport_upstream PORT`.

Speaks GeoReport v2 (POST/GET requests.json) plus FixMyStreet's `servicerequestupdates.xml`.
Test controls (not GeoReport): POST /admin/change {id, status (open|closed), update_status (FMS
status), note} changes a request and records an update; POST /admin/mode {mode: ok|down|garbage}
makes reads answer 503 or a non-GeoReport body.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

requests: dict[str, dict[str, Any]] = {}
updates: list[dict[str, str]] = []
state = {"mode": "ok", "reads": 0}


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


async def create(request: web.Request) -> web.Response:
    form = await request.post()
    rid = f"UP-{len(requests) + 1}"
    requests[rid] = {"service_request_id": rid, "status": "open", "status_notes": None,
                     "service_code": form.get("service_code"), "requested_datetime": now(), "updated_datetime": now()}
    return web.json_response([{"service_request_id": rid}], status=201)


def _read_guard() -> web.Response | None:
    state["reads"] += 1
    if state["mode"] == "down":
        return web.Response(status=503, text="maintenance")
    if state["mode"] == "garbage":
        return web.Response(text="<html>upgrade in progress</html>", content_type="text/html")
    return None


async def query(request: web.Request) -> web.Response:
    if (blocked := _read_guard()) is not None:
        return blocked
    ids = [i for i in request.query.get("service_request_id", "").split(",") if i]
    return web.json_response([requests[i] for i in ids if i in requests])


async def service_request_updates(request: web.Request) -> web.Response:
    if (blocked := _read_guard()) is not None:
        return blocked
    start = datetime.fromisoformat(request.query["start_date"])
    rows = "".join(
        "<request_update>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in u.items()) + "</request_update>"
        for u in updates if datetime.fromisoformat(u["updated_datetime"]) >= start)
    body = f'<?xml version="1.0" encoding="utf-8"?><service_request_updates>{rows}</service_request_updates>'
    return web.Response(text=body, content_type="text/xml")


async def change(request: web.Request) -> web.Response:
    data = await request.json()
    row = requests[data["id"]]
    row.update(status=data["status"], status_notes=data.get("note"), updated_datetime=now())
    updates.append({"update_id": str(len(updates) + 1), "service_request_id": data["id"],
                    "status": data["update_status"], "updated_datetime": now(), "description": data.get("note") or ""})
    return web.json_response(row)


async def mode(request: web.Request) -> web.Response:
    state["mode"] = (await request.json())["mode"]
    return web.json_response(state)


async def reads(request: web.Request) -> web.Response:
    return web.json_response(state)


def main() -> None:
    app = web.Application()
    app.router.add_post("/open311/v2/requests.json", create)
    app.router.add_get("/open311/v2/requests.json", query)
    app.router.add_get("/open311/v2/servicerequestupdates.xml", service_request_updates)
    app.router.add_post("/admin/change", change)
    app.router.add_post("/admin/mode", mode)
    app.router.add_get("/admin/state", reads)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)


if __name__ == "__main__":
    main()
