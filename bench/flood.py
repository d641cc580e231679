"""Flood isolation load: floods from loopback IPs, and a quiet resident's bot-turn latency meanwhile.

Run as separate processes by `bench/__main__.py` (part 5, "flood"), so the flood's client CPU does
not stall the quiet resident's event loop:

  flood --url U --ips N --sessions S --rate R --duration D
        N source IPs 127.0.0.2 … 127.0.0.(N+1) (each client socket bound to its own loopback
        address), S widget sessions per IP, each IP emitting R user_uttered per second in total
        without waiting for acks. Prints {"ready": true} once connected, floods until stdin says
        "stop" or D seconds pass, then prints the acks by outcome (ok / error code / no answer).
  quiet --url U --turns T --sessions S --gap G --warmup W
        from 127.0.0.1: W + T bot turns one after another, round robin over S sessions (each stays
        under the per-session limit), G seconds apart; latency = send → the last bot message of
        the turn (the one before the typing indicator turns off), of the last T (the first W warm
        the caches, so the no-flood baseline is not inflated by a cold start). Prints p50/p99/max.

Bounded everywhere: at most 250 IPs (loopback only), 20 sessions per IP, 200 msg/s per IP, 600 s.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import sys
import time
import uuid
from typing import Any

import aiohttp

from bench.loadgen import Conn, raise_nofile
from bench.stats import percentile

FLOOD_TEXTS = ["when is my trash picked up", "how do I pay my water bill", "pothole on my street", "hello"]
# FAQ questions the bot answers in one turn: a fallback streak would hand the chat to the agent queue,
# where no bot turn (and no typing indicator) ends the measurement.
QUIET_TEXTS = ["when is my trash picked up", "how do I pay my water bill"]


def _http(source_ip: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, local_addr=(source_ip, 0)))


async def _stop_signal(duration: float) -> None:
    """Until "stop" (or EOF) on stdin, or `duration` seconds."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def readable() -> None:
        sys.stdin.readline()
        if not done.done():
            done.set_result(None)

    loop.add_reader(sys.stdin.fileno(), readable)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done, duration)
    loop.remove_reader(sys.stdin.fileno())


async def flood(url: str, ips: int, sessions: int, rate: float, duration: float) -> None:
    raise_nofile()
    https = [_http(f"127.0.0.{2 + i}") for i in range(ips)]
    conns: list[list[Conn]] = []
    for http in https:
        group = [Conn(http, url) for _ in range(sessions)]
        for conn in group:
            await conn.open()
            await conn.session()
        conns.append(group)
    print(json.dumps({"ready": True}), flush=True)
    outcomes: collections.Counter[str] = collections.Counter()
    calls: set[asyncio.Task[None]] = set()

    async def one(conn: Conn, text: str) -> None:
        try:
            ack = await conn.call("user_uttered", {"message": text, "session_id": conn.session_id,
                                                   "metadata": {"language": "en"}}, timeout=30)
            outcomes["ok" if ack.get("ok") else str(ack.get("error", {}).get("code"))] += 1
        except (TimeoutError, ConnectionError):
            outcomes["no_answer"] += 1

    async def source(group: list[Conn]) -> None:
        n = 0
        started = time.monotonic()
        while True:
            conn = group[n % len(group)]
            task = asyncio.create_task(one(conn, FLOOD_TEXTS[n % len(FLOOD_TEXTS)]))
            calls.add(task)
            task.add_done_callback(calls.discard)
            n += 1
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))

    sources = [asyncio.create_task(source(group)) for group in conns]
    started = time.monotonic()
    await _stop_signal(duration)
    for task in sources:
        task.cancel()
    elapsed = time.monotonic() - started
    if calls:
        await asyncio.wait(set(calls), timeout=35)
    print(json.dumps({"sent": sum(outcomes.values()), "seconds": round(elapsed, 1),
                      "outcomes": dict(outcomes)}), flush=True)
    for group in conns:
        for conn in group:
            await conn.close()
    for http in https:
        await http.close()


async def quiet(url: str, turns: int, sessions: int, gap: float, warmup: int) -> None:
    latencies: list[float] = []
    async with _http("127.0.0.1") as http:
        conns = [Conn(http, url) for _ in range(sessions)]
        state: dict[Conn, dict[str, Any]] = {}
        for conn in conns:
            await conn.open()
            await conn.session()
            state[conn] = {"last_bot": 0.0, "done": None}

            def on_event(event: str, data: Any, st: dict[str, Any] = state[conn]) -> None:
                if event == "bot_uttered":
                    st["last_bot"] = time.perf_counter()
                elif event == "typing" and isinstance(data, dict) and data.get("on") is False \
                        and st["done"] is not None and not st["done"].done():
                    st["done"].set_result(st["last_bot"])

            conn.on_event = on_event
        for n in range(warmup + turns):
            conn = conns[n % sessions]
            st = state[conn]
            st["done"] = asyncio.get_running_loop().create_future()
            sent = time.perf_counter()
            ack = await conn.call("user_uttered", {"message": QUIET_TEXTS[n % len(QUIET_TEXTS)],
                                                   "session_id": conn.session_id,
                                                   "metadata": {"language": "en", "client_msg_id": uuid.uuid4().hex}})
            if not ack.get("ok"):
                raise SystemExit(f"quiet resident refused: {ack}")
            last_bot = await asyncio.wait_for(st["done"], 60)
            if n >= warmup:  # the first turns load Rasa's and the search's caches: not a resident's wait
                latencies.append((last_bot - sent) * 1000)
            await asyncio.sleep(gap)
        for conn in conns:
            await conn.close()
    print(json.dumps({"turns": len(latencies), "p50_ms": round(percentile(latencies, 50), 1),
                      "p99_ms": round(percentile(latencies, 99), 1), "max_ms": round(max(latencies), 1)}), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.flood")
    parser.add_argument("mode", choices=["flood", "quiet"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--ips", type=int, default=1)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--rate", type=float, default=50.0, help="flood: msg/s per IP")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--gap", type=float, default=0.25)
    parser.add_argument("--warmup", type=int, default=2, help="quiet: turns before the measured ones")
    args = parser.parse_args(argv)
    if args.mode == "flood":
        asyncio.run(flood(args.url, max(1, min(args.ips, 250)), max(1, min(args.sessions, 20)),
                          max(0.1, min(args.rate, 200.0)), min(args.duration, 600.0)))
    else:
        asyncio.run(quiet(args.url, max(1, min(args.turns, 500)), max(1, min(args.sessions, 20)),
                          max(0.0, min(args.gap, 10.0)), max(0, min(args.warmup, 20))))


if __name__ == "__main__":
    main()
