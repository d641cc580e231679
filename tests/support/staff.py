"""Staff accounts and sign-ins for the console, supervisor, content and training pages.

`console_login` makes a session straight in the session store (for HTTP tests); `make_account`
plus `login` sign a browser page in through the real form. Escalation tests' agents (HTTP login,
the /agents Socket.IO client) are in tests/support/agents.py.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis

from chat_server.agents.accounts import Account, AccountStore
from chat_server.agents.auth import SessionStore

# The browser sign-in's password; `console_login` accounts keep the agents' PASSWORD (support/agents.py).
PASSWORD = "correct horse battery staple"


async def ensure_account(redis: Any, prefix: str, username: str, roles: list[str], password: str) -> None:
    """Create the account unless it exists (modules share usernames across their tests)."""
    store = AccountStore(redis, prefix)
    if await store.get(username) is None:
        await store.create(Account(username, username.title(), roles=roles), password)


async def console_login(redis: Any, prefix: str, username: str, roles: list[str]) -> tuple[str, str]:
    """Create an account and a console session the way the agents module does; returns (cookie, csrf)."""
    await ensure_account(redis, prefix, username, roles, "correct horse battery")
    token, session = await SessionStore(redis, prefix, 3600).create(username)
    return token, session.csrf


async def make_account(redis_url: str, prefix: str, username: str, roles: list[str]) -> None:
    """An account for `login` (a browser page signing in with PASSWORD)."""
    client = aioredis.from_url(redis_url)
    try:
        await ensure_account(client, prefix, username, roles, PASSWORD)
    finally:
        await client.aclose()


async def login(page: Any, base: str, username: str) -> None:
    """The agents module's real sign-in form (it lands on the page the role can use)."""
    await page.goto(f"{base}/console/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    async with page.expect_navigation():
        await page.click("button[type=submit]")


def local_minute(in_s: float) -> str:
    """A `datetime-local` field's value `in_s` seconds from now."""
    return time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() + in_s))


async def post_notice(page: Any, title: tuple[str, str], message: tuple[str, str], phrases: str, ends_in_s: float,
                      starts_in_s: float | None = None, url: str = "") -> None:
    """Fill the incidents page's form ((en, es) title and message) and submit it, as staff do."""
    for field, (en, es) in (("title", title), ("message", message)):
        await page.fill(f"#{field}-en", en)
        await page.fill(f"#{field}-es", es)
    if url:
        await page.fill("#url", url)
    await page.fill("#phrases", phrases)
    if starts_in_s is not None:
        await page.fill("#starts", local_minute(starts_in_s))
    await page.fill("#ends", local_minute(ends_in_s))
    await page.click("#post button[type=submit]")
