"""The widget tells the agent when the resident types, and asks before "End chat" discards a report.

Headless Chromium against real chat_server + Rasa processes; the agent is a real Socket.IO console client.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.agents import chat_with_ann
from tests.support.browser import INPUT, Dialogs, ask, chromium, new_page, open_widget

pytestmark = [pytest.mark.browser, pytest.mark.rasa]


async def test_resident_typing_in_the_widget_reaches_the_agent(server_factory, redis_server) -> None:  # type: ignore[no-untyped-def]
    async with chat_with_ann(server_factory, redis_server) as (ann, page, cid):
        mark = len(ann.events)
        await page.locator(INPUT).press_sequentially("my cart was")
        on = await ann.wait_for("resident_typing", after=mark)
        assert on == {"conversation_id": cid, "on": True}
        # Three seconds without a keystroke: off, and the keystrokes in between sent nothing more.
        await ann.wait_for("resident_typing", lambda d: d["on"] is False, after=mark, timeout=15)
        assert [d["on"] for e, d in ann.events[mark:] if e == "resident_typing"] == [True, False]


async def test_back_in_line_the_widget_no_longer_says_who_was_chatting(server_factory, redis_server) -> None:  # type: ignore[no-untyped-def]
    """The agent signs out: the chat goes back in line and the header and status lines say so (they showed both
    "number 1 in line" and "Ann joined the chat")."""
    async with chat_with_ann(server_factory, redis_server) as (ann, page, _):
        await page.wait_for_function("() => document.querySelector('.c311-subtitle').textContent.includes('Ann')")
        assert (await ann.call("sign_out"))["ok"]
        await page.wait_for_function("() => document.querySelector('.c311-status').textContent.includes('line')")
        assert "Ann" not in await page.locator(".c311-subtitle").inner_text()
        assert "joined" not in await page.locator(".c311-agentline").inner_text()


async def _end_chat(page: Any, answer: bool) -> list[str]:
    """Click End chat, answering a confirmation (if one comes) with `answer`; the texts asked."""
    dialogs = Dialogs(page, accept=answer)
    await page.locator(".c311-end").click()
    dialogs.stop()
    return dialogs.seen


async def test_end_chat_asks_before_discarding_a_half_filled_report(chat_server_url: str) -> None:
    async with chromium() as browser:
        page = await new_page(browser)
        await page.goto(chat_server_url + "/")
        await open_widget(page)
        await ask(page, "I want to report a pothole")
        # Kept: the resident said no, the report goes on.
        assert await _end_chat(page, answer=False) == ["Your report is not finished. End the chat and discard it?"]
        assert await page.locator(INPUT).is_visible() and await page.locator(".c311-end").is_visible()
        # Discarded on yes.
        assert len(await _end_chat(page, answer=True)) == 1
        await page.locator(".c311-end").wait_for(state="hidden")

        # Outside a report nothing is asked.
        fresh = await new_page(browser)
        await fresh.goto(chat_server_url + "/")
        await open_widget(fresh)
        await ask(fresh, "how do i pay my water bill")
        assert await _end_chat(fresh, answer=True) == []
        await fresh.locator(".c311-end").wait_for(state="hidden")
        assert page.errors == [] and fresh.errors == [], (page.errors, fresh.errors)
