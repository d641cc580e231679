"""The agent's journey in headless Chromium against the real stack (issue 19, part A): the offer
shows the resident's words, topic and language in words, wait and countdown, beeps and notifies
(after the agent turned notifications on); Alt+Shift+A accepts; the resident's typing shows; an
internal note unticks the note box; the line status follows an override set elsewhere within 5 s;
every control has a name; Alt+Shift+C closes the chat."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from chat_server.agents.routing_store import RoutingStore
from tests.support.agents import PASSWORD, escalation_env, fresh_prefix, make_agent, offered_chat
from tests.support.browser import AXE_JS, chromium, new_page

pytestmark = [pytest.mark.browser, pytest.mark.rasa]

# Records the offer sounds (every beep creates one oscillator) and stands in for the browser's
# permission prompt, which a headless browser cannot show; the console's own code runs unchanged.
RECORDERS = """
window.__beeps = 0; window.__notes = [];
const RealAudio = window.AudioContext;
window.AudioContext = class extends RealAudio {
  createOscillator() { window.__beeps += 1; return super.createOscillator(); }
};
window.Notification = class {
  constructor(title, options) { window.__notes.push({ title, body: (options || {}).body }); }
  static get permission() { return window.__permission || "default"; }
  static requestPermission() { window.__permission = "granted"; return Promise.resolve("granted"); }
  close() {}
};
"""


async def _unnamed_controls(page: Any) -> list[str]:
    await page.evaluate(AXE_JS.read_text() + "\n;0")
    result = await page.evaluate("""() => axe.run(document, {runOnly: {type: 'rule',
        values: ['label', 'button-name', 'select-name', 'aria-input-field-name', 'aria-toggle-field-name']}})""")
    return [f"{v['id']}: {n['target']}" for v in result["violations"] for n in v["nodes"]]


async def test_offer_preview_accept_typing_note_line_status_and_close(  # type: ignore[no-untyped-def]
        server_factory, redis_server, resident) -> None:
    from playwright.async_api import expect

    prefix = fresh_prefix()
    server = await server_factory(**escalation_env(prefix))
    await make_agent(redis_server.url, prefix, "ann", name="Ann")
    async with chromium() as browser:
        page = await new_page(browser)
        await page.add_init_script(RECORDERS)
        await page.goto(f"{server.url}/console")
        await page.fill("#username", "ann")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await expect(page.locator("#conn")).to_have_text("connected", timeout=10_000)

        # Desktop notifications only after the agent asks for them.
        await expect(page.locator("#notify")).to_be_visible()
        await page.click("#notify")
        await expect(page.locator("#notify")).to_be_hidden()
        await expect(page.locator("#notify-state")).to_have_text("Desktop notifications on.")

        res, offer = await offered_chat(page, resident, server.url)
        await expect(offer.locator(".preview")).to_contain_text("I need help with my water bill")
        await expect(offer).to_contain_text("English")
        await expect(offer.locator(".countdown")).to_have_text(
            re.compile(r"^([12]?\d|30) s left to accept$"))
        await expect(offer.locator(".waited")).to_contain_text("Waiting ")
        first = await offer.locator(".countdown").inner_text()
        await expect(offer.locator(".countdown")).not_to_have_text(first, timeout=3_000)  # it counts down
        assert "request_human" not in await offer.inner_text()
        assert "/request_human" not in await offer.locator(".preview").inner_text()
        assert await page.evaluate("window.__beeps") >= 1
        notes = await page.evaluate("window.__notes")
        assert len(notes) == 1 and notes[0]["title"] == "New chat offer" and "English" in notes[0]["body"]

        # Accept from the keyboard while nothing is focused.
        await page.keyboard.press("Alt+Shift+KeyA")
        await expect(page.locator("#conv")).to_be_visible()
        await expect(page.locator("#composer")).to_be_enabled()
        await res.wait_for("agent_joined", lambda d: d["name"] == "Ann")

        # The resident types: the agent sees it; their message replaces it.
        ack = await res.sio.call("typing", {"session_id": res.session_id, "on": True}, timeout=10)
        assert ack["ok"], ack
        await expect(page.locator("#typing")).to_have_text("The resident is typing…")
        await res.say("it doubled this month")
        await expect(page.locator("#transcript")).to_contain_text("it doubled this month")
        await expect(page.locator("#typing")).to_be_hidden()

        # An internal note unticks the box: the next Enter goes to the resident.
        await page.check("#note-toggle")
        await page.fill("#composer", "NOTE: check meter reading")
        await page.locator("#composer").press("Enter")
        await expect(page.locator("#transcript")).to_contain_text("(internal note)")
        await expect(page.locator("#note-toggle")).not_to_be_checked()
        await page.fill("#composer", "Let me look at your meter readings.")
        await page.locator("#composer").press("Enter")
        msg = await res.wait_for("bot_uttered", lambda m: m.get("sender") == "agent")
        assert msg["text"] == "Let me look at your meter readings."
        assert not any("NOTE" in (m.get("text") or "") for m in res.messages())

        # The line status follows an override made elsewhere (here: the store the CLI and dashboard use).
        redis = redis_server.client()
        try:
            store = RoutingStore(redis, prefix)
            await expect(page.locator("#hours")).to_have_text("Line open")
            now = time.time()
            await store.set_hours_override("closed", now + 600, "test", "tester", now)
            await expect(page.locator("#hours")).to_contain_text("Line closed", timeout=5_500)
            await store.set_hours_override(None)
            await expect(page.locator("#hours")).to_have_text("Line open", timeout=5_500)
        finally:
            await redis.aclose()

        assert await _unnamed_controls(page) == []
        await expect(page.locator(".shortcuts")).to_contain_text("Alt")

        # Outcomes read as words, not codes (probe S saw "info provided", "transferred phone").
        await expect(page.locator("#disposition option[value=info_provided]")).to_have_text("Information given")
        await page.select_option("#disposition", "info_provided")
        await page.locator("#composer").focus()
        await page.keyboard.press("Alt+Shift+KeyC")
        closed = await res.wait_for("conversation_closed")
        assert closed["reason"] == "agent_closed"
        await expect(page.locator("#conv-title")).to_contain_text("closed")
        assert await page.locator("#composer").input_value() == ""  # the shortcut typed nothing
        assert page.errors == []
