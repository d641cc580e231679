"""Staff accounts and sign-ins for the console, supervisor, content and training pages.

`console_login` makes a session straight in the session store (for HTTP tests); `make_account`
plus `login` sign a browser page in through the real form. Escalation tests' agents (HTTP login,
the /agents Socket.IO client) are in tests/support/agents.py.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis


async def console_login(redis: Any, prefix: str, username: str, roles: list[str]) -> tuple[str, str]:
    """Create an account and a console session the way the agents module does; returns (cookie, csrf)."""
    from chat_server.agents.accounts import Account, AccountStore
    from chat_server.agents.auth import SessionStore

    store = AccountStore(redis, prefix)
    if await store.get(username) is None:
        await store.create(Account(username, username.title(), roles=roles), "correct horse battery")
    token, session = await SessionStore(redis, prefix, 3600).create(username)
    return token, session.csrf


PASSWORD = "correct horse battery staple"


async def make_account(redis_url: str, prefix: str, username: str, roles: list[str]) -> None:
    from chat_server.agents.accounts import Account, AccountStore

    client = aioredis.from_url(redis_url)
    try:
        store = AccountStore(client, prefix)
        if await store.get(username) is None:
            await store.create(Account(username, username.title(), roles=roles), PASSWORD)
    finally:
        await client.aclose()


async def login(page: Any, base: str, username: str) -> None:
    """The agents module's real sign-in form (it lands on the page the role can use)."""
    await page.goto(f"{base}/console/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    async with page.expect_navigation():
        await page.click("button[type=submit]")
