"""Load generator process: a raw Engine.IO v4 / Socket.IO v5 websocket client on aiohttp.

python-socketio's client costs far too much per connection to open 10,000 from one process,
so this speaks the wire protocol directly (open packet, `40` connect, `42[...]` events, `43n`
acks, answering `2` pings with `3`; a namespace other than `/` sits after the packet type, as in
`42/agents,7[...]`). Run as a separate process by `bench/__main__.py`; every mode is bounded in
connection count and wall time and prints JSON lines of results.

Modes:
  idle  --url U --count N [--hold S]   open N widget connections (each does session_request),
                                       print {"ready": n}, hold until stdin closes or S seconds.
  relay --url U[,U2] --agents A1,A2,.. --sessions S --rate R --duration D   (password in $BENCH_AGENT_PASSWORD)
        the agents sign in through the console's login form and connect to `/agents` with the
        session cookie; S residents each ask for a person (`/request_human`) and the agents accept
        the offers routing makes them. Prints {"sessions_ready": S, ...} once every resident has an
        agent, waits for "go" on stdin, then the residents emit user_uttered at R msg/s in total;
        latency = arrival of the `message` event at the agent − the resident's send time. Every
        scheduled message is delivered or lost (error ack, no ack within --ack-timeout, not at an
        agent by the drain deadline); deliveries slower than --late-ms are counted, not dropped,
        and the sends' lag behind their schedule is reported (bench/stats.py `delivery`).
  bot   --url U --rasa R --rounds N    the same scripted conversation through chat_server and
                                       straight to Rasa's chat311 channel (the one chat_server calls).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp

from bench.stats import Send, delivery, percentile
from chat_server.agents.auth import SESSION_COOKIE

# The agents' password reaches the relay mode through the environment, not argv (visible in `ps`).
PASSWORD_ENV = "BENCH_AGENT_PASSWORD"
AGENTS_NS = "/agents"
# What residents say to an agent: real sentences, so the server does the work real chats cost
# (language detection settles most of them on plain words, as it does in production). Every fifth
# resident writes in Spanish, as a whole conversation does.
RESIDENT_LINES = {
    "en": ["yes the pothole is still there, it is getting bigger", "my address is 600 E 4th St, apartment 12",
           "i called last week and nobody came to pick up the trash", "thank you, is there anything else i need to do?",
           "it is in front of the school on Sharon Amity Rd", "no, the streetlight has been out for three days"],
    "es": ["hola, sigo esperando que recojan la basura de mi calle", "sí, el bache está frente a mi casa",
           "mi dirección es 600 E 4th St, apartamento 12", "gracias, ¿necesito hacer algo más?"],
}


def raise_nofile() -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1_000_000
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Conn:
    """One Socket.IO connection on one namespace: a widget tab (`/`) or an agent console (`/agents`).

    `headers` go on the websocket handshake, which is where a browser sends the console's session
    cookie; `/agents` refuses the namespace connect without a valid one.
    """

    def __init__(self, http: aiohttp.ClientSession, url: str, namespace: str = "/",
                 headers: dict[str, str] | None = None, compress: int = 0) -> None:
        self.http = http
        self.compress = compress  # 15: offer permessage-deflate, as browsers do
        self.url = url.rstrip("/")
        self.namespace = namespace
        self.headers = headers or {}
        # Socket.IO v5 writes a non-default namespace between packet type and ack id: `43/agents,7[...]`.
        self.nsp = "" if namespace == "/" else f"{namespace},"
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_ack = 0
        self.on_event: Callable[[str, Any], None] | None = None
        self.reader: asyncio.Task[None] | None = None
        self.session_id: str | None = None

    async def open(self) -> None:
        ws_url = self.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = await self.http.ws_connect(ws_url, autoping=True, max_msg_size=0, headers=self.headers,
                                           compress=self.compress)
        first = await self.ws.receive_str()
        assert first.startswith("0"), first
        await self.ws.send_str("40" + self.nsp)
        while True:
            reply = await self.ws.receive_str()
            if reply.startswith("40" + self.nsp):
                break
            if reply.startswith("44" + self.nsp):
                raise ConnectionRefusedError(f"{self.namespace} refused the connection: {reply[2 + len(self.nsp):]}")
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        event_prefix, ack_prefix = "42" + self.nsp, "43" + self.nsp
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = msg.data
            if data == "2":
                await self.ws.send_str("3")
            elif data.startswith(ack_prefix):
                start = i = len(ack_prefix)
                while i < len(data) and data[i].isdigit():
                    i += 1
                fut = self.acks.pop(int(data[start:i]), None)
                if fut and not fut.done():
                    fut.set_result(json.loads(data[i:])[0])
            elif data.startswith(event_prefix) and self.on_event is not None:
                event, *args = json.loads(data[len(event_prefix):])
                self.on_event(event, args[0] if args else None)
        for fut in self.acks.values():
            if not fut.done():
                fut.set_exception(ConnectionError("closed"))

    async def call(self, event: str, data: Any, timeout: float = 30) -> Any:
        assert self.ws is not None
        self.next_ack += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[self.next_ack] = fut
        await self.ws.send_str(f"42{self.nsp}{self.next_ack}" + json.dumps([event, data]))
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


async def idle(url: str, count: int, hold: float, concurrency: int = 100, compress: int = 0) -> None:
    raise_nofile()
    conns: list[Conn] = []
    failures = 0
    async with aiohttp.ClientSession(connector=_connector()) as http:
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            nonlocal failures
            async with sem:
                conn = Conn(http, url, compress=compress)
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


async def login(url: str, username: str, password: str) -> str:
    """Sign in through the console's real form, as a browser does; returns the session cookie's token.

    The form carries a double-submit CSRF token (hidden field + cookie), so the page is fetched
    first. Own short-lived cookie jar: `unsafe=True` keeps cookies for an IP host (127.0.0.1), and the
    websocket session must not carry these cookies for the residents' connections.
    """
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{url}/console/login") as resp:
            page = await resp.text()
        match = re.search(r'name="csrf" value="([^"]+)"', page)
        if match is None:
            raise RuntimeError(f"login page of {url} has no CSRF field (HTTP {resp.status})")
        async with http.post(f"{url}/console/login", allow_redirects=False,
                             data={"csrf": match.group(1), "username": username, "password": password}) as resp:
            cookie = resp.cookies.get(SESSION_COOKIE)
            if resp.status != 303 or cookie is None:
                raise RuntimeError(f"login as {username} failed: HTTP {resp.status}")
            return cookie.value


class Relay:
    """Residents → logged-in agents over the product's escalation path, then an open-loop message run.

    Setup (not measured): agents sign in and join `/agents`; each resident sends `/request_human`
    (chat_server escalates it itself when the bot is down, see bench/__main__.py); the dispatcher
    offers the queued conversations and the agents accept. The run is open-loop: messages leave on
    schedule whether or not earlier ones arrived, so a slow server shows up as latency, not as a
    politely lower send rate.
    """

    def __init__(self, http: aiohttp.ClientSession, urls: list[str], sessions: int) -> None:
        self.http = http
        self.urls = urls
        self.sessions = sessions
        self.rng = random.Random(7)
        self.agents: list[Conn] = []
        self.residents: list[Conn] = []
        self.due: dict[str, float] = {}       # client_msg_id -> when the schedule wanted it sent
        self.sent: dict[str, float] = {}      # client_msg_id -> actual send time
        self.acked: dict[str, str] = {}       # client_msg_id -> message id (the stream id the agent sees too)
        self.received: dict[str, float] = {}  # message id -> first arrival at an agent
        self.errors: dict[str, int] = {}
        self.claimed = 0   # offers our agents are accepting or have accepted
        self.accepted = 0
        self.joined = 0    # residents told `agent_joined`
        self.ticketed = 0  # residents given a ticket instead (closed hours / nobody online: a setup error)
        self.assign_s = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    # setup ----------------------------------------------------------------------------------
    async def connect_agents(self, usernames: list[str], password: str) -> None:
        sem = asyncio.Semaphore(4)  # each login is an argon2 verify on the server; no point in a stampede

        async def one(username: str) -> Conn:
            url = self.rng.choice(self.urls)
            async with sem:
                token = await login(url, username, password)
            agent = Conn(self.http, url, AGENTS_NS, {"Cookie": f"{SESSION_COOKIE}={token}"})
            agent.on_event = lambda event, data: self._on_agent_event(agent, event, data)
            await agent.open()
            return agent

        self.agents = list(await asyncio.gather(*(one(u) for u in usernames)))

    def _on_agent_event(self, agent: Conn, event: str, data: Any) -> None:
        if not isinstance(data, dict):
            return
        if event == "message" and data.get("sender") == "resident" and isinstance(data.get("id"), str):
            self.received.setdefault(data["id"], time.perf_counter())
        elif event == "offer" and isinstance(data.get("conversation_id"), str):
            self._spawn(self._take(agent, data["conversation_id"]))

    async def _take(self, agent: Conn, cid: str) -> None:
        """Accept an offer, or decline it once our residents are all served.

        With several generators on one Redis (the scale part) an offer can be another generator's
        resident; "decline" is the product's "not me", after which routing offers it elsewhere.
        """
        if self.claimed >= self.sessions:
            ack = await agent.call("decline", {"conversation_id": cid})
            if not ack.get("ok"):
                self.error("decline_" + str((ack.get("error") or {}).get("code", "?")))
            return
        self.claimed += 1
        ack = await agent.call("accept", {"conversation_id": cid})
        if ack.get("ok"):
            self.accepted += 1  # the ack comes after the agent's socket joined the conversation's room
        else:
            self.claimed -= 1
            self.error("accept_" + str((ack.get("error") or {}).get("code", "?")))

    def _on_resident_event(self, event: str, data: Any) -> None:
        if event == "agent_joined":
            self.joined += 1
        elif event == "ticket_created":
            self.ticketed += 1

    async def escalate_residents(self, timeout: float) -> None:
        """Open the residents' tabs, ask for a person, and wait until every one has an agent."""
        for _ in range(self.sessions):
            resident = Conn(self.http, self.rng.choice(self.urls))
            resident.on_event = self._on_resident_event
            await resident.open()
            await resident.session()
            self.residents.append(resident)
        started = time.perf_counter()
        acks = await asyncio.gather(*(r.call("user_uttered", {"message": "/request_human", "session_id":
                                                              r.session_id}) for r in self.residents))
        for ack in acks:
            if not ack.get("ok"):
                self.error("escalate_" + str((ack.get("error") or {}).get("code", "?")))
        deadline = started + timeout
        while self.accepted < self.sessions or self.joined < self.sessions:
            if time.perf_counter() > deadline:
                raise SystemExit(f"bench.loadgen: after {timeout:.0f}s only {self.accepted} of {self.sessions} "
                                 f"conversations accepted, {self.joined} residents told agent_joined, "
                                 f"{self.ticketed} ticketed instead; errors {self.errors}")
            await asyncio.sleep(0.05)
        self.assign_s = round(time.perf_counter() - started, 2)

    # measured run ------------------------------------------------------------------------------
    async def _send(self, index: int, n: int, due: float, ack_timeout: float) -> None:
        resident = self.residents[index]
        cmid = f"b{n}-{uuid.uuid4().hex[:8]}"
        self.due[cmid] = due
        self.sent[cmid] = time.perf_counter()
        try:
            lines = RESIDENT_LINES["es" if index % 5 == 0 else "en"]
            ack = await resident.call("user_uttered", {"message": f"{lines[n % len(lines)]} ({n})", "session_id":
                                                       resident.session_id, "metadata": {"client_msg_id": cmid}},
                                      timeout=ack_timeout)
            if ack.get("ok") and ack.get("id"):
                self.acked[cmid] = ack["id"]
            else:
                self.error(str((ack.get("error") or {}).get("code", "?")))
        except Exception as exc:  # a timeout or a broken connection: the message is lost, by name
            self.error(type(exc).__name__)

    async def run(self, rate: float, duration: float, drain_s: float, ack_timeout: float,
                  late_ms: float) -> dict[str, Any]:
        """Send on schedule for `duration`, wait for the acks, then up to `drain_s` for deliveries.

        Every scheduled message is accounted for (bench.stats.delivery): delivered, however late,
        or lost (error ack, no ack within `ack_timeout`, or not at an agent by the drain deadline).
        """
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
            tasks.append(asyncio.create_task(self._send(n % len(self.residents), n, due, ack_timeout)))
            n += 1
        send_window = time.perf_counter() - start
        await asyncio.gather(*tasks)
        deadline = time.perf_counter() + drain_s
        while time.perf_counter() < deadline and not all(mid in self.received for mid in self.acked.values()):
            await asyncio.sleep(0.05)
        sends = [Send(self.due[c], self.sent[c], c in self.acked, self.received.get(self.acked.get(c, "")))
                 for c in self.sent]
        result = delivery(sends, late_ms)
        arrivals = [s.arrived for s in sends if s.acked and s.arrived is not None]
        window_end = max(arrivals, default=start)
        return {
            "sessions": len(self.residents), "agents": len(self.agents), "assign_s": self.assign_s,
            "acked": len(self.acked), "errors": self.errors, "send_window_s": round(send_window, 2),
            "throughput_msg_s": round(result.delivered / max(window_end - start, 1e-9), 1),
            "late_ms": late_ms, "ack_timeout_s": ack_timeout, "drain_s": drain_s, **result.as_dict(),
        }

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.residents + self.agents), return_exceptions=True)


