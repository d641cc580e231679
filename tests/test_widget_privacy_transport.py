"""The widget on a shared computer and across several chat_server workers (headless Chromium).

- After "End chat" the browser forgets the conversation: a new tab (same profile) starts empty and
  cannot replay it; a second tab of the same chat shows it ended.
- The widget speaks WebSocket first, so it works when `make run WORKERS=2` puts two processes on one
  port with no sticky proxy (long-polling would need one).
"""

from __future__ import annotations

import asyncio
from typing import Any

import psutil
import pytest

from tests.support.browser import INPUT, LOG, ask, chromium, messages, new_page, open_widget

pytestmark = [pytest.mark.browser, pytest.mark.rasa]


async def test_end_chat_forgets_the_conversation_on_this_browser(chat_server_url: str) -> None:
    async with chromium() as browser:
        page = await new_page(browser)
        await page.goto(chat_server_url + "/")
        await open_widget(page)
        replies = await ask(page, "hello")
        assert replies, "the bot did not answer"
        await ask(page, "my secret phone is 704 555 0134 and how do I pay my water bill")
        other_tab = await page.context.new_page()
        await other_tab.goto(chat_server_url + "/")
        await open_widget(other_tab)
        await other_tab.wait_for_function(
            "() => document.querySelector('.c311-log').textContent.includes('704 555 0134')")
        assert await page.evaluate("localStorage.getItem('chat311:session')")

        await page.locator(".c311-end").click()
        await page.locator(".c311-csat").wait_for(state="visible")
        # The other tab of the same chat shows it ended too (it learns from the storage event).
        await other_tab.locator(".c311-csat").wait_for(state="visible")
        stored = await page.evaluate(
            "Object.keys(localStorage).filter(k => k.startsWith('chat311:') && localStorage.getItem(k))")
        assert all(not k.endswith((":session", ":last_id", ":outbox", ":labels")) for k in stored), stored
        await page.close()
        await other_tab.close()

        fresh = await page.context.new_page()
        await fresh.goto(chat_server_url + "/")
        await open_widget(fresh)
        await fresh.locator(INPUT).wait_for(state="visible")
        # A new session is confirmed with nothing to replay: the old text never comes back.
        await fresh.wait_for_function("() => !!localStorage.getItem('chat311:session')")
        transcript = await fresh.locator(LOG).text_content() or ""
        assert "704 555 0134" not in transcript and "water bill" not in transcript
        assert not [m for m in await messages(fresh) if m["sender"] == "resident"]


def _connections_on(port: int, pids: list[int]) -> dict[int, int]:
    counts = {}
    for pid in pids:
        conns = psutil.Process(pid).net_connections(kind="tcp")
        counts[pid] = sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port)
    return counts


async def test_widget_chats_over_websocket_with_two_workers(server_factory: Any) -> None:
    first = await server_factory(name="worker-1", CHAT311_SERVER__REDIS_MANAGER="true")
    second = await server_factory(port=first.port, name="worker-2", CHAT311_SERVER__REDIS_MANAGER="true")
    assert first.proc is not None and second.proc is not None
    polling: list[str] = []
    sockets: list[str] = []
    pages = 8
    async with chromium() as browser:
        opened = []
        for _ in range(pages):
            page = await new_page(browser)
            page.on("request", lambda r: "transport=polling" in r.url and polling.append(r.url))
            page.on("websocket", lambda ws: sockets.append(ws.url))
            await page.goto(first.url + "/")
            await open_widget(page)
            opened.append(page)
        answers = await asyncio.gather(*(ask(p, "how do I pay my water bill") for p in opened))
        assert all(any(m["sender"] == "bot" for m in a) for a in answers), answers
        per_process = _connections_on(first.port, [first.proc.pid, second.proc.pid])
    assert not polling, polling[:3]
    assert len([u for u in sockets if "/socket.io/" in u and "transport=websocket" in u]) == pages
    # Every page's socket is held by one of the two workers sharing the port.
    assert sum(per_process.values()) >= pages, per_process
    print(f"websocket connections per worker: {per_process}")
