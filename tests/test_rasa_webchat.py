"""The unmodified `rasa-webchat` npm widget talks to chat_server (DESIGN: Rasa socketio compatible).

A test-local static server serves widget/test-pages/rasa-webchat.html, its init script and the
package's own bundle (widget/node_modules/rasa-webchat/lib/index.js); the page connects to the
real chat_server's Socket.IO endpoint in headless Chromium.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.support.browser import BOT_TIMEOUT_MS, WIDGET_DIR, chromium, new_page
from tests.support.clients import ResidentClient

pytestmark = [pytest.mark.browser, pytest.mark.rasa]

PAGES = WIDGET_DIR / "test-pages"
BUNDLE = WIDGET_DIR / "node_modules" / "rasa-webchat" / "lib" / "index.js"


@pytest.fixture
async def webchat_page_url() -> AsyncIterator[str]:
    assert BUNDLE.exists(), "rasa-webchat is not installed: cd widget && npm ci"
    app = web.Application()
    app.router.add_get("/", lambda _r: web.FileResponse(PAGES / "rasa-webchat.html"))
    app.router.add_get("/rasa-webchat-init.js", lambda _r: web.FileResponse(PAGES / "rasa-webchat-init.js"))
    app.router.add_get("/rasa-webchat.js", lambda _r: web.FileResponse(BUNDLE))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/"
    await runner.cleanup()


async def _send(page, text: str) -> list[str]:  # type: ignore[no-untyped-def]
    before = await page.locator(".rw-response").count()
    box = page.locator(".rw-new-message")
    await box.fill(text)
    await box.press("Enter")
    await page.wait_for_function(
        """n => [...document.querySelectorAll('.rw-response')].length > n
               && [...document.querySelectorAll('.rw-response')].slice(n).some(e => e.textContent.trim())""",
        arg=before,
        timeout=BOT_TIMEOUT_MS,
    )
    await page.wait_for_timeout(1500)  # rasa-webchat shows a multi-message answer one by one
    return [t.strip() for t in (await page.locator(".rw-response").all_inner_texts())[before:]]


async def test_rasa_webchat_exchanges_messages(chat_server_url: str, webchat_page_url: str) -> None:
    async with chromium() as browser:
        page = await new_page(browser)
        await page.goto(f"{webchat_page_url}?socket={chat_server_url}&lang=en")
        await page.locator(".rw-launcher").click()
        await page.locator(".rw-new-message").wait_for()

        answers = await _send(page, "hello")
        assert answers and any(answers), "no bot_uttered text rendered by rasa-webchat"
        assert await page.locator(".rw-client", has_text="hello").count() == 1

        answers = await _send(page, "When is my trash picked up?")
        text = " ".join(answers)
        assert re.search(r"solid waste|recycl|collection|pickup|pick-up", text, re.I), text

        # The session survives a reload (rasa-webchat keeps session_id in sessionStorage and asks the
        # server to resume it): after reloading, the next message lands in the same server session.
        session_id = await _session_id(page)
        assert session_id, "rasa-webchat did not store the server-issued session id"
        # Closed before the reload, so the widget restores a closed state: reopening it after the reload
        # then cannot race the widget's own restoring of an open one (a click that closed it again).
        await page.locator(".rw-launcher").click()  # open, the launcher closes the widget
        await page.locator(".rw-new-message").wait_for(state="detached")
        await page.reload()
        await page.locator(".rw-launcher").click()
        await page.locator(".rw-new-message").wait_for()
        answers = await _send(page, "How do I pay my water bill?")
        assert answers and any(answers), "no answer after the reload"
        assert await _session_id(page) == session_id, "the reload started a new session"

        # The server holds one conversation with the messages from before and after the reload.
        history = ResidentClient(chat_server_url)
        await history.connect()
        try:
            assert await history.start_session(session_id) == session_id
            await history.wait_for("resident_uttered", lambda m: m["text"] == "How do I pay my water bill?")
            said = [m["text"] for m in history.of("resident_uttered")]
            assert said == ["hello", "When is my trash picked up?", "How do I pay my water bill?"], said
        finally:
            await history.close()


async def _session_id(page) -> str | None:  # type: ignore[no-untyped-def]
    return await page.evaluate(
        "() => JSON.parse(sessionStorage.getItem('chat_session') || '{}').session_id || null"
    )
