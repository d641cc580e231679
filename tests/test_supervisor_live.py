"""Playwright: a supervisor watches the dashboard while a scripted resident escalates — live, no reload."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.browser import chromium, new_page, screenshot
from tests.support.servers import quoted_prefix
from tests.support.staff import login, make_account

pytestmark = [pytest.mark.browser, pytest.mark.rasa]


async def figure(page: Any, name: str) -> str:
    return str(await page.locator(f"[data-figure={name}]").first.text_content())


async def test_supervisor_sees_an_escalation_live(server_factory: Any, redis_server: Any, resident: Any) -> None:
    prefix = f"t8l{uuid.uuid4().hex[:6]}:"
    server = await server_factory(name="chat_server-supervisor-live", CHAT311_REDIS__KEY_PREFIX=quoted_prefix(prefix))
    await make_account(redis_server.url, prefix, "sally", ["supervisor"])
    async with chromium() as browser:
        page = await new_page(browser)
        await login(page, server.url, "sally")
        page.errors.clear()  # type: ignore[attr-defined]  # only this page's errors count
        failed: list[str] = []
        page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
        await page.goto(f"{server.url}/console/supervisor")
        await page.wait_for_function("() => document.body.dataset.chats !== undefined", timeout=15_000)
        assert await figure(page, "chats") == "0" and await figure(page, "escalated") == "0"
        assert (await page.locator("#chart-hourly svg rect").count()) > 0

        client = await resident(server.url)
        await client.start_session()
        mark = len(client.events)
        assert (await client.say("/request_human", language="en")).get("ok")
        await client.wait_for("bot_uttered", timeout=60, after=mark)

        # The page polls; the numbers change without a reload.
        await page.wait_for_function(
            """() => document.querySelector('[data-figure=chats]').textContent === '1'
                  && document.querySelector('[data-figure=escalated]').textContent === '1'""",
            timeout=15_000)
        assert await figure(page, "escalation_rate") == "100%"
        # No agent account exists under this prefix: the escalation is answered with a ticket offer,
        # never queued, so the chat still counts as contained by the bot.
        assert await figure(page, "containment_rate") == "100%"
        assert await page.locator("#conn").text_content() == "live"
        await screenshot(page, "supervisor-dashboard.png")
        assert failed == [], failed
        assert page.errors == [], page.errors  # type: ignore[attr-defined]
