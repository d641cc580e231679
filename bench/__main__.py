"""`make bench`: chat311's load benchmarks; prints a goals table and one final JSON line with every number.

Everything runs on loopback and starts its own embedded Redis, chat_server processes and (for
the bot benchmark) Rasa on free ports, using the same child specs `make run` uses. Load comes
from separate `bench.loadgen` processes, bounded in connections and time.

  (1) idle   N widget connections on one process → server RSS per connection, Redis bytes per session
  (2) relay  resident → logged-in agent on `/agents` at a target rate, GC default vs tuned, 3 runs
             each on a fresh server: the chat_server process's CPU ms per relayed message (and
             Redis's, apart), p50/p95/p99, lost, late, the generator's lag; p99 and CPU are quoted
             as the median of the runs (all runs printed), never the best one
  (3) bot    a bot turn through chat_server (to the last bot message received) vs the same turn
             straight to Rasa's chat311 channel, same run → ratio at p50 and p95
  (4) scale  1 chat_server process (no manager) vs 2 on Redis (AsyncRedisManager), two load
             generators at a rate both carry, 3 runs each, alternating → CPU ms per delivered
             message (medians), the manager's overhead ratio, lost
  (5) flood  a quiet resident's bot-turn latency (p50/p99, send → last bot message) alone, while
             one IP floods, and while 40 loopback IPs flood (bench/flood.py), shipped rate limits
  (6) kb     knowledge-base search in its own process (bench/kb.py)

What counts (bench/stats.py, unit-tested): a message whose send errored, whose ack did not come
within --ack-timeout, or that no agent received by the drain deadline is lost; every delivered
message is in the percentiles however late, and deliveries slower than --late-ms are counted and
their worst is printed. Latency starts at the actual send; how far sends trailed the schedule
(the generator's own lag) is printed beside it, so an overloaded generator is visible. CPU is the
server processes' user + system seconds (children included) from /proc over the measured window
(from "go" to the last generator's result), divided by the messages delivered.

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

`--quick` (`make bench QUICK=1`) runs every part shorter (see SIZES below) in a few minutes; its
figures are noisier, and the table says which mode produced it.
Options: --idle N, --idle-compress 15|0 (15, the default: idle connections offer permessage-deflate as
browsers do; 0: they do not, the figure before 2026-12-05),
--rate R (1000), --duration S, --runs K (3, relay and scale), --agents A (20 per load generator),
--agent-chats C (5; residents per generator = A × C), --scale-rate R (500), --skip a,b (parts to skip),
--only a,b (just these parts), --relay-gc default|tuned|both (both), --profile DIR (each chat_server
under `py-spy record`, a flame graph per server in DIR; its CPU figures then include py-spy's own).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import redis.asyncio as aioredis

from bench import kb as kb_bench
from bench.cpu import CpuWindow
from bench.loadgen import PASSWORD_ENV, raise_nofile
from bench.stats import Figure, from_json, median, per_message_ms, ratio, rounded, table, worst
from chat_server import bot_model
from chat_server.agents.accounts import Account, AccountStore
from chat_server.agents.settings import WEEKDAYS
from chat_server.child_specs import action_server_spec, embedded_redis_spec, free_port, rasa_server_spec
from chat_server.config import PROJECT_ROOT, RasaConfig, RetentionConfig
from chat_server.process_supervisor import Supervisor

LOG_DIR = PROJECT_ROOT / "var" / "bench-logs"
RASA_TOKEN = "bench-rasa-token"
DEFAULT_GC = [700, 10, 10]
# Staffed around the clock (YAML flow mapping for CHAT311_HOURS__WEEKLY; JSON is YAML).
ALWAYS_OPEN = json.dumps({day: ["00:00-24:00"] for day in WEEKDAYS})
# Part sizes: (full, quick). The relay rate stays 1,000 msg/s in both: it is the rate the goal names. The bot
# part keeps 32 turns in both: with 12, its p95 was the slowest single turn (ratio 2.0 one run, 1.1 the next).
SIZES: dict[str, tuple[float, float]] = {"idle": (10_000, 1_000), "duration": (10.0, 3.0), "bot_rounds": (8, 8),
                                         "flood_turns": (40, 10), "kb_articles": (2000, 300)}
PARTS = ("idle", "relay", "scale", "bot", "flood", "kb", "startup")
FLOOD_MAX_S = 600  # a flood phase's bound; the quiet resident's turns normally end it much sooner
# Goals named by issue 21 (performance) and issue 14 (honest benchmarks).
GOAL_CPU_MS, GOAL_P99_MS, GOAL_IDLE_KB, GOAL_BOT_RATIO, GOAL_MANAGER = 0.4, 20.0, 30.0, 1.15, 1.25
GOAL_READY_S = 15.0


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


@contextlib.asynccontextmanager
async def reaped(proc: asyncio.subprocess.Process) -> AsyncIterator[asyncio.subprocess.Process]:
    """A load process that is killed if it is still running when its part ends (a timeout, a failure)."""
    try:
        yield proc
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


class Server:
    def __init__(self, name: str, port: int, env: dict[str, str], profile: Path | None = None) -> None:
        self.name, self.port, self.env = name, port, env
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.profile = profile

    def command(self) -> list[str]:
        serve = [sys.executable, "-m", "chat_server.cli", "serve", "--reuse-port"]
        if self.profile is None:
            return serve
        spy = os.environ.get("PY_SPY") or shutil.which("py-spy")
        if not spy:
            raise SystemExit("bench: --profile needs py-spy (pip install py-spy; or set PY_SPY=/path/to/py-spy)")
        self.profile.mkdir(parents=True, exist_ok=True)
        # --nonblocking: sampling must not pause the server it measures; idle frames are left out
        return [spy, "record", "--nonblocking", "--rate", "200", "--format", "raw",
                "-o", str(self.profile / f"{self.name}.txt"), "--", *serve]

    async def start(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with open(LOG_DIR / f"{self.name}.log", "wb") as log:
            self.proc = subprocess.Popen(self.command(),
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

    async def wait_knowledge(self, token: str, timeout: float = 300) -> None:
        """Until the knowledge base has loaded (its model and index, ~120 MB and seconds of CPU).

        It loads in the background after start; measured windows (RSS, CPU) must not include it.
        `POST /kb/answer` answers 503 until then (404 when the knowledge base is switched off).
        """
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            while time.monotonic() < deadline:
                async with http.post(f"{self.url}/kb/answer", json={"text": "trash pickup", "language": "en"}) as r:
                    if r.status in (200, 404):
                        return
                    if r.status != 503:
                        raise SystemExit(f"bench: {self.name}: /kb/answer answered HTTP {r.status}")
                await asyncio.sleep(0.2)
        raise SystemExit(f"bench: {self.name}: knowledge base not loaded after {timeout:.0f} s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    async def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            if self.profile is not None:  # the server is py-spy's child: py-spy writes its file when it exits
                for child in psutil.Process(self.pid).children():
                    child.send_signal(signal.SIGTERM)
            else:
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
        print(f"  {part:<8} {metric:<56} {value}", flush=True)

    kb = kb_bench.run  # (5) knowledge-base search, in its own process (bench/kb.py)

    async def redis_used_memory(self) -> int:
        redis = aioredis.from_url(self.redis_url)
        try:
            return int((await redis.info("memory"))["used_memory"])
        finally:
            await redis.aclose()

    # (1) ---------------------------------------------------------------------------
    async def idle(self) -> None:
        n = self.args.idle
        port = free_port()
        server = Server("idle", port, self.env(port))
        await server.start()
        try:
            await server.wait_knowledge(RASA_TOKEN)
            await asyncio.sleep(1.0)
            before, redis_before = server.rss(), await self.redis_used_memory()
            per_gen = 5000
            gens = [await self.loadgen("idle", "--url", server.url, "--count", str(min(per_gen, n - i)),
                                       "--hold", "300", "--compress", str(self.args.idle_compress))
                    for i in range(0, n, per_gen)]
            ready = [await self.line(g, 600) for g in gens]
            connected = sum(r["ready"] for r in ready)
            await asyncio.sleep(3.0)
            after, redis_after = server.rss(), await self.redis_used_memory()
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
        redis_per_session = (redis_after - redis_before) / max(connected, 1)
        self.results.update(idle_connections=connected, idle_compress=self.args.idle_compress,
                            idle_failures=sum(r["failures"] for r in ready),
                            idle_alive_at_end=alive, idle_rss_before_mb=round(before / 2**20, 1),
                            idle_rss_after_mb=round(after / 2**20, 1), idle_kb_per_connection=round(per_conn, 1),
                            idle_redis_bytes_per_session=round(redis_per_session),
                            idle_open_s=max(r["open_s"] for r in ready), idle_load=load())
        self.row("idle", f"connections (requested {n}), failures", f"{connected}, {self.results['idle_failures']}")
        self.row("idle", "RSS before → after (MB)", f"{before / 2**20:.1f} → {after / 2**20:.1f}")
        self.row("idle", f"RSS per connection (KB, goal ≤ {GOAL_IDLE_KB:g})", f"{per_conn:.1f}")
        self.row("idle", "Redis used_memory per idle session (bytes)", f"{redis_per_session:.0f}")

    # relay helper -----------------------------------------------------------------------
    async def run_relay(self, servers: list[Server], prefix: str, rate: float, duration: float,
                        generators: int = 1) -> dict[str, Any]:
        """Residents → agents through escalation; each generator brings its own agents and residents.

        Generators set up one after another: the first one's agents are full (capacity = its
        residents) before the next one's residents escalate, so every conversation lands on an agent
        of the process that timed its send — latency never compares two processes' clocks.
        The servers' and Redis's CPU is read from "go" until the last generator's result.
        """
        agents, chats = self.args.agents, self.args.agent_chats
        names = [[f"g{g}-agent{i:03d}" for i in range(agents)] for g in range(generators)]
        password = secrets.token_urlsafe(18)
        await self.make_agents(prefix, [n for group in names for n in group], password)
        gens: list[asyncio.subprocess.Process] = []
        for group in names:
            gens.append(await self.loadgen("relay", "--url", ",".join(s.url for s in servers), "--agents",
                                           ",".join(group), "--sessions", str(agents * chats), "--rate",
                                           str(rate / generators), "--duration", str(duration),
                                           "--ack-timeout", str(self.args.ack_timeout),
                                           "--late-ms", str(self.args.late_ms), env={PASSWORD_ENV: password}))
            ready = await self.line(gens[-1], 300)
            if ready["sessions_ready"] != agents * chats:
                raise SystemExit(f"bench: only {ready['sessions_ready']} of {agents * chats} residents got an agent")
        redis_pid = self.sup.pid("redis")
        server_cpu, redis_cpu = CpuWindow([s.pid for s in servers]), CpuWindow([redis_pid] if redis_pid else [])
        server_cpu.start()
        redis_cpu.start()
        for g in gens:
            assert g.stdin is not None
            g.stdin.write(b"go\n")
            await g.stdin.drain()
        outs = [await self.line(g, duration + self.args.ack_timeout + 120) for g in gens]
        server_cpu.stop()
        redis_cpu.stop()
        for g in gens:
            await g.wait()
        merged: dict[str, Any] = {k: sum(o[k] for o in outs) for k in ("sessions", "agents", "sent", "acked",
                                                                      "delivered", "lost", "late")}
        merged["throughput_msg_s"] = round(sum(o["throughput_msg_s"] for o in outs), 1)
        for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "late_max_ms", "lag_p99_ms", "lag_max_ms", "assign_s"):
            values = [o[k] for o in outs]  # conservative: the worst generator's number (null = nothing measured)
            merged[k] = None if None in values else max(values)
        merged["errors"] = {k: sum(o["errors"].get(k, 0) for o in outs) for o in outs for k in o["errors"]}
        merged["server_cpu_s"] = round(server_cpu.total, 3)
        merged["redis_cpu_s"] = round(redis_cpu.total, 3)
        merged["cpu_ms_per_msg"] = rounded(per_message_ms(server_cpu.total, merged["delivered"]), 3)
        merged["redis_cpu_ms_per_msg"] = rounded(per_message_ms(redis_cpu.total, merged["delivered"]), 3)
        merged["late_over_ms"] = self.args.late_ms
        return merged

    def relay_rows(self, part: str, label: str, out: dict[str, Any]) -> None:
        self.row(part, f"{label}: p50 / p95 / p99 / max ms",
                 f"{out['p50_ms']} / {out['p95_ms']} / {out['p99_ms']} / {out['max_ms']}")
        self.row(part, f"{label}: delivered / sent, lost, errors",
                 f"{out['delivered']} / {out['sent']}, {out['lost']}, {out['errors'] or 0}")
        self.row(part, f"{label}: late (> {self.args.late_ms:g} ms), worst ms", f"{out['late']}, {out['late_max_ms']}")
        self.row(part, f"{label}: generator lag p99 / max ms", f"{out['lag_p99_ms']} / {out['lag_max_ms']}")
        self.row(part, f"{label}: CPU ms/msg chat_server, Redis", f"{out['cpu_ms_per_msg']}, "
                 f"{out['redis_cpu_ms_per_msg']}  (delivered {out['throughput_msg_s']} msg/s)")

    # (2) ---------------------------------------------------------------------------
    async def relay(self) -> None:
        rate, duration, runs = self.args.rate, self.args.duration, self.args.runs
        for label, gc in (("default", DEFAULT_GC), ("tuned", None)):
            if self.args.relay_gc not in ("both", label):
                continue
            gc_label = gc or "config default [50000, 50, 100]"
            self.row("relay", f"GC {label} {gc_label}, {runs} runs × {duration:g} s @ {rate:g} msg/s", "")
            outs = []
            for i in range(runs):
                port = free_port()
                extra = {"CHAT311_SERVER__GC_THRESHOLDS": json.dumps(gc)} if gc else {}
                prefix = f"bench-relay-{label}-{i}:"
                server = Server(f"relay-{label}-{i}", port, self.relay_env(port, prefix, **extra), self.args.profile)
                await server.start()
                try:
                    await server.wait_knowledge(RASA_TOKEN)
                    out = await self.run_relay([server], prefix, rate, duration)
                finally:
                    await server.stop()
                outs.append({**out, "load": load()})
                self.relay_rows("relay", f"  run {i + 1}", out)
            p99s = [o["p99_ms"] for o in outs]
            cpus = [o["cpu_ms_per_msg"] for o in outs]
            redis_cpus = [o["redis_cpu_ms_per_msg"] for o in outs]
            summary = {"p99_ms_runs": p99s, "p99_ms_median": rounded(median(from_json(p99s))),
                       "cpu_ms_per_msg_runs": cpus, "cpu_ms_per_msg_median": rounded(median(from_json(cpus)), 3),
                       "redis_cpu_ms_per_msg_median": rounded(median(from_json(redis_cpus)), 3),
                       "lost": sum(o["lost"] for o in outs), "late": sum(o["late"] for o in outs),
                       "late_max_ms": worst(o["late_max_ms"] for o in outs),
                       "lag_p99_ms_worst": worst(o["lag_p99_ms"] for o in outs),
                       "lag_max_ms_worst": worst(o["lag_max_ms"] for o in outs)}
            self.results[f"relay_{label}"] = {**summary, "runs": outs, "gc_thresholds": gc_label, "rate": rate,
                                              "duration_s": duration, "what": "resident -> logged-in agent on "
                                              "/agents (escalated: /request_human with the bot down -> queue -> "
                                              "offer -> accept)"}
            self.row("relay", f"  p99 ms, runs → median (goal ≤ {GOAL_P99_MS:g})",
                     f"{' / '.join(map(str, p99s))} → {summary['p99_ms_median']}")
            self.row("relay", f"  CPU ms/msg, runs → median (goal ≤ {GOAL_CPU_MS:g})",
                     f"{' / '.join(map(str, cpus))} → {summary['cpu_ms_per_msg_median']}")

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
            # the knowledge base loads after start: its first question would wait for it (3.7 s measured)
            await server.wait_knowledge(RASA_TOKEN)
            gen = await self.loadgen("bot", "--url", server.url, "--rasa", self.rasa_url, "--rounds",
                                     str(self.args.bot_rounds))
            out = await self.line(gen, 900)
            await gen.wait()
        finally:
            await server.stop()
        p50, p95 = (ratio(out[f"server_{q}_ms"], out[f"direct_{q}_ms"]) for q in ("p50", "p95"))
        self.results["bot"] = {**out, "ratio_p50": rounded(p50), "ratio_p95": rounded(p95),
                               "ratio_mean": rounded(ratio(out["server_mean_ms"], out["direct_mean_ms"])),
                               "load": load()}
        for q, value in (("p50", p50), ("p95", p95)):
            self.row("bot", f"turn {q} via chat_server / direct Rasa (ms)",
                     f"{out[f'server_{q}_ms']} / {out[f'direct_{q}_ms']}")
            self.row("bot", f"ratio {q} (goal ≤ {GOAL_BOT_RATIO:g})", f"{value:.2f}")

    # (4) ---------------------------------------------------------------------------
    async def scale(self) -> None:
        """1 process as shipped (no manager) vs 2 on the Redis manager: what the manager adds per message.

        On 2 cores a throughput ratio measures the machine, not the code, so the offered rate is
        one that both set-ups carry and the figure is CPU per delivered message. The two set-ups
        alternate run by run (1, 2, 1, 2, ...) so drifting neighbour load hits both alike; the ratio
        is of the medians.
        """
        rate, duration, runs = self.args.scale_rate, self.args.duration, self.args.runs
        outs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
        for i in range(runs):
            for procs in (1, 2):
                servers = []
                prefix = f"bench-scale-{procs}-{i}:"
                manager = "true" if procs > 1 else "false"
                for j in range(procs):
                    port = free_port()
                    servers.append(Server(f"scale-{procs}-{i}-{j}", port,
                                          self.relay_env(port, prefix, CHAT311_SERVER__REDIS_MANAGER=manager)))
                for s in servers:
                    await s.start()
                try:
                    for s in servers:
                        await s.wait_knowledge(RASA_TOKEN)
                    out = await self.run_relay(servers, prefix, rate, duration, generators=2)
                finally:
                    for s in servers:
                        await s.stop()
                outs[procs].append({**out, "load": load()})
                what = "es on the manager" if procs > 1 else ", no manager"
                self.relay_rows("scale", f"run {i + 1}, {procs} process{what}", out)
        summary = {}
        for procs, key in ((1, "one"), (2, "two")):
            cpus = [o["cpu_ms_per_msg"] for o in outs[procs]]
            summary[key] = {"cpu_ms_per_msg_runs": cpus, "cpu_ms_per_msg_median": rounded(median(from_json(cpus)), 3),
                            "p99_ms_median": rounded(median(from_json(o["p99_ms"] for o in outs[procs]))),
                            "lost": sum(o["lost"] for o in outs[procs]), "runs": outs[procs]}
        one, two = summary["one"], summary["two"]
        overhead = ratio(*from_json([two["cpu_ms_per_msg_median"], one["cpu_ms_per_msg_median"]]))
        self.results["scale"] = {"offered_rate": rate, "duration_s": duration, **summary,
                                 "cpu_overhead_ratio": rounded(overhead), "lost_total": one["lost"] + two["lost"],
                                 "load": load(), "cpus": os.cpu_count()}
        for procs, key in ((1, "one"), (2, "two")):
            self.row("scale", f"{procs} process(es): CPU ms/msg runs → median",
                     f"{' / '.join(map(str, summary[key]['cpu_ms_per_msg_runs']))} → "
                     f"{summary[key]['cpu_ms_per_msg_median']}")
        self.row("scale", f"CPU ms/msg 2 processes / 1, medians (goal ≤ {GOAL_MANAGER:g})", f"{overhead:.2f}")

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
                    "--sessions", str(sessions), "--rate", str(rate), "--duration", str(FLOOD_MAX_S),
                    cwd=PROJECT_ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
                async with reaped(flood):
                    await self.line(flood, 120)
                    await asyncio.sleep(2.0)  # the flood is under way before the quiet resident starts
                    latency = await self.quiet_turns(server.url)
                    assert flood.stdin is not None
                    # A flood that already stopped at FLOOD_MAX_S has closed its stdin (the quiet turns
                    # outlasted it, and the figure is marked as such below).
                    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                        flood.stdin.write(b"stop\n")
                        await flood.stdin.drain()
                    sent = await self.line(flood, 60)
                    await flood.wait()
                if sent["seconds"] >= FLOOD_MAX_S - 1:
                    self.row("flood", f"  the flood stopped at {FLOOD_MAX_S} s, before the quiet turns did", label)
                out[label] = {**latency, "flood": {"ips": ips, "sessions_per_ip": sessions, "msg_s_per_ip": rate,
                                                   "outlasted_by_quiet_turns": sent["seconds"] >= FLOOD_MAX_S - 1,
                                                   **sent}}
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
        async with reaped(proc):
            out = await self.line(proc, 60 * self.args.flood_turns + 60)  # flood.py waits ≤ 60 s per turn
            await proc.wait()
        return out

    def figures(self) -> list[Figure]:
        """The final table's rows: every headline figure, with its goal where issue 21 or 14 names one."""
        r = self.results
        figures: list[Figure] = []

        def missing(name: str, goal: float | None = None, source: str = "") -> None:
            figures.append(Figure(name, None, "not measured (part skipped or failed)", goal, source))

        relay = r.get("relay_tuned")
        rate = f"{self.args.rate:,.0f} msg/s"
        if relay:
            runs = len(relay["runs"])
            figures += [
                Figure(f"relay CPU ms per relayed message, chat_server (median of {runs})",
                       relay["cpu_ms_per_msg_median"], f"{relay['cpu_ms_per_msg_median']}  (runs "
                       f"{' / '.join(map(str, relay['cpu_ms_per_msg_runs']))})", GOAL_CPU_MS, "issue 21"),
                Figure(f"relay CPU ms per relayed message, Redis (median of {runs})",
                       relay["redis_cpu_ms_per_msg_median"]),
                Figure(f"relay p99 ms at {rate} (median of {runs})", relay["p99_ms_median"],
                       f"{relay['p99_ms_median']}  (runs {' / '.join(map(str, relay['p99_ms_runs']))})",
                       GOAL_P99_MS, "issue 21"),
                Figure(f"relay lost messages ({runs} runs)", relay["lost"], at_most=0, goal_from="issue 21"),
                Figure(f"relay late deliveries (> {self.args.late_ms:g} ms), worst ms", relay["late"],
                       f"{relay['late']}, worst {relay['late_max_ms']}"),
                Figure("relay generator lag behind schedule p99 / max ms (worst run)", relay["lag_p99_ms_worst"],
                       f"{relay['lag_p99_ms_worst']} / {relay['lag_max_ms_worst']}"),
            ]
        else:
            missing("relay CPU ms per relayed message", GOAL_CPU_MS, "issue 21")
            missing(f"relay p99 ms at {rate}", GOAL_P99_MS, "issue 21")
            missing("relay lost messages", 0, "issue 21")
        if (default := r.get("relay_default")) is not None:
            figures.append(Figure("relay with CPython GC [700, 10, 10]: p99 ms / CPU ms per msg (medians)",
                                  default["p99_ms_median"],
                                  f"{default['p99_ms_median']} / {default['cpu_ms_per_msg_median']}, "
                                  f"lost {default['lost']}"))
        if "idle_kb_per_connection" in r:
            figures += [Figure(f"idle RSS KB per connection ({r['idle_connections']:,} connections)",
                               r["idle_kb_per_connection"], at_most=GOAL_IDLE_KB, goal_from="issue 21"),
                        Figure("idle Redis bytes per idle session", r["idle_redis_bytes_per_session"])]
        else:
            missing("idle RSS KB per connection", GOAL_IDLE_KB, "issue 21")
        bot = r.get("bot")
        if bot and "ratio_p50" in bot:
            for q in ("p50", "p95"):
                figures.append(Figure(f"bot turn ratio {q}, chat_server / Rasa chat311 channel", bot[f"ratio_{q}"],
                                      f"{bot[f'ratio_{q}']}  ({bot[f'server_{q}_ms']} / {bot[f'direct_{q}_ms']} ms, "
                                      f"{bot['turns']} turns)", GOAL_BOT_RATIO, "issue 21"))
        else:
            missing("bot turn ratio p50 / p95", GOAL_BOT_RATIO, "issue 21")
        scale = r.get("scale")
        if scale:
            runs = len(scale["one"]["runs"])
            for key, what in (("one", f"1 process (no manager) @ {scale['offered_rate']:g} msg/s"),
                              ("two", "2 processes on the Redis manager")):
                figures.append(Figure(f"CPU ms per delivered message, {what} (median of {runs})",
                                      scale[key]["cpu_ms_per_msg_median"],
                                      f"{scale[key]['cpu_ms_per_msg_median']}  (runs "
                                      f"{' / '.join(map(str, scale[key]['cpu_ms_per_msg_runs']))})"))
            figures += [
                Figure("manager overhead: CPU per message 2 processes / 1", scale["cpu_overhead_ratio"],
                       at_most=GOAL_MANAGER, goal_from="issue 14"),
                Figure(f"scale lost messages (1 and 2 processes, {runs} runs each)", scale["lost_total"], at_most=0,
                       goal_from="issue 14"),
            ]
        else:
            missing("manager overhead: CPU per message 2 processes / 1", GOAL_MANAGER, "issue 14")
        flood = r.get("flood")
        if flood and "quiet" in flood:
            for label, what in (("quiet", "no flood"), ("one_ip", "1 IP flooding"), ("forty_ips", "40 IPs flooding")):
                figures.append(Figure(f"flood: quiet resident p50 / p99 ms, {what}", flood[label]["p99_ms"],
                                      f"{flood[label]['p50_ms']} / {flood[label]['p99_ms']}"))
            for label, what in (("one_ip", "1 IP"), ("forty_ips", "40 IPs")):
                figures.append(Figure(f"flood: quiet p99 ratio, {what} / no flood", flood[f"ratio_p99_{label}"],
                                      at_most=3, goal_from="flood target"))
        else:
            missing("flood: quiet resident p50 / p99 ms")
        startup = r.get("startup")
        if startup:
            figures += [
                Figure("make run → serving the widget (s, cached setup)", startup["setup_s"] + startup["serving_s"]),
                Figure("make run → ready, Rasa model loaded (s, cached setup)", startup["make_run_ready_s"],
                       at_most=GOAL_READY_S, goal_from="issue 21"),
            ]
        else:
            missing("make run → ready, Rasa model loaded (s, cached setup)", GOAL_READY_S, "issue 21")
        for key, value in r.items():
            if key.startswith("kb_") and key != "kb_load":
                figures.append(Figure(f"kb: {key.removeprefix('kb_')}", value if isinstance(value, float | int)
                                      else None, str(value)))
        return figures

    # (7) ---------------------------------------------------------------------------
    async def startup(self) -> None:
        """`make run` from a set-up checkout: the cached `make setup` checks, then `chat311 run` (embedded
        Redis, Rasa with the cached model, the action server, chat_server) on free ports, timed to the
        first /healthz (the widget is served), to the knowledge base answering, and to /readyz (Rasa
        loaded: the bot answers)."""
        t0 = time.monotonic()
        setup = await asyncio.create_subprocess_exec("make", "-s", "setup", cwd=PROJECT_ROOT,
                                                     stdout=asyncio.subprocess.DEVNULL,
                                                     stderr=asyncio.subprocess.DEVNULL)
        if await setup.wait() != 0:
            raise SystemExit("bench: `make setup` failed")
        setup_s = time.monotonic() - t0
        port, rasa_port, actions_port, redis_port = free_port(), free_port(), free_port(), free_port()
        data = Path(tempfile.mkdtemp(prefix="chat311-bench-run-"))
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.update(CHAT311_SERVER__PORT=str(port), CHAT311_SERVER__HOST="127.0.0.1",
                   CHAT311_SERVER__PUBLIC_URL=f"http://127.0.0.1:{port}",
                   CHAT311_REDIS__EMBEDDED_PORT=str(redis_port), CHAT311_REDIS__EMBEDDED_DIR=str(data),
                   CHAT311_RASA__URL=f"http://127.0.0.1:{rasa_port}",
                   CHAT311_RASA__ACTIONS_URL=f"http://127.0.0.1:{actions_port}", CHAT311_LOGGING__LEVEL="WARNING")
        url = f"http://127.0.0.1:{port}"
        token = env.get("CHAT311_RASA__TOKEN") or RasaConfig().token  # what `chat311 run` will use
        marks: dict[str, float] = {}
        t1 = time.monotonic()
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with open(LOG_DIR / "startup.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "chat_server.cli", "run"], cwd=PROJECT_ROOT, env=env,
                                    stdout=log, stderr=log, start_new_session=True)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
                while "ready" not in marks and time.monotonic() - t1 < 300:
                    if proc.poll() is not None:
                        raise SystemExit(f"bench: `chat311 run` exited; see {LOG_DIR / 'startup.log'}")
                    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                        if "serving" not in marks:
                            async with http.get(f"{url}/healthz") as resp:
                                if resp.status == 200:
                                    marks["serving"] = time.monotonic() - t1
                        if "serving" in marks and "knowledge" not in marks:
                            async with http.post(f"{url}/kb/answer", json={"text": "trash", "language": "en"},
                                                 headers={"Authorization": f"Bearer {token}"}) as resp:
                                if resp.status in (200, 404):  # 404: the knowledge base is switched off
                                    marks["knowledge"] = time.monotonic() - t1
                        if "serving" in marks:
                            async with http.get(f"{url}/readyz") as resp:
                                if resp.status == 200:
                                    marks["ready"] = time.monotonic() - t1
                    await asyncio.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            shutil.rmtree(data, ignore_errors=True)
        if "ready" not in marks:
            raise SystemExit("bench: `chat311 run` was not ready within 300 s")
        self.results["startup"] = {"setup_s": round(setup_s, 1), **{f"{k}_s": round(v, 1) for k, v in marks.items()},
                                   "make_run_ready_s": round(setup_s + marks["ready"], 1), "load": load()}
        self.row("startup", "`make setup` with everything cached (s)", f"{setup_s:.1f}")
        for key, what in (("serving", "serving (/healthz, widget)"), ("knowledge", "knowledge base answering"),
                          ("ready", "ready (/readyz: Rasa model loaded)")):
            if key in marks:
                self.row("startup", f"`chat311 run` → {what} (s)", f"{marks[key]:.1f}")

    async def run_part(self, part: str) -> None:
        """One part; a part that fails is reported (and its figures show as not measured), the rest still run."""
        try:
            await getattr(self, part)()
        except (Exception, SystemExit) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            self.results[f"{part}_error"] = error
            self.row(part, "FAILED", error)

    async def run(self) -> None:
        # SIGTERM (`timeout`, `kill`) unwinds like Ctrl-C, so the servers and Rasa it started are stopped too.
        main = asyncio.current_task()
        assert main is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
        skip = set(filter(None, self.args.skip.split(",")))
        mode = "quick" if self.args.quick else "full"
        print(f"chat311 bench ({mode}) — load average {load()}, {os.cpu_count()} CPUs, nofile {raise_nofile()}",
              flush=True)
        self.results.update(mode=mode, date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
        await self.start_redis()
        try:
            for part in PARTS:
                if part not in skip:
                    await self.run_part(part)
        finally:
            await self.sup.stop()
        self.results["load_end"] = load()
        print("\n" + "-" * 80)
        print(f"  {'part':<8} {'metric':<56} value")
        for part, metric, value in self.rows:
            print(f"  {part:<8} {metric:<56} {value}")
        figures = self.figures()
        print("-" * 80)
        print(f"\nchat311 bench ({mode}), {self.results['date']}, load average {self.results['load_start']} → "
              f"{self.results['load_end']}, {os.cpu_count()} CPUs\n")
        print(table(figures))
        print("-" * 80)
        self.results["table"] = [{"figure": f.name, "value": f.display, "goal": f.goal, "verdict": str(f.verdict)}
                                 for f in figures]
        print(json.dumps(self.results, default=lambda v: None if isinstance(v, float) and math.isnan(v) else v),
              flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true",
                        help="every part, shorter (a few minutes; `make bench QUICK=1`); explicit sizes still win")
    parser.add_argument("--idle", type=int, help="idle widget connections (full 10000, quick 1000)")
    parser.add_argument("--idle-compress", type=int, default=15, choices=[0, 15],
                        help="idle: 15 (default) = each connection offers permessage-deflate, as browsers "
                             "do; 0 = it does not (the figure before 2026-12-05)")
    parser.add_argument("--rate", type=float, default=1000.0, help="relay target msg/s (default 1000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per relay GC setting and scale set-up (default 3)")
    parser.add_argument("--scale-rate", type=float, default=500.0,
                        help="offered msg/s in the 1-vs-2 test, one both set-ups carry (default 500)")
    parser.add_argument("--duration", type=float, help="seconds per relay/scale run (full 10, quick 3)")
    parser.add_argument("--ack-timeout", type=float, default=10.0, help="relay: no ack by then = lost (default 10 s)")
    parser.add_argument("--late-ms", type=float, default=1000.0,
                        help="relay: deliveries slower than this are counted as late (default 1000 ms)")
    parser.add_argument("--agents", type=int, default=20, help="relay/scale: agents per load generator (default 20)")
    parser.add_argument("--agent-chats", type=int, default=5,
                        help="relay/scale: max chats per agent (default 5); residents per generator = agents × this")
    parser.add_argument("--bot-rounds", type=int, help="scripted 4-turn conversations (default 8)")
    parser.add_argument("--flood-turns", type=int, help="flood: quiet turns per phase (full 40, quick 10)")
    parser.add_argument("--kb-articles", type=int, help="kb: synthetic articles (full 2000, quick 300)")
    parser.add_argument("--skip", default="",
                        help="comma-separated parts to skip: idle,relay,scale,bot,flood,kb,startup")
    parser.add_argument("--only", default="", help="comma-separated parts to run (the others are skipped)")
    parser.add_argument("--relay-gc", choices=["both", "default", "tuned"], default="both",
                        help="relay: which GC setting(s) to run (default both)")
    parser.add_argument("--profile", type=Path, help="relay: run each server under py-spy, flame graphs into this dir")
    args = parser.parse_args(argv)
    if args.only:
        only = set(filter(None, args.only.split(",")))
        args.skip = ",".join(sorted(set(PARTS) - only | set(filter(None, args.skip.split(",")))))
    for name, (full, quick) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, type(full)(quick if args.quick else full))
    args.idle = min(args.idle, 20_000)
    args.duration = min(args.duration, 60)
    args.runs = max(1, min(args.runs, 9))
    args.agents = max(1, min(args.agents, 200))
    args.agent_chats = max(1, min(args.agent_chats, 20))  # accounts allow at most 20 concurrent chats
    args.bot_rounds = max(1, min(args.bot_rounds, 100))
    args.flood_turns = max(5, min(args.flood_turns, 200))
    args.kb_articles = max(10, min(args.kb_articles, 5000))
    raise_nofile()
    try:
        asyncio.run(Bench(args).run())
    except asyncio.CancelledError:
        raise SystemExit("bench: stopped by SIGTERM (its servers were stopped); no figures") from None


if __name__ == "__main__":
    main()
