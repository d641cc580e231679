"""Supervise child processes: start, wait until ready, restart with backoff, stop cleanly.

The embedded Redis, the Rasa server and the action server are children of chat_server.
A crashed child is restarted (backoff 1 s doubling to 30 s, reset after a minute of good
health) and every transition is logged; on shutdown children get SIGTERM, then SIGKILL.
A child whose output may quote residents (Rasa's and the action server's tracebacks and debug lines)
writes through a pipe, each line cleaned (redacted) before it reaches its log file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from chat_server.stopping import cancel_and_wait

log = logging.getLogger("chat311.supervisor")

ReadyCheck = Callable[[], Awaitable[bool]]

_PR_SET_PDEATHSIG = 1
# Looked up here, in the parent: the child, between fork and exec, only calls it.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """Run in the child before exec: SIGTERM it when the supervisor dies, SIGKILL included. `chat311 run` killed
    with -9 left Redis, Rasa and the action server on their ports, and a new run found them "ready" while its own
    children failed to bind (probe X). Linux only; elsewhere a no-op."""
    if _PRCTL is None:
        return
    parent = os.getppid()
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the supervisor died before the line above
        os._exit(1)


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    ready: ReadyCheck
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    log_file: Path | None = None
    ready_timeout_s: float = 180.0
    describe: str = ""
    # Applied to every line of output before `log_file` gets it (None: the child writes the file itself).
    clean_line: Callable[[str], str] | None = None


@dataclass
class ChildState:
    spec: ChildSpec
    process: asyncio.subprocess.Process | None = None
    ready: bool = False
    restarts: int = 0
    started_at: float = 0.0
    task: asyncio.Task[None] | None = None
    ready_event: asyncio.Event = field(default_factory=asyncio.Event)
    output: asyncio.Task[None] | None = None  # copying cleaned output to the log file


OUTPUT_DRAIN_S = 2.0
CHUNK = 64 * 1024
# A line longer than this is cleaned and written in pieces (a piece may split what cleaning would find). Rasa's
# debug lines hold whole trackers: the limit is far above them.
LONGEST_LINE = 4 * 1024 * 1024


async def copy_cleaned(stream: asyncio.StreamReader, log_file: Path, clean_line: Callable[[str], str]) -> None:
    """Copy a child's output to `log_file` line by line through `clean_line`, until the child closes it."""
    with open(log_file, "ab") as out:
        pending = b""
        while chunk := await stream.read(CHUNK):
            *lines, pending = (pending + chunk).split(b"\n")
            if len(pending) >= LONGEST_LINE:
                lines, pending = [*lines, pending], b""
            if lines:
                out.write("".join(clean_line(line.decode(errors="replace")) + "\n" for line in lines).encode())
                out.flush()
        if pending:
            out.write(clean_line(pending.decode(errors="replace")).encode())


class Supervisor:
    def __init__(self, on_ready: Callable[[ChildSpec], None] | None = None) -> None:
        self.children: dict[str, ChildState] = {}
        self._stopping = False
        self._on_ready = on_ready

    def start(self, spec: ChildSpec) -> ChildState:
        state = ChildState(spec)
        self.children[spec.name] = state
        state.task = asyncio.create_task(self._run(state), name=f"supervise-{spec.name}")
        return state

    async def wait_ready(self, name: str, timeout: float | None = None) -> bool:
        state = self.children[name]
        try:
            async with asyncio.timeout(timeout):
                await state.ready_event.wait()
        except TimeoutError:
            return False
        return True

    def pid(self, name: str) -> int | None:
        proc = self.children[name].process if name in self.children else None
        return proc.pid if proc and proc.returncode is None else None

    async def _spawn(self, spec: ChildSpec) -> asyncio.subprocess.Process:
        out: int | IO[bytes] = asyncio.subprocess.DEVNULL
        handle = None
        if spec.log_file:
            spec.log_file.parent.mkdir(parents=True, exist_ok=True)
        if spec.log_file and spec.clean_line:
            out = asyncio.subprocess.PIPE
        elif spec.log_file:
            handle = open(spec.log_file, "ab")  # noqa: SIM115 - handed to the child
            out = handle
        try:
            return await asyncio.create_subprocess_exec(
                *spec.argv,
                cwd=str(spec.cwd) if spec.cwd else None,
                env={**os.environ, **spec.env},
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            if handle:
                handle.close()

    async def _watch_ready(self, state: ChildState) -> None:
        deadline = time.monotonic() + state.spec.ready_timeout_s
        while time.monotonic() < deadline and state.process and state.process.returncode is None:
            with contextlib.suppress(Exception):
                if await state.spec.ready():
                    state.ready = True
                    state.ready_event.set()
                    log.info("child ready", extra={"child": state.spec.name, "pid": state.process.pid})
                    if self._on_ready:
                        self._on_ready(state.spec)
                    return
            await asyncio.sleep(0.25)
        if state.process and state.process.returncode is None:
            log.error("child not ready in time", extra={"child": state.spec.name})

    async def _run(self, state: ChildState) -> None:
        backoff = 1.0
        spec = state.spec
        while not self._stopping:
            state.ready = False
            state.ready_event.clear()
            state.started_at = time.monotonic()
            try:
                state.process = await self._spawn(spec)
            except OSError as exc:
                log.error("child failed to start", extra={"child": spec.name, "error": str(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            log.info("child started", extra={"child": spec.name, "pid": state.process.pid})
            if state.process.stdout and spec.log_file and spec.clean_line:
                state.output = asyncio.create_task(
                    copy_cleaned(state.process.stdout, spec.log_file, spec.clean_line), name=f"output-{spec.name}")
            watcher = asyncio.create_task(self._watch_ready(state))
            code = await state.process.wait()
            watcher.cancel()
            if state.output:  # the rest of what it wrote; a grandchild holding the pipe open is not waited for
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(state.output), OUTPUT_DRAIN_S)
            state.ready = False
            state.ready_event.clear()
            if self._stopping:
                return
            if time.monotonic() - state.started_at > 60:
                backoff = 1.0
            state.restarts += 1
            log.warning(
                "child exited; restarting",
                extra={"child": spec.name, "code": code, "restart_in_s": backoff, "restarts": state.restarts},
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    async def stop(self, grace_s: float = 10.0) -> None:
        self._stopping = True
        procs = [s.process for s in self.children.values() if s.process and s.process.returncode is None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        if procs:
            _, pending = await asyncio.wait([asyncio.create_task(p.wait()) for p in procs], timeout=grace_s)
            for proc in procs:
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
            if pending:
                await asyncio.wait(pending, timeout=2)
        await cancel_and_wait(state.task for state in self.children.values())
        await cancel_and_wait(state.output for state in self.children.values())
