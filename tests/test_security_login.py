"""Sign-in throttling under attack, against the real app (in-process) and real Redis.

Parallel guesses must be counted before any of them is verified, a right password raced in among
them must not sign in or wipe the count, and spraying many usernames from one address is throttled.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.agents import PASSWORD, make_agent
from tests.support.servers import in_process_app

MAX_PAIR, MAX_IP = 5, 12


@pytest.fixture
async def console(redis_server: Any) -> AsyncIterator[tuple[str, str]]:
    prefix = f"tl{uuid.uuid4().hex[:8]}:"
    async with in_process_app(redis_server.url, prefix, console={
            "login_max_failures": MAX_PAIR, "login_max_failures_per_ip": MAX_IP}) as (url, _):
        yield url, prefix


class LoginForm:
    """A browser that has loaded the sign-in form (its CSRF cookie and token) and may post it later."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def load(self) -> LoginForm:
        async with self.http.get(f"{self.base}/console/login") as resp:
            match = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
        assert match
        self.csrf = match.group(1)
        return self

    async def post(self, username: str, password: str) -> int:
        try:
            async with self.http.post(f"{self.base}/console/login", allow_redirects=False,
                                      data={"csrf": self.csrf, "username": username, "password": password}) as r:
                return r.status
        finally:
            await self.http.close()


async def forms(base: str, n: int) -> list[LoginForm]:
    return list(await asyncio.gather(*(LoginForm(base).load() for _ in range(n))))


async def test_parallel_guesses_are_counted_before_any_is_verified(console: tuple[str, str],
                                                                    redis_server: Any) -> None:
    base, prefix = console
    await make_agent(redis_server.url, prefix, "ann")
    ready = await forms(base, 26)
    attempts = [f.post("ann", f"wrong password {i}") for i, f in enumerate(ready[:25])]
    attempts.insert(13, ready[25].post("ann", PASSWORD))  # the right one, raced in among the guesses
    statuses = await asyncio.gather(*attempts)
    verified = [s for s in statuses if s in (303, 401)]
    assert len(verified) <= MAX_PAIR, statuses
    assert statuses.count(429) == 26 - len(verified)
    # The guesses that did reach the password check stay counted; a right password among them only gives
    # back its own slot. So the right password is refused now unless it was itself one of those checked
    # (the order the race ran in decides), and then exactly one slot is free for it.
    failures = statuses.count(401)
    (late,) = await forms(base, 1)
    assert await late.post("ann", PASSWORD) == (429 if failures >= MAX_PAIR else 303), statuses


async def test_success_does_not_wipe_failures(console: tuple[str, str], redis_server: Any) -> None:
    base, prefix = console
    await make_agent(redis_server.url, prefix, "bea")
    for form in await forms(base, MAX_PAIR - 1):
        assert await form.post("bea", "wrong password!") == 401
    (ok,) = await forms(base, 1)
    assert await ok.post("bea", PASSWORD) == 303
    (guess,) = await forms(base, 1)
    assert await guess.post("bea", "wrong password!") == 401  # the last allowed failure
    (after,) = await forms(base, 1)
    assert await after.post("bea", "another guess!!") == 429


async def test_spraying_usernames_from_one_address_is_throttled(console: tuple[str, str]) -> None:
    base, _ = console
    statuses = [await form.post(f"user{i}", "Winter2026!!") for i, form in enumerate(await forms(base, 30))]
    assert statuses[:MAX_IP] == [401] * MAX_IP
    assert statuses[MAX_IP:] == [429] * (30 - MAX_IP)


def test_sign_in_returns_only_to_this_sites_console_pages() -> None:
    from chat_server.agents.console import safe_next

    assert safe_next("/console/incidents") == "/console/incidents"
    assert safe_next("/console/supervisor?tab=agents") == "/console/supervisor?tab=agents"
    for bad in ("https://evil.example/console/x", "//evil.example/console/", "/console//evil.example",
                "/console/\\evil.example", "/console/login?next=/x", "/metrics", "", None, "/console/\nx"):
        assert safe_next(bad) == "", bad
