"""Widget resilience: server restart mid-chat → offline banner, queued messages, replay, no loss."""

from __future__ import annotations

import pytest

from tests.support.browser import (
    BANNER,
    INPUT,
    ask,
    chromium,
    messages,
    new_page,
    open_widget,
    wait_delivered,
    wait_quiet,
)

pytestmark = [pytest.mark.browser, pytest.mark.rasa]


async def test_server_restart_mid_chat_banner_then_resume(restartable_server) -> None:  # type: ignore[no-untyped-def]
    server = restartable_server
    async with chromium() as browser:
        page = await new_page(browser)
        await page.goto(server.url + "/")
        await open_widget(page)
        await ask(page, "hello")
        before = await messages(page)
        banner = page.locator(BANNER)
        assert not await banner.is_visible()
        assert await banner.get_attribute("role") == "status"

        await server.stop()
        await page.wait_for_function(
            "() => document.querySelector('.c311-banner').classList.contains('c311-banner--on')", timeout=20_000
        )
        assert await banner.is_visible()
        assert "offline" in (await banner.inner_text()).lower()

        # Typed while offline: shown at once as queued, sent once on reconnect.
        offline_text = "How do I pay my water bill?"
        await page.locator(INPUT).fill(offline_text)
        await page.locator(INPUT).press("Enter")
        pending = page.locator(".c311-msg--resident.c311-pending")
        await pending.wait_for()
        assert "sent when" in (await pending.locator(".c311-state").inner_text()).lower()

        await server.start()
        await page.wait_for_function(
            "() => !document.querySelector('.c311-banner').classList.contains('c311-banner--on')", timeout=30_000
        )
        await wait_delivered(page)
        await page.wait_for_function(
            "n => document.querySelectorAll('.c311-log .c311-msg').length > n + 1", arg=len(before), timeout=60_000
        )
        await wait_quiet(page)
        after = await messages(page)
        assert [m["id"] for m in after[: len(before)]] == [m["id"] for m in before], "history changed"
        sent = [m for m in after if m["sender"] == "resident" and m["text"] == offline_text]
        assert len(sent) == 1 and sent[0]["id"], sent
        assert any(m["sender"] != "resident" for m in after[len(before) :]), "no answer after reconnect"
        ids = [m["id"] for m in after]
        assert len(ids) == len(set(ids))

        # The server kept everything: a reload replays exactly what is on screen.
        await page.reload()
        await open_widget(page)
        await page.wait_for_function(
            "n => document.querySelectorAll('.c311-log .c311-msg').length >= n", arg=len(after), timeout=20_000
        )
        await wait_quiet(page)
        replayed = await messages(page)
        assert [(m["text"], m["id"]) for m in replayed] == [(m["text"], m["id"]) for m in after]
        assert await page.evaluate("() => localStorage.getItem('chat311:outbox')") is None


async def test_messages_sent_too_quickly_go_out_a_moment_later(server_factory) -> None:  # type: ignore[no-untyped-def]
    """Probe V: 3 of 15 quick messages ended "Not sent: You are sending messages too quickly", to be retyped. The
    widget now sends them again shortly, in order (the server takes each client_msg_id once)."""
    # one message per 10 s: the second is surely refused, and a later try (2, 4, 6, 8 s on) surely taken
    server = await server_factory(CHAT311_LIMITS__SESSION_MESSAGES="1", CHAT311_LIMITS__SESSION_WINDOW_S="10")
    async with chromium() as browser:
        page = await new_page(browser)
        await page.goto(server.url + "/")
        await open_widget(page)
        texts = [f"quick message number {n}" for n in range(1, 4)]
        for text in texts:
            await page.locator(INPUT).fill(text)
            await page.locator(INPUT).press("Enter")
        await page.locator(".c311-state", has_text="Sending again").first.wait_for()  # refused, then waiting
        await wait_delivered(page)
        assert await page.locator(".c311-failed").count() == 0
        sent = [m["text"] for m in await messages(page) if m["sender"] == "resident"]
        assert sent == texts, sent
        # said on the message while it waited; no notice left behind once all went out (probe W)
        assert "too quickly" not in await page.locator(".c311-notice").inner_text()
        assert page.errors == [], page.errors
