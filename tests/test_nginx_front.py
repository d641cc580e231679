"""The shipped nginx config (deploy/nginx/chat311.conf) in front of two chat_server workers on the Redis
manager: the websocket upgrade passes, Engine.IO long-polling works because the upstream is sticky, and
without the sticky line polling breaks (so the check can fail). Only TLS is swapped out (the test
listens on plain HTTP); everything else is the file as shipped. nginx must be installed (.ci/run
installs it): a missing nginx fails this test, it is never skipped."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chat_server.child_specs import free_port
from tests.support.agents import PASSWORD, fresh_prefix, login, make_agent
from tests.support.servers import ChatServerProcess, quoted_prefix
from tests.support.waiting import until

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "deploy" / "nginx" / "chat311.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
Resident = Callable[..., Awaitable[Any]]


def site_config(upstreams: list[int], port: int, sticky: bool = True) -> str:
    """The shipped file with the test's ports, plain HTTP instead of TLS, and optionally not sticky."""
    text = SHIPPED.read_text(encoding="utf-8")
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in upstreams)
    text, n = re.subn(r"(?m)^    server 127\.0\.0\.1:\d+;\n(    server 127\.0\.0\.1:\d+;\n)*", servers, text)
    assert n == 1, "the upstream block's server lines changed shape"
    text, n = re.subn(r"listen 443 ssl http2;", f"listen 127.0.0.1:{port};", text)
    assert n == 1, "the listen line changed shape"
    if not sticky:
        text, n = re.subn(r"(?m)^    ip_hash;.*\n", "", text)
        assert n == 1
    return text


class Nginx:
    def __init__(self, workdir: Path, site: str, port: int) -> None:
        self.workdir, self.port = workdir, port
        self.url = f"http://127.0.0.1:{port}"
        (workdir / "site.conf").write_text(site, encoding="utf-8")
        temp = workdir / "temp"
        temp.mkdir(mode=0o777, exist_ok=True)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        (workdir / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {workdir}/nginx.pid;\nerror_log {workdir}/error.log info;\n"
            "events { worker_connections 256; }\n"
            f"http {{\n  access_log {workdir}/access.log;\n"
            + "".join(f"  {kind}_temp_path {temp}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi",
                                                                         "uwsgi", "scgi"))
            + f"  include {workdir}/site.conf;\n}}\n", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        check = subprocess.run([NGINX, "-t", "-p", str(self.workdir), "-c", str(self.workdir / "nginx.conf")],
                               capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen([NGINX, "-p", str(self.workdir), "-c", str(self.workdir / "nginx.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        async with aiohttp.ClientSession() as http:
            async def proxies() -> bool:
                assert self.proc is not None and self.proc.poll() is None, (self.workdir / "error.log").read_text()
                try:
                    async with http.get(f"{self.url}/healthz") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            await until(proxies, 15, "nginx did not proxy /healthz within 15 s", interval=0.1)

    async def log_line(self, match: Callable[[str], bool], timeout_s: float = 10) -> str:
        def found() -> str | None:
            lines = [line for line in (self.workdir / "access.log").read_text().splitlines() if match(line)]
            return lines[0] if lines else None

        return await until(found, timeout_s, "no such line in nginx's access log", interval=0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


PREFIX = fresh_prefix()


@pytest.fixture(scope="module")
async def workers(server_factory: Callable[..., Awaitable[ChatServerProcess]]) -> list[ChatServerProcess]:
    assert os.access(NGINX, os.X_OK), f"nginx is not installed ({NGINX}); .ci/run installs it"
    return [await server_factory(CHAT311_SERVER__REDIS_MANAGER="true", CHAT311_SERVER__TRUST_FORWARDED_FOR="true",
                                 CHAT311_REDIS__KEY_PREFIX=quoted_prefix(PREFIX))
            for _ in range(2)]


@pytest.fixture()
async def front(workers: list[ChatServerProcess], tmp_path: Path) -> AsyncIterator[Front]:
    started: list[Nginx] = []

    async def make(sticky: bool = True) -> Nginx:
        port = free_port()
        workdir = tmp_path / f"nginx-{port}"
        workdir.mkdir()
        nginx = Nginx(workdir, site_config([w.port for w in workers], port, sticky), port)
        started.append(nginx)
        await nginx.start()
        return nginx

    yield make
    for nginx in started:
        nginx.stop()


Front = Callable[[bool], Awaitable["Nginx"]]


async def _chat(resident: Resident, url: str, transports: list[str]) -> Any:
    r = await resident(url, transports=transports)
    assert await r.start_session()
    assert (await r.say("when is my trash picked up")).get("ok")
    await r.wait_for("bot_uttered", timeout=60)
    return r


async def test_websocket_upgrade_passes_through_the_shipped_config(front: Front, resident: Resident) -> None:
    nginx = await front(True)
    r = await _chat(resident, nginx.url, ["websocket"])
    assert r.sio.transport() == "websocket"
    await r.close()  # nginx logs an upgraded connection when it ends
    line = await nginx.log_line(lambda line: "transport=websocket" in line)
    assert '" 101 ' in line, line


async def test_long_polling_works_because_the_upstream_is_sticky(front: Front, resident: Resident) -> None:
    nginx = await front(True)
    r = await _chat(resident, nginx.url, ["polling"])
    assert r.sio.transport() == "polling"
    polls = [line for line in (nginx.workdir / "access.log").read_text().splitlines() if "transport=polling" in line]
    assert len(polls) >= 3 and all('" 200 ' in line for line in polls), polls


async def test_without_the_sticky_line_long_polling_breaks(front: Front, resident: Resident) -> None:
    """The control: round-robin sends a session's polls to the worker that does not hold it."""
    nginx = await front(False)
    with pytest.raises(Exception):  # noqa: B017 - connect or the session request fails, whichever comes first
        await _chat(resident, nginx.url, ["polling"])
    log = (nginx.workdir / "access.log").read_text()
    assert re.search(r'transport=polling[^"]*" 400 ', log), log[-2000:]


async def test_a_client_cannot_choose_its_own_address(front: Front, redis_server: Any) -> None:
    """Probe U: nginx appends the address it saw to the client's own X-Forwarded-For, and the server took
    the client's first entry: a new made-up address per try, and sign-in throttling never held."""
    nginx = await front(True)
    await make_agent(redis_server.url, PREFIX, "xff")
    statuses = []
    for attempt in range(7):
        statuses.append((await login(nginx.url, "xff", "wrong password",
                                     headers={"X-Forwarded-For": f"203.0.113.{attempt + 1}"}))[0])
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429], statuses
    assert (await login(nginx.url, "xff", PASSWORD, headers={"X-Forwarded-For": "198.51.100.7"}))[0] == 429
