"""Helpers for the escalation tests: accounts, console login over HTTP, an `/agents` Socket.IO client."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import redis.asyncio as aioredis
import socketio

from chat_server.agents.accounts import Account, AccountStore
from tests.support.servers import quoted_prefix
from tests.support.waiting import first_event, until

PASSWORD = "correct horse battery"
ALWAYS_OPEN = "{" + ", ".join(f'{d}: ["00:00-24:00"]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")) + "}"


def fresh_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}:"


def escalation_env(prefix: str, **extra: str) -> dict[str, str]:
    """Env overrides for an isolated, always-open escalation setup (own key prefix); pass them to
    `server_factory`, which lays them over `servers.server_env`."""
    env = {
        "CHAT311_REDIS__KEY_PREFIX": quoted_prefix(prefix),
        "CHAT311_HOURS__WEEKLY": ALWAYS_OPEN,
        "CHAT311_HOURS__CLOSING_SOON_MIN": "0",
        "CHAT311_ROUTING__RECONNECT_GRACE_S": "2",
        "CHAT311_ROUTING__HEARTBEAT_S": "1",
        "CHAT311_ROUTING__TICK_S": "0.2",
        "CHAT311_SERVER__REDIS_MANAGER": "true",
        "CHAT311_LIMITS__SESSION_MESSAGES": "100",
        "CHAT311_LIMITS__IP_MESSAGES": "10000",
    }
    env.update(extra)
    return env


async def make_agent(redis_url: str, prefix: str, username: str, name: str | None = None, max_chats: int = 3,
                     languages: tuple[str, ...] = ("en", "es"), roles: tuple[str, ...] = ("agent",),
                     departments: tuple[str, ...] = ("*",)) -> Account:
    client = aioredis.from_url(redis_url)
    try:
        account = Account(username, name or username.title(), list(roles), list(languages), list(departments),
                          max_chats)
        return await AccountStore(client, prefix).create(account, PASSWORD)
    finally:
        await client.aclose()


async def login(base_url: str, username: str, password: str = PASSWORD,
                headers: dict[str, str] | None = None) -> tuple[int, str | None]:
    """POST the login form like a browser; (status, session token or None)."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, headers=headers) as http:
        async with http.get(f"{base_url}/console/login") as resp:
            page = await resp.text()
        match = re.search(r'name="csrf" value="([^"]+)"', page)
        assert match, page
        async with http.post(f"{base_url}/console/login", allow_redirects=False,
                             data={"csrf": match.group(1), "username": username, "password": password}) as resp:
            status = resp.status
            cookie = resp.cookies.get("c311_agent")
            return status, cookie.value if cookie else None


class AgentClient:
    EVENTS = ("offer", "offer_withdrawn", "queue", "status", "message", "chat_assigned", "chat_removed",
              "chats_requeued", "chat_closed", "resident_typing", "urgent", "resident_presence", "view_closed")

    def __init__(self, url: str, token: str, username: str) -> None:
        self.url = url
        self.token = token
        self.username = username
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        for name in self.EVENTS:
            self.sio.on(name, self._recorder(name), namespace="/agents")

    def _recorder(self, name: str) -> Callable[[Any], Any]:
        async def record(data: Any = None) -> None:
            self.events.append((name, data))
            self._changed.set()
            handler = getattr(self, f"on_{name}", None)
            if handler:
                await handler(data)
        return record

    async def connect(self) -> None:
        await self.sio.connect(self.url, namespaces=["/agents"], transports=["websocket"],
                               headers={"Cookie": f"c311_agent={self.token}"}, wait_timeout=10)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sio.disconnect()

    async def call(self, event: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        return dict(await self.sio.call(event, data or {}, namespace="/agents", timeout=30))

    async def wait_for(self, name: str, predicate: Callable[[Any], bool] = lambda d: True,
                       timeout: float = 30.0, after: int = 0) -> Any:
        (index,) = await until(lambda: first_event(self.events, name, predicate, after), timeout,
                               lambda _: f"{self.username}: no {name} within {timeout}s; got {self.events[-8:]}",
                               wake=self._changed)
        return self.events[index][1]


async def agent_client(base_url: str, username: str) -> AgentClient:
    status, token = await login(base_url, username)
    assert status == 303 and token, f"login failed for {username}: {status}"
    client = AgentClient(base_url, token, username)
    await client.connect()
    return client


async def escalate(resident: Any, text: str = "/request_human") -> None:
    """Ask for a person through the real bot and wait until the conversation is queued (or answered)."""
    mark = len(resident.events)
    ack = await resident.say(text)
    assert ack.get("ok"), ack
    await resident.wait_for("queue_update", after=mark, timeout=60)


async def accepted_chat(agent: Any, new_resident: Callable[[str], Any], url: str) -> tuple[Any, str]:
    """A new resident asks for a person and `agent` (an AgentClient) accepts the offer: (resident, conversation id)."""
    res = await new_resident(url)
    await res.start_session()
    mark = len(agent.events)
    await escalate(res, "I want to talk to a person")
    cid = (await agent.wait_for("offer", after=mark))["conversation_id"]
    ack = await agent.call("accept", {"conversation_id": cid})
    assert ack["ok"], ack
    return res, cid


async def sign_in(page: Any, url: str, username: str) -> None:
    """Sign `username` in to the agent console in `page` and wait until its socket is connected."""
    from playwright.async_api import expect  # only browser tests call this

    await page.goto(f"{url}/console")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#conn")).to_have_text("connected", timeout=10_000)


async def offered_chat(page: Any, new_resident: Callable[[str], Any], url: str,
                       text: str = "I need help with my water bill") -> tuple[Any, Any]:
    """A new resident asks the bot, then for a person; returns the resident and the offer card the agent's
    console (`page`, signed in and available) shows for it."""
    from playwright.async_api import expect  # only browser tests call this

    res = await new_resident(url)
    await res.start_session()
    await res.turn(text)
    await escalate(res, "/request_human")
    offer = page.locator("#offers li.offer")
    await expect(offer).to_have_count(1, timeout=15_000)
    return res, offer


@contextlib.asynccontextmanager
async def chat_with_ann(server_factory: Any, redis_server: Any,
                        init_script: str | None = None) -> AsyncIterator[tuple[Any, Any, str]]:
    """A resident in the widget (Chromium) asked for a person and agent Ann accepted: (Ann, page, conversation).
    `init_script` runs in the page before the widget (a recorder of what screen readers are told, say)."""
    from tests.support.browser import ask, chromium, new_page, open_widget  # only browser tests call this

    prefix = fresh_prefix()
    server = await server_factory(**escalation_env(prefix))
    await make_agent(redis_server.url, prefix, "ann", name="Ann")
    ann = await agent_client(server.url, "ann")
    try:
        async with chromium() as browser:
            page = await new_page(browser)
            if init_script:
                await page.add_init_script(init_script)
            await page.goto(server.url + "/")
            await open_widget(page)
            await ask(page, "I want to talk to a person")
            cid = (await ann.wait_for("offer", timeout=30))["conversation_id"]
            assert (await ann.call("accept", {"conversation_id": cid}))["ok"]
            yield ann, page, cid
            assert page.errors == [], page.errors
    finally:
        await ann.close()

