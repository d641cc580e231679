"""`chat311 run` as `make run` starts it: every component comes up, a killed Rasa child is
restarted while /readyz reports it down, and Ctrl-C stops every child."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from chat_server.child_specs import free_port
from chat_server.process_supervisor import ChildSpec, Supervisor
from chat_server.redaction import redact
from tests.support.waiting import until

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.rasa


async def _readyz(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/readyz") as resp:
        return resp.status, await resp.json()


async def _wait_readyz(url: str, status: int, timeout: float) -> dict[str, Any]:
    last: Any = None

    async def answered() -> dict[str, Any] | None:
        nonlocal last
        try:
            code, body = await _readyz(url)
        except aiohttp.ClientError as exc:
            last = exc
            return None
        last = (code, body)
        return body if code == status else None

    found = await until(answered, timeout, lambda _: f"/readyz never returned {status}; last: {last}", interval=0.5)
    assert found is not None
    return found


def _child_with(parent: psutil.Process, needle: str) -> psutil.Process:
    for child in parent.children(recursive=True):
        try:
            if needle in " ".join(child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    raise AssertionError(f"no child process running {needle!r}")


async def test_run_supervises_all_components(tmp_path: Path, resident: Any) -> None:
    port, rasa_port, actions_port, redis_port = free_port(), free_port(), free_port(), free_port()
    config = tmp_path / "chat311.yml"
    config.write_text(
        f"server: {{port: {port}, host: 127.0.0.1}}\n"
        f"redis: {{embedded_dir: {tmp_path / 'redis'}, embedded_port: {redis_port}}}\n"
        f"rasa: {{url: 'http://127.0.0.1:{rasa_port}', actions_url: 'http://127.0.0.1:{actions_port}',"
        f" token: run-test-token}}\n"
        f"logging: {{json: true, dir: {tmp_path / 'logs'}}}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT311_") and k != "REDIS_URL"}
    env["LOG_LEVEL"] = "DEBUG"  # a shell's setting that Rasa reads: at DEBUG it logs every message it gets
    log_path = tmp_path / "run.out"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "chat_server.cli", "--config", str(config), "run"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        body = await _wait_readyz(url, 200, 300)
        required = {name for name, c in body["components"].items() if c.get("required", True)}
        assert required == {"redis", "rasa", "actions"}, body
        assert all(body["components"][name]["ok"] for name in required)
        # the knowledge base's state is shown, informational: questions wait for it, the service does not
        assert body["components"]["knowledge"]["required"] is False
        assert body["components"]["rasa"]["model"].startswith("chat311-")
        # /readyz asks Rasa itself; the supervisor's own probe (which prints the line) may be a poll behind.
        lines = ("✓ redis ready", "✓ chat_server ready", "✓ actions ready", "✓ rasa ready", "✓ all components ready")
        with contextlib.suppress(AssertionError):  # the asserts below say which line is missing
            await until(lambda: all(line in log_path.read_text() for line in lines), 30, "")
        output = log_path.read_text()
        for line in lines:
            assert line in output, output[-2000:]
        assert (tmp_path / "redis" / "appendonly.aof").exists()  # AOF on in the embedded data dir
        # each child's log in the configured dir: a second stack does not write into the first one's
        assert {"redis.log", "rasa.log", "actions.log"} <= {p.name for p in (tmp_path / "logs").iterdir()}
        # What a resident types reaches no log: Rasa's and the action server's neither.
        client = await resident(url)
        await client.start_session()
        assert (await client.say("my name is Ana Ruiz, call me at 704-555-0188 about a pothole"))["ok"]
        await client.wait_for("bot_uttered", timeout=60)
        for name in ("rasa.log", "actions.log"):
            written = (tmp_path / "logs" / name).read_text()
            assert "0188" not in written.replace("…88", "") and "Ruiz" not in written, name

        # A second run on the same ports refuses to start: it said "all components ready" off the first one's
        # children while its own could not bind (probe Z).
        second = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "chat_server.cli", "--config", str(config), "run"], cwd=ROOT,
            env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode != 0 and "already in use" in second.stderr + second.stdout, second
        assert "ready" not in second.stdout, second.stdout

        parent = psutil.Process(proc.pid)
        rasa = _child_with(parent, f"--port {rasa_port}")
        os.killpg(rasa.pid, signal.SIGKILL)
        down = await _wait_readyz(url, 503, 20)
        assert down["components"]["rasa"]["ok"] is False
        assert down["components"]["redis"]["ok"] is True
        await _wait_readyz(url, 200, 240)
        assert _child_with(parent, f"--port {rasa_port}").pid != rasa.pid
        assert "child exited; restarting" in log_path.read_text()
        children = parent.children(recursive=True)
    finally:
        proc.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(proc.wait, 60)
    assert code == 0
    assert "chat311: stopped" in log_path.read_text()
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"children left running: {alive}"


async def test_a_childs_output_reaches_its_log_cleaned_line_by_line(tmp_path: Path) -> None:
    """Rasa's and the action server's output went to their logs as written: a traceback or a debug line quoting a
    resident kept their phone number and e-mail. Lines are cleaned (redacted) on the way, to the last one."""
    log_file = tmp_path / "child.log"
    script = ("import sys\n"
              "print('INFO started', flush=True)\n"
              "print('Received user message: call me at 704-555-0188 or ana.ruiz@example.org', flush=True)\n"
              "print('x' * 200_000, flush=True)\n"  # longer than one read
              "sys.stderr.write('Traceback: ValueError: my name is Ana Ruiz')")  # no newline at the end

    async def ready() -> bool:
        return True

    sup = Supervisor()
    state = sup.start(ChildSpec("talker", [sys.executable, "-c", script], ready, log_file=log_file,
                                clean_line=redact))
    await until(lambda: state.restarts > 0, 20, "the child never exited")
    await sup.stop()
    lines = log_file.read_text().split("\n")
    assert lines[0] == "INFO started"
    assert lines[1] == "Received user message: call me at [phone …88] or [email]"
    assert lines[2] == "x" * 200_000
    assert lines[3] == "Traceback: ValueError: my name is [name]"
    assert "0188" not in log_file.read_text().replace("…88", "")


async def test_supervisor_restarts_crashed_child_with_backoff(tmp_path: Path) -> None:
    marker = tmp_path / "starts"

    async def ready() -> bool:
        return marker.exists()

    script = (f"import pathlib,sys; p=pathlib.Path({str(marker)!r}); "
              "p.write_text(p.read_text()+'x' if p.exists() else 'x'); sys.exit(3)")
    sup = Supervisor()
    sup.start(ChildSpec("crasher", [sys.executable, "-c", script], ready, log_file=tmp_path / "c.log"))
    await asyncio.sleep(4.5)
    state = sup.children["crasher"]
    await sup.stop()
    starts = len(marker.read_text())
    # backoff 1 s, 2 s, ... : about three starts in 4.5 s, never a tight loop
    assert 2 <= starts <= 4
    assert state.restarts == starts or state.restarts == starts - 1


async def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    """Probe X: `chat311 run` killed with -9 left its children running on their ports; a new run then found them
    "ready" while its own children could not bind."""
    pid_file = tmp_path / "child.pid"
    script = (
        "import asyncio, pathlib, sys\n"
        "from chat_server.process_supervisor import ChildSpec, Supervisor\n"
        "async def ready():\n    return True\n"
        "async def main():\n"
        "    sup = Supervisor()\n"
        "    sup.start(ChildSpec('sleeper', [sys.executable, '-c', 'import time; time.sleep(300)'], ready))\n"
        "    assert await sup.wait_ready('sleeper', 30)\n"
        f"    pathlib.Path({str(pid_file)!r}).write_text(str(sup.pid('sleeper')))\n"
        "    await asyncio.sleep(300)\n"
        "asyncio.run(main())\n")
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parent.parent)
    try:
        await until(lambda: pid_file.exists() and pid_file.read_text(), 30, "the supervisor did not start its child",
                    interval=0.1)
        child = psutil.Process(int(pid_file.read_text()))
        assert child.is_running()
        parent.kill()
        parent.wait(10)
        gone, _ = psutil.wait_procs([child], timeout=10)
        assert gone, "the child outlived its supervisor"
    finally:
        with contextlib.suppress(ProcessLookupError):
            parent.kill()


def test_a_port_a_stopped_run_left_in_time_wait_is_free_but_a_listener_is_not() -> None:
    """A restart within a minute of stopping was refused "already in use" though nothing listened: the probe bound
    without SO_REUSEADDR, and the stopped run's closed connections (TIME_WAIT) held the port (probes AA, AB, AC)."""
    import socket

    from chat_server.config import Config
    from chat_server.runner import _refuse_taken_ports

    config = Config()
    config.redis.url, config.rasa.manage = "redis://127.0.0.1:1/0", False  # only chat_server's own port
    with socket.create_server(("127.0.0.1", 0)) as listener:
        config.server.port = listener.getsockname()[1]
        with pytest.raises(SystemExit, match="already in use"):
            _refuse_taken_ports(config)
        client = socket.create_connection(("127.0.0.1", config.server.port))
        served, _ = listener.accept()
        served.close()  # the server closes first, as a stopped server does: its side waits in TIME_WAIT
        client.close()
    _refuse_taken_ports(config)
