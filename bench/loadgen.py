"""Load generator process: a raw Engine.IO v4 / Socket.IO v5 websocket client on aiohttp.

python-socketio's client costs far too much per connection to open 10,000 from one process,
so this speaks the wire protocol directly (open packet, `40` connect, `42[...]` events, `43n`
acks, answering `2` pings with `3`). Run as a separate process by `bench/__main__.py`; every
mode is bounded in connection count and wall time and prints one JSON line of results.

Modes:
  idle  --url U --count N [--hold S]   open N widget connections (each does session_request),
                                       print {"ready": n}, hold until stdin closes or S seconds.
  relay --url U[,U2] --sessions S --rate R --duration D
        per session: a sender tab and a receiver tab (on a random URL of the list); the sender
        emits user_uttered at R msg/s in total; latency = receiver's arrival − send time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import resource
import sys
import time
import uuid
from typing import Any

import aiohttp


def raise_nofile() -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1_000_000
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Conn:
    """One widget connection."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url.rstrip("/")
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_ack = 0
        self.on_event: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.session_id: str | None = None

    async def open(self) -> None:
        ws_url = self.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = await self.http.ws_connect(ws_url, autoping=True, max_msg_size=0)
        first = await self.ws.receive_str()
        assert first.startswith("0"), first
        await self.ws.send_str("40")
        while not (await self.ws.receive_str()).startswith("40"):
            pass
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = msg.data
            if data == "2":
                await self.ws.send_str("3")
            elif data.startswith("43"):
                i = 2
                while i < len(data) and data[i].isdigit():
                    i += 1
                fut = self.acks.pop(int(data[2:i]), None)
                if fut and not fut.done():
                    fut.set_result(json.loads(data[i:])[0])
            elif data.startswith("42") and self.on_event is not None:
                event, *args = json.loads(data[2:])
                self.on_event(event, args[0] if args else None)
        for fut in self.acks.values():
            if not fut.done():
                fut.set_exception(ConnectionError("closed"))

    async def call(self, event: str, data: Any, timeout: float = 30) -> Any:
        assert self.ws is not None
        self.next_ack += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[self.next_ack] = fut
        await self.ws.send_str(f"42{self.next_ack}" + json.dumps([event, data]))
        return await asyncio.wait_for(fut, timeout)

    async def session(self, session_id: str | None = None) -> str:
        # last_message_id marks a chat311-widget client (ids, resident_uttered echoes); without it
        # the server treats the socket as a plain rasa-webchat client.
        request: dict[str, Any] = {"last_message_id": "0"}
        if session_id:
            request["session_id"] = session_id
        ack = await self.call("session_request", request)
        self.session_id = ack["session_id"]
        return str(self.session_id)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()


def _connector() -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(limit=0, force_close=False)


async def idle(url: str, count: int, hold: float, concurrency: int = 100) -> None:
    raise_nofile()
    conns: list[Conn] = []
    failures = 0
    async with aiohttp.ClientSession(connector=_connector()) as http:
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            nonlocal failures
            async with sem:
                conn = Conn(http, url)
                try:
                    await conn.open()
                    await conn.session()
                    conns.append(conn)
                except Exception:
                    failures += 1

        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(count)))
        print(json.dumps({"ready": len(conns), "failures": failures,
                          "open_s": round(time.monotonic() - started, 2)}), flush=True)
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def stdin_closed() -> None:
            if not done.done():
                done.set_result(None)

        loop.add_reader(sys.stdin.fileno(), lambda: (sys.stdin.readline() or True) and stdin_closed())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done, hold)
        alive = sum(1 for c in conns if c.ws is not None and not c.ws.closed)
        print(json.dumps({"alive_at_end": alive}), flush=True)
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