async def relay(urls: list[str], agents: list[str], password: str, sessions: int, rate: float, duration: float,
                ack_timeout: float, late_ms: float, setup_s: float = 120.0, drain_s: float = 10.0) -> None:
    raise_nofile()
    async with aiohttp.ClientSession(connector=_connector()) as http:
        run = Relay(http, urls, sessions)
        try:
            await run.connect_agents(agents, password)
            await run.escalate_residents(setup_s)
            print(json.dumps({"sessions_ready": len(run.residents), "agents": len(run.agents),
                              "assign_s": run.assign_s}), flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # wait for "go"
            print(json.dumps(await run.run(rate, duration, drain_s, ack_timeout, late_ms)), flush=True)
        finally:
            await run.close()


async def bot_turns(url: str, rasa: str, rounds: int, warmup: int = 1) -> None:
    """Alternate the same scripted conversation through chat_server and straight to Rasa's chat311 channel
    (the one chat_server calls, same body). A turn through chat_server ends when its LAST bot message is
    received: the server turns typing off only after the turn's replies are sent, and the time taken is
    that of the last bot_uttered before it.

    The first `warmup` conversations are run the same way and not counted: their first turns pay each
    side's one-off costs (HTTP connections, Rasa's first tracker and action calls), and chat_server's turn
    goes first, so it paid them for the direct one too (measured: 132 vs 39 ms on the first "hello")."""
    script = ["hello", "when is my trash picked up", "how do I pay my water bill", "thank you"]
    via_server: list[float] = []
    direct: list[float] = []
    async with aiohttp.ClientSession(connector=_connector()) as http:
        for round_no in range(warmup + rounds):
            if round_no == warmup:
                via_server.clear()
                direct.clear()
            conn = Conn(http, url)
            await conn.open()
            await conn.session()
            waiting: list[asyncio.Future[float]] = []
            last_bot: list[float] = [0.0]

            def on_event(event: str, data: Any, waiting: list[asyncio.Future[float]] = waiting,
                         last_bot: list[float] = last_bot) -> None:
                if event == "bot_uttered":
                    last_bot[0] = time.perf_counter()
                elif event == "typing" and isinstance(data, dict) and data.get("on") is False \
                        and waiting and not waiting[-1].done():
                    waiting[-1].set_result(last_bot[0])

            conn.on_event = on_event
            sender = f"bench-{uuid.uuid4().hex}"
            for text in script:
                turn_done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
                waiting.append(turn_done)
                started = time.perf_counter()
                last_bot[0] = 0.0
                await conn.call("user_uttered", {"message": text, "session_id": conn.session_id,
                                                 "metadata": {"language": "en"}})
                last_message_at = await asyncio.wait_for(turn_done, 30)
                assert last_message_at > started, f"no bot message for {text!r}"
                via_server.append((last_message_at - started) * 1000)
                started = time.perf_counter()
                async with http.post(f"{rasa}/webhooks/chat311/webhook", timeout=aiohttp.ClientTimeout(30),
                                     json={"sender": sender, "message": text,
                                           "metadata": {"language": "en", "channel": "web"}}) as resp:
                    assert resp.status == 200, resp.status
                    await resp.json()
                direct.append((time.perf_counter() - started) * 1000)
            await conn.close()
    out: dict[str, Any] = {"turns": len(via_server)}
    for name, values in (("server", via_server), ("direct", direct)):
        out.update({f"{name}_p50_ms": round(percentile(values, 50), 1),
                    f"{name}_p95_ms": round(percentile(values, 95), 1),
                    f"{name}_mean_ms": round(statistics.fmean(values), 1)})
    print(json.dumps(out), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("mode", choices=["idle", "relay", "bot"])
    parser.add_argument("--rasa", default="")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1, help="bot: conversations run first and not counted")
    parser.add_argument("--url", required=True, help="comma-separated base URLs")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--hold", type=float, default=120.0)
    parser.add_argument("--compress", type=int, default=0, choices=[0, 15],
                        help="idle: 15 offers permessage-deflate on each websocket, as browsers do")
    parser.add_argument("--sessions", type=int, default=100, help="relay: residents (≤ the agents' capacity)")
    parser.add_argument("--agents", default="", help="relay: comma-separated agent usernames")
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--ack-timeout", type=float, default=10.0, help="relay: no ack by then = lost (s)")
    parser.add_argument("--late-ms", type=float, default=1000.0,
                        help="relay: a delivery slower than this is reported as late (still in the percentiles)")
    args = parser.parse_args(argv)
    urls = args.url.split(",")
    if args.mode == "idle":
        asyncio.run(idle(urls[0], min(args.count, 20_000), min(args.hold, 600), compress=args.compress))
    elif args.mode == "bot":
        asyncio.run(bot_turns(urls[0], args.rasa, min(args.rounds, 100), args.warmup))
    else:
        agents = [a for a in args.agents.split(",") if a][:500]
        if not agents or not os.environ.get(PASSWORD_ENV):
            parser.error(f"relay needs --agents and the agents' password in ${PASSWORD_ENV}")
        asyncio.run(relay(urls, agents, os.environ[PASSWORD_ENV], min(args.sessions, 5000), min(args.rate, 20_000),
                          min(args.duration, 120), max(0.5, min(args.ack_timeout, 60)), max(1.0, args.late_ms)))


if __name__ == "__main__":
    main()
