"""`make bench`: chat311's load benchmarks; prints a table and one final JSON line with every number.

Everything runs on loopback and starts its own embedded Redis, chat_server processes and (for
the bot benchmark) Rasa on free ports, using the same child specs `make run` uses. Load comes
from separate `bench.loadgen` processes, bounded in connections and time.

  (1) idle   N widget connections on one process → server RSS delta per connection
  (2) relay  resident → logged-in agent on `/agents` at a target rate, GC default vs tuned
             (p50/p95/p99 latency, throughput); 20 agents × 5 chats = 100 conversations by default
  (3) bot    a bot turn through chat_server vs a direct Rasa REST call, same run → ratio
  (4) scale  1 vs 2 chat_server processes on Redis (AsyncRedisManager), same relay with two load
             generators (each its own agents and residents) → throughput ratio, lost
  (5) flood  a quiet resident's bot-turn latency (p50/p99, send → last bot message) alone, while
             one IP floods, and while 40 loopback IPs flood (bench/flood.py), shipped rate limits

How (2) and (4) get their conversations to agents — the product's own path, no Redis writes:
the bench creates agent accounts as `chat311 users add` does (AccountStore, argon2 hash); the load
generator signs each agent in through `/console/login` (CSRF form) and connects to `/agents` with
the session cookie. Each resident then sends `/request_human`. Those servers run without Rasa on
purpose (the Rasa URL points at a closed port): when the bot is down, the conversation core turns a
`/request_human` payload into `escalation_requested` itself (ConversationService._bot_unavailable,
the "Talk to a person" button residents get when the bot fails), so escalation does not depend on
the NLU or on part (3) having started Rasa. Staffed hours are forced open through the config's env
override (`CHAT311_HOURS__WEEKLY` = every day 00:00–24:00, `CLOSING_SOON_MIN` 0), so the bench gives
the same answer at 3 a.m. Escalation queues the conversation, the dispatcher offers it to the agent
with most free capacity, the agent's `accept` assigns it; from then on every resident message
reaches the agent as a `/agents` `message` event, whose arrival time is the latency's end. Each run
uses its own Redis key prefix, so agents' loads and queues of one run cannot leak into the next.

Options: --idle N (default 10000), --rate R (1000), --duration S (10), --agents A (20 per load
generator), --agent-chats C (5; residents per generator = A × C), --skip a,b (parts to skip).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import redis.asyncio as aioredis

from bench import kb as kb_bench
from bench.loadgen import PASSWORD_ENV, raise_nofile
from chat_server import bot_model
from chat_server.agents.accounts import Account, AccountStore
from chat_server.agents.settings import WEEKDAYS
from chat_server.components import action_server_spec, embedded_redis_spec, free_port, rasa_server_spec
from chat_server.config import PROJECT_ROOT, RetentionConfig
from chat_server.supervisor import Supervisor

LOG_DIR = PROJECT_ROOT / "var" / "bench-logs"
RASA_TOKEN = "bench-rasa-token"
DEFAULT_GC = [700, 10, 10]
# Staffed around the clock (YAML flow mapping for CHAT311_HOURS__WEEKLY; JSON is YAML).
ALWAYS_OPEN = json.dumps({day: ["00:00-24:00"] for day in WEEKDAYS})


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


class Server:
    def __init__(self, name: str, port: int, env: dict[str, str]) -> None:
        self.name, self.port, self.env = name, port, env
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with open(LOG_DIR / f"{self.name}.log", "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "chat_server.cli", "serve", "--reuse-port"],
                                         cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise SystemExit(f"bench: {self.name} exited; see {LOG_DIR / (self.name + '.log')}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(f"{self.url}/healthz") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise SystemExit(f"bench: {self.name} did not start")

    def rss(self) -> int:
        assert self.proc is not None
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    async def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, 20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sup = Supervisor()
        self.redis_url = ""
        self.rasa_url = ""
        self.results: dict[str, Any] = {"load_start": load()}
        self.rows: list[tuple[str, str, str]] = []

    def env(self, port: int, **extra: str) -> dict[str, str]:
        return {**os.environ, "REDIS_URL": self.redis_url, "CHAT311_SERVER__PORT": str(port),
                "CHAT311_SERVER__HOST": "127.0.0.1", "CHAT311_SERVER__PUBLIC_URL": f"http://127.0.0.1:{port}",
                "CHAT311_RASA__MANAGE": "false", "CHAT311_RASA__URL": self.rasa_url or f"http://127.0.0.1:{free_port()}",
                "CHAT311_RASA__TOKEN": RASA_TOKEN, "CHAT311_RASA__ACTIONS_URL": "",
                "CHAT311_LOGGING__LEVEL": "WARNING",
                "CHAT311_LIMITS__SESSION_MESSAGES": "1000000", "CHAT311_LIMITS__IP_MESSAGES": "100000000",
                "CHAT311_LIMITS__IP_SESSIONS": "1000000000", **extra}

    async def start_redis(self) -> None:
        port = free_port()
        data = Path(tempfile.mkdtemp(prefix="chat311-bench-redis-"))
        self.sup.start(embedded_redis_spec(data, port, LOG_DIR))
        if not await self.sup.wait_ready("redis", 20):
            raise SystemExit("bench: embedded redis did not start")
        self.redis_url = f"redis://127.0.0.1:{port}/0"

    def relay_env(self, port: int, prefix: str, **extra: str) -> dict[str, str]:
        """A server for the agent relay: always staffed, its own key prefix, and no bot (see the module doc)."""
        return self.env(port, CHAT311_REDIS__KEY_PREFIX=f"'{prefix}'",  # quoted: YAML reads "x:" as a mapping
                        CHAT311_HOURS__WEEKLY=ALWAYS_OPEN, CHAT311_HOURS__CLOSING_SOON_MIN="0",
                        CHAT311_RASA__URL=f"http://127.0.0.1:{free_port()}", **extra)

    async def make_agents(self, prefix: str, usernames: list[str], password: str) -> None:
        """Agent accounts as `chat311 users add` makes them: every language and department, --max-chats C."""
        redis = aioredis.from_url(self.redis_url)
        try:
            store = AccountStore(redis, prefix)
            await asyncio.gather(*(store.create(Account(u, f"Agent {u}", ["agent"], ["en", "es"], ["*"],
                                                        self.args.agent_chats), password) for u in usernames))
        finally:
            await redis.aclose()

    async def loadgen(self, *argv: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.loadgen", *argv, cwd=PROJECT_ROOT, env={**os.environ, **(env or {})},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=None)

    @staticmethod
    async def line(proc: asyncio.subprocess.Process, timeout: float) -> dict[str, Any]:
        assert proc.stdout is not None
        raw = await asyncio.wait_for(proc.stdout.readline(), timeout)
        if not raw:
            raise SystemExit("bench: load generator exited early")
        return dict(json.loads(raw))

    def row(self, part: str, metric: str, value: Any) -> None:
        self.rows.append((part, metric, str(value)))
        print(f"  {part:<8} {metric:<44} {value}", flush=True)

    kb = kb_bench.run  # (5) knowledge-base search, in its own process (bench/kb.py)

    # (1) ---------------------------------------------------------------------------
    async def idle(self) -> None:
        n = self.args.idle
        port = free_port()
        server = Server("idle", port, self.env(port))
        await server.start()
        try:
            await asyncio.sleep(1.0)
            before = server.rss()
            per_gen = 5000
            gens = [await self.loadgen("idle", "--url", server.url, "--count", str(min(per_gen, n - i)),
                                       "--hold", "300") for i in range(0, n, per_gen)]
            ready = [await self.line(g, 600) for g in gens]
            connected = sum(r["ready"] for r in ready)
            await asyncio.sleep(3.0)
            after = server.rss()
            for g in gens:
                assert g.stdin is not None
                g.stdin.write(b"done\n")
                await g.stdin.drain()
            alive = 0
            for g in gens:
                alive += (await self.line(g, 60))["alive_at_end"]
            for g in gens:
                await g.wait()
        finally:
            await server.stop()
        per_conn = (after - before) / max(connected, 1) / 1024
        self.results.update(idle_connections=connected, idle_failures=sum(r["failures"] for r in ready),
                            idle_alive_at_end=alive, idle_rss_before_mb=round(before / 2**20, 1),
                            idle_rss_after_mb=round(after / 2**20, 1), idle_kb_per_connection=round(per_conn, 1),
                            idle_open_s=max(r["open_s"] for r in ready), idle_load=load())
        self.row("idle", f"connections (requested {n})", connected)
        self.row("idle", "RSS before → after (MB)", f"{before / 2**20:.1f} → {after / 2**20:.1f}")
        self.row("idle", "RSS per connection (KB, target ≤ 40)", f"{per_conn:.1f}")

    # relay helper -----------------------------------------------------------------------
    async def run_relay(self, urls: list[str], prefix: str, rate: float, duration: float,
                        generators: int = 1) -> dict[str, Any]:
        """Residents → agents through escalation; each generator brings its own agents and residents.

        Generators set up one after another: the first one's agents are full (capacity = its
        residents) before the next one's residents escalate, so every conversation lands on an agent
        of the process that timed its send — latency never compares two processes' clocks.
        """
        agents, chats = self.args.agents, self.args.agent_chats
        names = [[f"g{g}-agent{i:03d}" for i in range(agents)] for g in range(generators)]
        password = secrets.token_urlsafe(18)
        await self.make_agents(prefix, [n for group in names for n in group], password)
        gens: list[asyncio.subprocess.Process] = []
        for group in names:
            gens.append(await self.loadgen("relay", "--url", ",".join(urls), "--agents", ",".join(group),
                                           "--sessions", str(agents * chats), "--rate", str(rate / generators),
                                           "--duration", str(duration), env={PASSWORD_ENV: password}))
            ready = await self.line(gens[-1], 300)
            if ready["sessions_ready"] != agents * chats:
                raise SystemExit(f"bench: only {ready['sessions_ready']} of {agents * chats} residents got an agent")
        for g in gens:
            assert g.stdin is not None
            g.stdin.write(b"go\n")
            await g.stdin.drain()
        outs = [await self.line(g, duration + 120) for g in gens]
        for g in gens:
            await g.wait()
        merged: dict[str, Any] = {k: sum(o[k] for o in outs) for k in ("sessions", "agents", "sent", "acked",
                                                                      "delivered", "lost")}
        merged["throughput_msg_s"] = round(sum(o["throughput_msg_s"] for o in outs), 1)
        for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "assign_s"):
            merged[k] = max(o[k] for o in outs)  # conservative: the worst generator's number
        merged["errors"] = {k: sum(o["errors"].get(k, 0) for o in outs) for o in outs for k in o["errors"]}
        return merged

    # (2) ---------------------------------------------------------------------------
    async def relay(self) -> None:
        rate, duration = self.args.rate, self.args.duration
        for label, gc in (("default", DEFAULT_GC), ("tuned", None)):
            port = free_port()
            extra = {"CHAT311_SERVER__GC_THRESHOLDS": json.dumps(gc)} if gc else {}
            prefix = f"bench-relay-{label}:"
            server = Server(f"relay-{label}", port, self.relay_env(port, prefix, **extra))
            await server.start()
            try:
                out = await self.run_relay([server.url], prefix, rate, duration)
            finally:
                await server.stop()
            gc_label = gc or "config default [50000, 50, 100]"
            key = f"relay_{label}"
            self.results[key] = {**out, "gc_thresholds": gc_label, "rate": rate, "duration_s": duration,
                                 "load": load(), "what": "resident -> logged-in agent on /agents (escalated: "
                                 "/request_human with the bot down -> queue -> offer -> accept)"}
            self.row("relay", f"GC {label} {gc_label}", "")
            self.row("relay", "  agents × chats → residents assigned (s)",
                     f"{out['agents']} × {self.args.agent_chats} → {out['sessions']} ({out['assign_s']})")
            self.row("relay", f"  p50 / p95 / p99 ms @ {rate:.0f} msg/s (target p99 ≤ 20)",
                     f"{out['p50_ms']} / {out['p95_ms']} / {out['p99_ms']}")
            self.row("relay", "  throughput msg/s, lost, errors", f"{out['throughput_msg_s']}, {out['lost']}, "
                     f"{out['errors'] or 0}")

    # Rasa for parts (3) and (5) ----------------------------------------------------
    async def start_rasa(self, part: str) -> bool:
        """Start Rasa + actions once; False (and the part marked skipped) without a trained model."""
        if self.rasa_url:
            return True
        model = bot_model.current_model_path()
        if not model.exists():
            model = bot_model.latest_model() or model
        if not model.exists():
            self.results[part] = {"skipped": "no trained model; run `make train`"}
            self.row(part, "skipped", "no trained model")
            return False
        rasa_port, actions_port, self.kb_port = free_port(), free_port(), free_port()
        # the action server asks the chat_server on kb_port (the bot part's) for knowledge-base answers
        self.sup.start(action_server_spec(actions_port, LOG_DIR, f"http://127.0.0.1:{self.kb_port}", RASA_TOKEN))
        self.sup.start(rasa_server_spec(model, rasa_port, RASA_TOKEN, actions_port, self.redis_url, LOG_DIR,
                                        RetentionConfig().tracker_expiry_s()))
        t0 = time.monotonic()
        if not (await self.sup.wait_ready("rasa", 400) and await self.sup.wait_ready("actions", 200)):
            raise SystemExit(f"bench: Rasa did not start; see {LOG_DIR}/rasa.log")
        self.rasa_url = f"http://127.0.0.1:{rasa_port}"
        self.row(part, "Rasa ready in (s)", f"{time.monotonic() - t0:.0f}")
        return True

    # (3) ---------------------------------------------------------------------------
    async def bot(self) -> None:
        if not await self.start_rasa("bot"):
            return
        port = self.kb_port
        server = Server("bot", port, self.env(port))
        await server.start()
        try:
            gen = await self.loadgen("bot", "--url", server.url, "--rasa", self.rasa_url, "--rounds",
                                     str(self.args.bot_rounds))
            out = await self.line(gen, 900)
            await gen.wait()
        finally:
            await server.stop()
        ratio = out["server_p50_ms"] / out["direct_p50_ms"]
        self.results["bot"] = {**out, "ratio_p50": round(ratio, 2),
                               "ratio_mean": round(out["server_mean_ms"] / out["direct_mean_ms"], 2), "load": load()}
        self.row("bot", "turn p50 via chat_server / direct Rasa (ms)",
                 f"{out['server_p50_ms']} / {out['direct_p50_ms']}")
        self.row("bot", "ratio p50 (target ≤ 1.3)", f"{ratio:.2f}")

    # (4) ---------------------------------------------------------------------------
    async def scale(self) -> None:
        rate, duration = self.args.scale_rate, self.args.duration
        out: dict[int, dict[str, Any]] = {}
        for procs in (1, 2):
            servers = []
            prefix = f"bench-scale-{procs}:"
            for i in range(procs):
                port = free_port()
                env = self.relay_env(port, prefix, CHAT311_SERVER__REDIS_MANAGER="true")
                servers.append(Server(f"scale-{procs}-{i}", port, env))
            for s in servers:
                await s.start()
            try:
                out[procs] = await self.run_relay([s.url for s in servers], prefix, rate, duration, generators=2)
            finally:
                for s in servers:
                    await s.stop()
            self.row("scale", f"{procs} process(es): throughput msg/s, p99 ms, lost",
                     f"{out[procs]['throughput_msg_s']}, {out[procs]['p99_ms']}, {out[procs]['lost']}")
        ratio = out[2]["throughput_msg_s"] / max(out[1]["throughput_msg_s"], 1e-9)
        self.results["scale"] = {"offered_rate": rate, "one": out[1], "two": out[2], "ratio": round(ratio, 2),
                                 "lost_total": out[1]["lost"] + out[2]["lost"], "load": load(),
                                 "cpus": os.cpu_count()}
        self.row("scale", "throughput ratio 2/1 (target ≥ 1.7)", f"{ratio:.2f}")

    # (5) ---------------------------------------------------------------------------
    async def flood(self) -> None:
        """A quiet resident's bot turns alone, during a flood from one IP, and from 40 loopback IPs."""
        if not await self.start_rasa("flood"):
            return
        port = free_port()
        # The shipped limits (the other parts lift them), and a fresh prefix so no earlier count applies.
        server = Server("flood", port, self.env(port, CHAT311_LIMITS__SESSION_MESSAGES="12",
                                                CHAT311_LIMITS__IP_MESSAGES="120",
                                                CHAT311_REDIS__KEY_PREFIX="'bench-flood:'"))
        await server.start()
        out: dict[str, Any] = {}
        try:
            out["quiet"] = await self.quiet_turns(server.url)
            for label, ips, sessions, rate in (("one_ip", 1, 10, 100.0), ("forty_ips", 40, 1, 5.0)):
                flood = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bench.flood", "flood", "--url", server.url, "--ips", str(ips),
                    "--sessions", str(sessions), "--rate", str(rate), "--duration", "90",
                    cwd=PROJECT_ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
                await self.line(flood, 120)
                await asyncio.sleep(2.0)  # the flood is under way before the quiet resident starts
                latency = await self.quiet_turns(server.url)
                assert flood.stdin is not None
                flood.stdin.write(b"stop\n")
                await flood.stdin.drain()
                sent = await self.line(flood, 60)
                await flood.wait()
                out[label] = {**latency, "flood": {"ips": ips, "sessions_per_ip": sessions,
                                                   "msg_s_per_ip": rate, **sent}}
        finally:
            await server.stop()
        quiet_p99 = out["quiet"]["p99_ms"]
        self.results["flood"] = {**out, "load": load(),
                                 "ratio_p99_one_ip": round(out["one_ip"]["p99_ms"] / quiet_p99, 2),
                                 "ratio_p99_forty_ips": round(out["forty_ips"]["p99_ms"] / quiet_p99, 2)}
        for label, what in (("quiet", "no flood"), ("one_ip", "1 IP × 10 sessions, 100 msg/s"),
                            ("forty_ips", "40 IPs × 1 session, 5 msg/s each")):
            self.row("flood", f"quiet resident p50 / p99 ms, {what}",
                     f"{out[label]['p50_ms']} / {out[label]['p99_ms']}")
            if label != "quiet":
                self.row("flood", f"  flood acks ({out[label]['flood']['sent']} sent)", out[label]["flood"]["outcomes"])
        self.row("flood", "p99 ratio 1 IP / 40 IPs (target ≤ 3)",
                 f"{self.results['flood']['ratio_p99_one_ip']} / {self.results['flood']['ratio_p99_forty_ips']}")

    async def quiet_turns(self, url: str) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.flood", "quiet", "--url", url, "--turns", str(self.args.flood_turns),
            "--sessions", "5", cwd=PROJECT_ROOT, stdout=asyncio.subprocess.PIPE)
        out = await self.line(proc, 300)
        await proc.wait()
        return out

    async def run(self) -> None:
        skip = set(filter(None, self.args.skip.split(",")))
        print(f"chat311 bench — load average {load()}, {os.cpu_count()} CPUs, nofile {raise_nofile()}", flush=True)
        await self.start_redis()
        try:
            for part in ("idle", "relay", "scale", "bot", "flood", "kb"):
                if part not in skip:
                    await getattr(self, part)()
        finally:
            await self.sup.stop()
        self.results["load_end"] = load()
        print("\n" + "-" * 80)
        print(f"  {'part':<8} {'metric':<44} value")
        for part, metric, value in self.rows:
            print(f"  {part:<8} {metric:<44} {value}")
        print("-" * 80)
        print(json.dumps(self.results, default=lambda v: None if isinstance(v, float) and math.isnan(v) else v),
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--idle", type=int, default=10_000, help="idle widget connections (default 10000)")
    parser.add_argument("--rate", type=float, default=1000.0, help="relay target msg/s (default 1000)")
    parser.add_argument("--scale-rate", type=float, default=3000.0, help="offered msg/s in the 1-vs-2 test")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per relay run (default 10)")
    parser.add_argument("--agents", type=int, default=20, help="relay/scale: agents per load generator (default 20)")
    parser.add_argument("--agent-chats", type=int, default=5,
                        help="relay/scale: max chats per agent (default 5); residents per generator = agents × this")
    parser.add_argument("--bot-rounds", type=int, default=8, help="scripted 4-turn conversations (default 8)")
    parser.add_argument("--flood-turns", type=int, default=40, help="flood: the quiet resident's turns per phase")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: idle,relay,scale,bot,flood,kb")
    args = parser.parse_args()
    args.idle = min(args.idle, 20_000)
    args.duration = min(args.duration, 60)
    args.agents = max(1, min(args.agents, 200))
    args.agent_chats = max(1, min(args.agent_chats, 20))  # accounts allow at most 20 concurrent chats
    args.flood_turns = max(5, min(args.flood_turns, 200))
    raise_nofile()
    asyncio.run(Bench(args).run())


if __name__ == "__main__":
    main()
