"""Status changes read back from the city's upstream Open311 server — a second process speaking
GeoReport v2 + servicerequestupdates (tests/support/georeport_upstream.py). A change is applied once (read
through both endpoints, and across a chat311 restart), an outage or a malformed reply changes
nothing, backs off, and shows in /readyz without making chat311 unready."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from chat_server.child_specs import free_port
from tests.support.channel_standins import bare_server
from tests.support.open311 import new_api_key
from tests.support.servers import ROOT
from tests.support.waiting import eventually


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.georeport_upstream", str(port)], cwd=ROOT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    async def up() -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{url}/admin/state") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    try:
        await eventually(up, timeout=20, what="upstream stand-in listening")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


async def test_upstream_changes_come_back_once_and_outages_back_off(redis_server: Any, upstream: str) -> None:
    server = await bare_server(
        redis_server.url, "status-upstream", CHAT311_TICKETS__UPSTREAM_URL=f"{upstream}/open311/v2",
        CHAT311_TICKETS__UPSTREAM_POLL_S="0.5", CHAT311_TICKETS__UPSTREAM_RETRY_BASE_S="0.2",
        CHAT311_STATUS__UPSTREAM_UPDATES="true", CHAT311_STATUS__UPSTREAM_BATCH_SIZE="2",
        CHAT311_STATUS__UPSTREAM_BACKOFF_MAX_S="2")
    redis = redis_server.client()
    p = server.prefix
    try:
        _, key = await asyncio.to_thread(new_api_key, redis_server, p)
        async with aiohttp.ClientSession() as http:
            ids = []
            for n in range(3):  # three tickets: two read-back batches of at most 2 ids
                async with http.post(f"{server.url}/open311/v2/requests.json", data={
                        "api_key": key, "service_code": "POTHOLE", "address_string": f"{n} Trade St",
                        "attribute[road_position]": "lane"}) as resp:
                    ids.append((await resp.json())[0]["service_request_id"])

            async def upstream_id(ticket_id: str) -> str | None:
                value = await redis.hget(f"{p}ticket:{ticket_id}", "upstream_id")
                return value.decode() if value else None

            up = [await eventually(lambda t=t: upstream_id(t), what="forwarded") for t in ids]

            async def history(ticket_id: str) -> list[dict[str, Any]]:
                return [json.loads(e) for e in await redis.lrange(f"{p}ticket:{ticket_id}:history", 0, -1)]

            async def readyz() -> dict[str, Any]:
                async with http.get(f"{server.url}/readyz") as resp:
                    return dict(await resp.json())

            # A malformed reply, then an outage: nothing changes, /readyz shows it (not required).
            async with http.post(f"{upstream}/admin/mode", json={"mode": "garbage"}):
                pass
            async with http.post(f"{upstream}/admin/change", json={
                    "id": up[0], "status": "closed", "update_status": "fixed", "note": "Patched by crew 7"}):
                pass
            health = await eventually(lambda: _failing(readyz), what="upstream failure in /readyz")
            assert health["required"] is False and "MalformedReply" in health["error"]
            assert len(await history(ids[0])) == 1
            async with http.post(f"{upstream}/admin/mode", json={"mode": "down"}):
                pass
            await eventually(lambda: _failing(readyz, "UpstreamDown: 2"), what="second failure counted")
            async with http.get(f"{upstream}/admin/state") as resp:
                reads_then = (await resp.json())["reads"]
            await asyncio.sleep(1.0)  # measuring the poll rate needs wall time: backoff means few reads
            async with http.get(f"{upstream}/admin/state") as resp:
                assert (await resp.json())["reads"] - reads_then <= 2

            # Back up, restart chat311 meanwhile: the change arrives, once, through both endpoints.
            await server.restart()
            async with http.post(f"{upstream}/admin/mode", json={"mode": "ok"}):
                pass

            async def resolved() -> list[dict[str, Any]] | None:
                entries = await history(ids[0])
                return entries if entries[-1]["sub_status"] == "resolved" else None

            entries = await eventually(resolved, what="upstream change applied")
            await eventually(lambda: _healthy(readyz), what="upstream healthy again")
            async with http.post(f"{upstream}/admin/change", json={
                    "id": up[2], "status": "open", "update_status": "in_progress", "note": "Crew on the way"}):
                pass
            await eventually(lambda: _has_sub(history, ids[2], "in_progress"), what="third ticket updated")
            entries = await history(ids[0])
            assert [(e["sub_status"], e["note"]) for e in entries] == [("submitted", None),
                                                                       ("resolved", "Patched by crew 7")]
            assert entries[-1]["by"].startswith("upstream:")
            assert not await redis.zscore(f"{p}outbox:tracked", ids[0])  # closed: no longer read back
            assert [e["sub_status"] for e in await history(ids[1])] == ["submitted"]
            third = await history(ids[2])
            assert [(e["sub_status"], e["note"]) for e in third] == [("submitted", None),
                                                                     ("in_progress", "Crew on the way")]
            jobs = await redis.xlen(f"{p}outbox:status")
            assert jobs <= 2  # one notification job per change (possibly sent and removed already)
    finally:
        await redis.aclose()
        await server.stop()


async def _failing(readyz: Any, fragment: str = "") -> dict[str, Any] | None:
    component = (await readyz())["components"].get("upstream")
    if component and not component["ok"] and fragment in component.get("error", ""):
        return dict(component)
    return None


async def _healthy(readyz: Any) -> bool:
    component = (await readyz())["components"].get("upstream")
    return bool(component and component["ok"])


async def _has_sub(history: Any, ticket_id: str, sub: str) -> bool:
    return (await history(ticket_id))[-1]["sub_status"] == sub
