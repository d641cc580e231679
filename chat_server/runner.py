"""`chat311 run`: the whole service on one machine — embedded Redis, Rasa, actions, chat_server.

chat_server is the parent: it supervises its children, prints one line per component when
it is ready, and on Ctrl-C stops everything (children first get SIGTERM). With workers > 1
it runs N chat_server processes on one port (SO_REUSEPORT) sharing Redis pub/sub.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp
import uvloop
from aiohttp import web

from chat_server import bot_model, redis_connect
from chat_server.app import create_app
from chat_server.child_specs import action_server_spec, embedded_redis_spec, rasa_server_spec
from chat_server.config import Config
from chat_server.logsetup import register_secret
from chat_server.process_supervisor import ChildSpec, Supervisor

log = logging.getLogger("chat311.runner")
SHUTDOWN_LIMIT_S = 10.0


def announce(line: str) -> None:
    print(f"chat311: {line}", flush=True)


def tune_gc(config: Config) -> None:
    """Fewer, later collections: default thresholds stall the loop for 0.5 s+ with 5k+ sockets."""
    gen0, gen1, gen2 = ([*config.server.gc_thresholds, 10, 10, 10])[:3]
    gc.set_threshold(gen0, gen1, gen2)


async def check_sentinel(redis_url: str) -> None:
    """A Sentinel URL naming an unknown master, or no reachable Sentinel, stops the start with the
    reason (a plain URL's Redis may come up after us: /readyz reports it meanwhile)."""
    if redis_connect.sentinel_target(redis_url) is None:
        return
    try:
        await redis_connect.check_url(redis_url)
    except redis_connect.RedisUnreachable as exc:
        raise SystemExit(f"chat311: redis.url: {exc}") from None


class GoodbyeFirstRunner(web.AppRunner):
    """aiohttp's cleanup stops reading every connection before the app's `on_shutdown` runs, so the
    Socket.IO goodbye sent there was taken but the websocket's closing handshake never was: every
    connected client held shutdown for the whole grace period (5-6 s per worker, measured). Here the
    sites stop listening first, then `on_shutdown` runs while connections still read, then aiohttp's
    cleanup goes on (its own call of `shutdown` is then a no-op)."""

    _shut_down = False

    async def shutdown(self) -> None:
        if not self._shut_down:
            self._shut_down = True
            await super().shutdown()

    async def cleanup(self) -> None:
        for site in list(self.sites):
            await site.stop()
        await self.shutdown()
        await super().cleanup()


async def serve_app(config: Config, redis_url: str, reuse_port: bool = False) -> web.AppRunner:
    await check_sentinel(redis_url)
    app = create_app(config, redis_url)
    runner = GoodbyeFirstRunner(app, access_log=None, handle_signals=False, shutdown_timeout=3.0)
    await runner.setup()
    site = web.TCPSite(runner, config.server.host, config.server.port, reuse_port=reuse_port or None)
    await site.start()
    gc.freeze()  # everything allocated at startup is long-lived; keep it out of collections
    return runner


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _cleanup(runner: web.AppRunner) -> bool:
    """Stop serving within SHUTDOWN_LIMIT_S; False (and the stuck tasks logged) if that failed.

    Whoever stops us (the supervisor, systemd, a deploy script) waits, and a port held by a
    process that never exits blocks the restart; every state that matters is in Redis already.
    """
    cleanup = asyncio.ensure_future(runner.cleanup())
    done, _ = await asyncio.wait({cleanup}, timeout=SHUTDOWN_LIMIT_S)
    if done:
        cleanup.result()
        return True
    stuck = [task for task in asyncio.all_tasks() if task is not asyncio.current_task() and not task.done()]
    log.error("shutdown did not finish; exiting anyway",
              extra={"limit_s": SHUTDOWN_LIMIT_S, "stuck": [_where(task) for task in stuck[:20]]})
    return False


def _where(task: asyncio.Task[object]) -> str:
    frames = task.get_stack(limit=3)
    places = " < ".join(f"{Path(f.f_code.co_filename).name}:{f.f_lineno} {f.f_code.co_name}" for f in frames)
    return f"{task.get_name()}: {places or task.get_coro()!r}"


def _exit_now(code: int) -> None:
    """Leave without waiting for tasks that ignore cancellation (asyncio.run would wait forever)."""
    logging.shutdown()
    sys.stdout.flush()
    os._exit(code)


async def serve_forever(config: Config, reuse_port: bool = False) -> None:
    """One chat_server process, no children (tests, workers, external Redis/Rasa)."""
    tune_gc(config)
    register_secret(config.rasa.token)
    runner = await serve_app(config, config.redis.effective_url(), reuse_port)
    announce(f"chat_server listening on http://{config.server.host}:{config.server.port}")
    try:
        await _wait_for_signal()
    finally:
        if not await _cleanup(runner):
            _exit_now(1)


def _port_of(url: str) -> int:
    port = urlparse(url).port
    if port is None:
        raise SystemExit(f"chat311: {url} needs an explicit port to be started locally")
    return port


def _ports_to_start(config: Config) -> dict[str, int]:
    """What `run` will listen on, by component."""
    ports = {"chat_server": config.server.port}
    if not config.redis.url:
        ports["redis"] = config.redis.embedded_port
    if config.rasa.manage:
        ports["actions"] = _port_of(config.rasa.actions_url)
        for index, rasa_url in enumerate(config.rasa.servers()):
            ports["rasa" if index == 0 else f"rasa-{index + 1}"] = _port_of(rasa_url)
    return ports


def _refuse_taken_ports(config: Config) -> None:
    """Stop before starting anything when a port is taken: a second `run` (or one left from a crash) answered the
    readiness checks, so the new run said "all components ready" while its own children could not bind (probe Z)."""
    for name, port in _ports_to_start(config).items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # as the servers themselves bind: connections of a run just stopped (TIME_WAIT) do not hold the port,
            # only a listener does (a restart within a minute was refused, probes AA, AB, AC)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                raise SystemExit(f"chat311: port {port} ({name}) is already in use ({exc.strerror}): is another "
                                 "`chat311 run` still running? Stop it, or choose other ports in chat311.yml") from exc