async def relay(urls: list[str], sessions: int, rate: float, duration: float, drain_s: float = 10.0) -> None:
    """Open-loop: messages are sent on schedule whether or not earlier ones were delivered."""
    raise_nofile()
    rng = random.Random(7)
    sent: dict[str, float] = {}      # client_msg_id -> send time
    acked: dict[str, str] = {}       # client_msg_id -> message id
    received: dict[str, float] = {}  # client_msg_id -> arrival at the receiver tab
    errors: dict[str, int] = {}
    async with aiohttp.ClientSession(connector=_connector()) as http:
        pairs: list[tuple[Conn, Conn]] = []
        for _ in range(sessions):
            sender, receiver = Conn(http, rng.choice(urls)), Conn(http, rng.choice(urls))
            await sender.open()
            await receiver.open()
            token = await sender.session()
            await receiver.session(token)

            def on_event(event: str, data: Any) -> None:
                if event == "resident_uttered" and isinstance(data, dict):
                    cmid = data.get("client_msg_id")
                    if cmid in sent and cmid not in received:
                        received[cmid] = time.perf_counter()

            receiver.on_event = on_event
            pairs.append((sender, receiver))
        # first message per session (the conversation is created; the bench then assigns it)
        await asyncio.gather(*(s.call("user_uttered", {"message": "hello", "session_id": s.session_id})
                               for s, _ in pairs))
        print(json.dumps({"sessions_ready": [s.session_id for s, _ in pairs]}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # wait for "go"

        async def send(sender: Conn, n: int) -> None:
            cmid = f"b{n}-{uuid.uuid4().hex[:8]}"
            sent[cmid] = time.perf_counter()
            try:
                ack = await sender.call("user_uttered", {"message": f"relay message {n}", "session_id":
                                                         sender.session_id, "metadata": {"client_msg_id": cmid}})
                if ack.get("ok") and ack.get("id"):
                    acked[cmid] = ack["id"]
                else:
                    code = (ack.get("error") or {}).get("code", "?")
                    errors[code] = errors.get(code, 0) + 1
            except Exception as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

        tasks: list[asyncio.Task[None]] = []
        interval = 1.0 / rate
        start = time.perf_counter()
        n = 0
        while True:
            due = start + n * interval
            now = time.perf_counter()
            if due - start >= duration:
                break
            if due > now:
                await asyncio.sleep(due - now)
            sender = pairs[n % len(pairs)][0]
            tasks.append(asyncio.create_task(send(sender, n)))
            n += 1
        send_window = time.perf_counter() - start
        await asyncio.gather(*tasks)
        deadline = time.perf_counter() + drain_s
        while time.perf_counter() < deadline and not set(acked) <= set(received):
            await asyncio.sleep(0.05)
        delivered = [cmid for cmid in acked if cmid in received]
        window_end = max(received.values()) if received else start
        latencies = [(received[c] - sent[c]) * 1000 for c in delivered]
        print(json.dumps({
            "sent": n, "acked": len(acked), "delivered": len(delivered), "lost": len(acked) - len(delivered),
            "errors": errors, "send_window_s": round(send_window, 2),
            "throughput_msg_s": round(len(delivered) / max(window_end - start, 1e-9), 1),
            "p50_ms": round(_pct(latencies, 50), 2), "p95_ms": round(_pct(latencies, 95), 2),
            "p99_ms": round(_pct(latencies, 99), 2), "max_ms": round(max(latencies, default=float("nan")), 2),
        }), flush=True)
        await asyncio.gather(*(c.close() for pair in pairs for c in pair), return_exceptions=True)


async def bot_turns(url: str, rasa: str, rounds: int) -> None:
    """Alternate the same scripted conversation through chat_server and straight to Rasa's REST channel."""
    script = ["hello", "when is my trash picked up", "how do I pay my water bill", "thank you"]
    via_server: list[float] = []
    direct: list[float] = []
    async with aiohttp.ClientSession(connector=_connector()) as http:
        for _ in range(rounds):
            conn = Conn(http, url)
            await conn.open()
            await conn.session()
            waiting: list[asyncio.Future[None]] = []

            def on_event(event: str, data: Any, waiting: list[asyncio.Future[None]] = waiting) -> None:
                if event == "typing" and isinstance(data, dict) and data.get("on") is False \
                        and waiting and not waiting[-1].done():
                    waiting[-1].set_result(None)

            conn.on_event = on_event
            sender = f"bench-{uuid.uuid4().hex}"
            for text in script:
                turn_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                waiting.append(turn_done)
                started = time.perf_counter()
                await conn.call("user_uttered", {"message": text, "session_id": conn.session_id,
                                                 "metadata": {"language": "en"}})
                await asyncio.wait_for(turn_done, 30)
                via_server.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                async with http.post(f"{rasa}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                                     timeout=aiohttp.ClientTimeout(30)) as resp:
                    assert resp.status == 200, resp.status
                    await resp.json()
                direct.append((time.perf_counter() - started) * 1000)
            await conn.close()
    print(json.dumps({"turns": len(via_server), "server_p50_ms": round(_pct(via_server, 50), 1),
                      "server_p95_ms": round(_pct(via_server, 95), 1), "direct_p50_ms": round(_pct(direct, 50), 1),
                      "direct_p95_ms": round(_pct(direct, 95), 1),
                      "server_mean_ms": round(sum(via_server) / len(via_server), 1),
                      "direct_mean_ms": round(sum(direct) / len(direct), 1)}), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("mode", choices=["idle", "relay", "bot"])
    parser.add_argument("--rasa", default="")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--url", required=True, help="comma-separated base URLs")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--hold", type=float, default=120.0)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args(argv)
    urls = args.url.split(",")
    if args.mode == "idle":
        asyncio.run(idle(urls[0], min(args.count, 20_000), min(args.hold, 600)))
    elif args.mode == "bot":
        asyncio.run(bot_turns(urls[0], args.rasa, min(args.rounds, 100)))
    else:
        asyncio.run(relay(urls, min(args.sessions, 5000), min(args.rate, 20_000), min(args.duration, 120)))


if __name__ == "__main__":
    main()
