"""Knowledge base: time for one article edit to go live in a second process (goal ≤ 5 s).

Starts embedded Redis and two `chat311 serve` processes on it (no Rasa), waits until both have
loaded the knowledge base, then publishes ROUNDS edits of one article's Spanish answer on process A
through the content page API and polls process B's search (the same test endpoint the content
page uses, 50 ms apart) until B answers with the new text. Prints a table and one JSON line:
{"kb_live": {"publish_to_live_s": {p50, max, n}, "publish_request_s": {p50, max}, "load_s": …}}.

Run: `python -m bench.kb_live` (part of `make bench` once bench/kb.py calls `kb_live.run(redis_url)`).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bench.__main__ import LOG_DIR, Server
from chat_server.agents.accounts import Account, AccountStore
from chat_server.agents.auth import SESSION_COOKIE, SessionStore
from chat_server.child_specs import embedded_redis_spec, free_port
from chat_server.process_supervisor import Supervisor

ROUNDS = 5
ARTICLE = "water-bill-pay"
POLL_S = 0.05
PREFIX = "bench-kblive:"


async def _session(redis_url: str) -> tuple[str, str]:
    redis = aioredis.from_url(redis_url)
    try:
        accounts = AccountStore(redis, PREFIX)
        if await accounts.get("bench-content") is None:
            await accounts.create(Account("bench-content", "Bench", ["content"]), "bench password 123")
        token, session = await SessionStore(redis, PREFIX, 3600).create("bench-content")
        return token, session.csrf
    finally:
        await redis.aclose()


async def _wait_loaded(http: aiohttp.ClientSession, server: Server) -> float:
    start = time.monotonic()
    while time.monotonic() - start < 300:
        async with http.get(f"{server.url}/console/content/api/status") as r:
            state = (await r.json())["state"]
        if state == "ready":
            return time.monotonic() - start
        if state == "failed":
            raise SystemExit(f"bench: {server.name}: knowledge base failed; see {LOG_DIR}")
        await asyncio.sleep(0.2)
    raise SystemExit(f"bench: {server.name}: knowledge base not ready")


async def run(redis_url: str) -> dict[str, Any]:
    servers = []
    for name in ("kblive-a", "kblive-b"):
        port = free_port()
        servers.append(Server(name, port, {
            **os.environ, "REDIS_URL": redis_url, "CHAT311_SERVER__PORT": str(port),
            "CHAT311_SERVER__HOST": "127.0.0.1",
            "CHAT311_RASA__URL": f"http://127.0.0.1:{free_port()}", "CHAT311_RASA__MANAGE": "false",
            "CHAT311_REDIS__KEY_PREFIX": f"'{PREFIX}'", "CHAT311_LOGGING__LEVEL": "WARNING"}))
    a, b = servers
    token, csrf = await _session(redis_url)
    headers = {"X-CSRF-Token": csrf}
    try:
        for server in servers:
            await server.start()
        async with aiohttp.ClientSession(cookies={SESSION_COOKIE: token}) as http:
            load = [await _wait_loaded(http, s) for s in servers]
            api_a, api_b = f"{a.url}/console/content/api", f"{b.url}/console/content/api"
            async with http.get(f"{api_a}/articles/{ARTICLE}") as r:
                current = await r.json()
            question = current["data"]["questions"]["es"][0]
            live, request = [], []
            for i in range(ROUNDS):
                text = f"Pague en https://www.charlottenc.gov/Water (prueba de publicación {i} {time.time():.0f})."
                data = {**current["data"], "answer": {**current["data"]["answer"], "es": text}}
                start = time.monotonic()
                async with http.post(f"{api_a}/articles/{ARTICLE}", json={"base_version": current["version"],
                                                                           "data": data}, headers=headers) as r:
                    saved = await r.json()
                    assert r.status == 200, saved
                request.append(time.monotonic() - start)
                current = {"version": saved["version"], "data": saved["data"]}
                while True:
                    async with http.post(f"{api_b}/test", json={"text": question, "lang": "es"}, headers=headers) as r:
                        decision = (await r.json())["decision"]
                    if decision.get("article", {}).get("answer") == text:
                        break
                    if time.monotonic() - start > 30:
                        raise SystemExit("bench: edit not live in process B after 30 s")
                    await asyncio.sleep(POLL_S)
                live.append(time.monotonic() - start)
    finally:
        for server in servers:
            await server.stop()
    return {"publish_to_live_s": {"p50": round(statistics.median(live), 3), "max": round(max(live), 3), "n": ROUNDS},
            "publish_request_s": {"p50": round(statistics.median(request), 3), "max": round(max(request), 3)},
            "load_s": [round(x, 1) for x in load], "goal_s": 5.0}


async def main() -> None:
    sup = Supervisor()
    port = free_port()
    sup.start(embedded_redis_spec(Path(tempfile.mkdtemp(prefix="chat311-bench-kb-")), port, LOG_DIR))
    if not await sup.wait_ready("redis", 20):
        raise SystemExit("bench: embedded redis did not start")
    try:
        result = await run(f"redis://127.0.0.1:{port}/0")
    finally:
        await sup.stop()
    print(f"  kb_live  edit → live in process B (p50 / max of {ROUNDS}, goal ≤ 5 s)   "
          f"{result['publish_to_live_s']['p50']} s / {result['publish_to_live_s']['max']} s")
    print(f"  kb_live  publish request on process A (p50 / max)             "
          f"{result['publish_request_s']['p50']} s / {result['publish_request_s']['max']} s")
    print(f"  kb_live  knowledge base load after start (A, B)               {result['load_s']} s")
    print(json.dumps({"kb_live": result}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