def _ready_printer(spec: ChildSpec) -> None:
    announce(f"✓ {spec.name} ready — {spec.describe}")


async def run_all(config: Config, workers: int = 1) -> None:
    started = time.monotonic()
    _refuse_taken_ports(config)
    tune_gc(config)
    register_secret(config.rasa.token)
    log_dir = config.resolve_path(config.logging.dir)
    sup = Supervisor(on_ready=_ready_printer)
    redis_url = config.redis.effective_url()
    runner: web.AppRunner | None = None
    try:
        if not config.redis.url:
            sup.start(embedded_redis_spec(config.resolve_path(config.redis.embedded_dir),
                                          config.redis.embedded_port, log_dir))
            if not await sup.wait_ready("redis", 20):
                raise SystemExit(f"chat311: embedded Redis did not start; see {log_dir / 'redis.log'}")
        else:
            announce(f"✓ redis — using REDIS_URL {redis_connect.describe(redis_url)}")
        if config.rasa.manage:
            model = bot_model.current_model_path()
            if not model.exists():
                latest = bot_model.latest_model()
                if latest is None:
                    raise SystemExit("chat311: no trained model in bot/models; run `make train` (make run does it)")
                log.warning("training data changed since the last model; serving the latest",
                            extra={"model": latest.name})
                model = latest
            public = f"http://127.0.0.1:{config.server.port}"
            actions_port = _port_of(config.rasa.actions_url)
            sup.start(action_server_spec(actions_port, log_dir, public, config.rasa.token))
            # One Rasa server by default; with several `rasa.urls`, one per URL (each on its port).
            for index, rasa_url in enumerate(config.rasa.servers()):
                sup.start(rasa_server_spec(model, _port_of(rasa_url), config.rasa.token, actions_port, redis_url,
                                           log_dir, config.retention.tracker_expiry_s(),
                                           name="rasa" if index == 0 else f"rasa-{index + 1}"))
        if workers <= 1:
            runner = await serve_app(config, redis_url)
        else:
            for i in range(workers):
                sup.start(_worker_spec(i, config, redis_url, log_dir))
        announce(f"✓ chat_server ready — http://localhost:{config.server.port}/ "
                 f"({workers} process{'es' if workers > 1 else ''}, {time.monotonic() - started:.1f} s)")
        announce(f"  demo page: http://localhost:{config.server.port}/   agent console: "
                 f"http://localhost:{config.server.port}/console   readiness: "
                 f"http://localhost:{config.server.port}/readyz")
        announcer = asyncio.create_task(_announce_all_ready(sup, started)) if config.rasa.manage else None
        await _wait_for_signal()
        if announcer:
            announcer.cancel()
        announce("stopping …")
    finally:
        clean = runner is None or await _cleanup(runner)
        await sup.stop()
        announce("stopped")
        if not clean:
            _exit_now(1)


async def _announce_all_ready(sup: Supervisor, started: float) -> None:
    if await sup.wait_ready("rasa") and await sup.wait_ready("actions"):
        announce(f"✓ all components ready in {time.monotonic() - started:.1f} s")


def _worker_spec(index: int, config: Config, redis_url: str, log_dir: Path) -> ChildSpec:

    port = config.server.port

    async def ready() -> bool:
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/healthz") as r:
            return r.status == 200

    env = {"REDIS_URL": redis_url, "CHAT311_SERVER__REDIS_MANAGER": "true", "CHAT311_RASA__MANAGE": "false"}
    argv = [sys.executable, "-m", "chat_server.cli", "serve", "--reuse-port"]
    return ChildSpec(f"worker-{index}", argv, ready, env=env, log_file=log_dir / f"worker-{index}.log",
                     describe=f"chat_server worker {index} on :{port}")


def run_loop(config: Config, main: Coroutine[Any, Any, None]) -> None:
    """Run `main` to its end on the configured event loop (uvloop unless `server.uvloop` is off)."""
    factory = uvloop.new_event_loop if config.server.uvloop else None
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=factory) as loop:
        loop.run(main)


def main_run(config: Config, workers: int) -> None:
    run_loop(config, run_all(config, workers))


def main_serve(config: Config, reuse_port: bool) -> None:
    run_loop(config, serve_forever(config, reuse_port))
