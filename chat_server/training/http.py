"""The content staff page `/console/training` and its API: the handlers (training/feature.py wires them;
see docs/supervision.md).

Routes (role `content`; POSTs need the X-CSRF-Token header):
- GET  /console/training                         the page
- GET  /console/training/api/me                  who is logged in + CSRF token
- GET  /console/training/api/inbox               open inbox items + labels (the plain intents) + their names
- POST /console/training/api/inbox/{id}/label    {label}: add the message as an example of an intent
- POST /console/training/api/inbox/{id}/dismiss
- POST /console/training/api/train               start "Train & test" in the background
- GET  /console/training/api/job                 progress and before/after scores
- POST /console/training/api/publish             hot-swap the trained model into every Rasa server
                                                 (`servers: [{url, ok, error}]` names any that failed)
- POST /console/training/api/rollback            back to the model the last publish replaced (same `servers`)
- GET  /console/training/api/models              served model, each server's model, publish history
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from chat_server.metrics.access import USER, Handler, StaffApi, error, json_object
from chat_server.training.data import DataError
from chat_server.training.jobs import Busy, PublishError, TrainingJobs
from chat_server.training.label_names import readable
from chat_server.training.service import Training

log = logging.getLogger("chat311.training")
STATIC = Path(__file__).resolve().parent.parent / "static" / "training"
API = StaffApi("/console/training", STATIC, "content")


TRAINING: web.AppKey[Training] = web.AppKey("training", Training)


def _svc(request: web.Request) -> Training:
    return request.app[TRAINING]


@API.get("/inbox")
async def inbox_list(request: web.Request) -> web.Response:
    svc = _svc(request)
    items = await svc.inbox.open_items()
    labels = svc.data.labels()
    return web.json_response({"items": [i.public() for i in items], "labels": labels,
                              "label_names": {label: readable(label, svc.label_names) for label in labels}})


async def _item(request: web.Request) -> Any:
    item = await _svc(request).inbox.get(request.match_info["id"])
    if item is None:
        raise web.HTTPNotFound(text='{"error": {"code": "not_found", "message": "no such inbox item"}}',
                               content_type="application/json")
    return item


@API.post("/inbox/{id}/label")
async def label_item(request: web.Request) -> web.Response:
    svc, item, body = _svc(request), await _item(request), await json_object(request)
    label = str(body.get("label") or "")
    language = str(body.get("language") or item.language)
    try:
        path = svc.data.add_example(label, item.text, language)
    except DataError as exc:
        return error(400, "bad_label", str(exc))
    await svc.inbox.resolve(item.id, "labelled", label, request[USER].username)
    log.info("inbox item labelled", extra={"label": label, "by": request[USER].username})
    return web.json_response({"ok": True, "label": label, "file": path.name})


@API.post("/inbox/{id}/dismiss")
async def dismiss_item(request: web.Request) -> web.Response:
    svc, item = _svc(request), await _item(request)
    await svc.inbox.resolve(item.id, "dismissed", "", request[USER].username)
    return web.json_response({"ok": True})


@API.post("/train")
async def train(request: web.Request) -> web.Response:
    try:
        job = await _svc(request).jobs.start(request[USER].username)
    except Busy as exc:
        return error(409, "busy", str(exc))
    return web.json_response(job, status=202)


@API.get("/job")
async def job_state(request: web.Request) -> web.Response:
    return web.json_response(await _svc(request).jobs.job())


def _switch_model(switch: Callable[[TrainingJobs, str], Awaitable[dict[str, Any]]], failed: str) -> Handler:
    """Publish and rollback are the same request to a different switch; a refusal is a 409 `failed`."""

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            entry = await switch(_svc(request).jobs, request[USER].username)
        except PublishError as exc:
            return error(409, failed, str(exc))
        return web.json_response(entry)

    return handler


publish = API.post("/publish")(_switch_model(TrainingJobs.publish, "publish_failed"))
rollback = API.post("/rollback")(_switch_model(TrainingJobs.rollback, "rollback_failed"))


@API.get("/models")
async def models(request: web.Request) -> web.Response:
    jobs = _svc(request).jobs
    servers = await jobs.servers_status()
    served = next((s["model_file"] for s in servers if s["ok"]), None)
    if served is None:
        log.warning("rasa status failed", extra={"servers": servers})
    return web.json_response({"served": served, "servers": servers, "history": await jobs.history()})


def add_routes(app: web.Application) -> None:
    API.add_to(app)
