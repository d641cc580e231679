"""Widget accessibility: keyboard-only use, axe-core scan, 320 px, reduced motion, CSAT, lang, what screen readers
are told (each event once), the browser's language, and the end of a chat with an agent."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.agents import chat_with_ann
from tests.support.browser import (
    INPUT,
    LOG,
    Dialogs,
    ask,
    axe_scan,
    chromium,
    messages,
    new_page,
    open_widget,
    screenshot,
    wait_quiet,
)

pytestmark = [pytest.mark.browser, pytest.mark.rasa]

# What a screen reader is told: every text added to the page (or changed) inside a live region, as the nearest
# aria-live / live role decides (an "off" is no live region: Chromium goes on to the next one up); an atomic region
# is read whole. Kept in window.__said as {live, text, nested (inside another live region)}.
LIVE_RECORDER = """
(() => {
    window.__said = [];
    const roles = {alert: 'assertive', status: 'polite', log: 'polite'};
    const regionOf = (el) => {
        for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
            const live = n.getAttribute('aria-live') || roles[n.getAttribute('role')];
            if (live && live !== 'off') return {el: n, live};
        }
        return null;
    };
    const atomic = (r) => r.el.hasAttribute('aria-atomic') ? r.el.getAttribute('aria-atomic') === 'true'
        : ['alert', 'status'].includes(r.el.getAttribute('role'));
    new MutationObserver((records) => {
        for (const rec of records) {
            for (const node of rec.type === 'characterData' ? [rec.target] : rec.addedNodes) {
                const el = node.nodeType === 1 ? node : node.parentElement;
                if (!el || el.closest('[hidden], [aria-hidden="true"]') || !node.textContent.trim()) continue;
                const r = regionOf(el);
                if (!r) continue;
                const text = (atomic(r) ? r.el : node).textContent.trim();
                window.__said.push({live: r.live, text, nested: !!regionOf(r.el.parentElement)});
            }
        }
    }).observe(document, {subtree: true, childList: true, characterData: true});
})();
"""


async def _said(page: Any, words: str) -> list[dict[str, Any]]:
    """The announcements that contain `words`."""
    return [s for s in await page.evaluate("() => window.__said") if words in s["text"]]


async def _focused(page: Any) -> dict[str, Any]:
    return await page.evaluate(
        """() => {
            const el = document.activeElement;
            const cs = getComputedStyle(el);
            return {
                cls: el.className && el.className.baseVal === undefined ? el.className : '',
                tag: el.tagName, inWidget: !!el.closest('.c311-root'),
                label: el.getAttribute('aria-label') || el.textContent.trim().slice(0, 40),
                outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2,
            };
        }"""
    )


async def _tab_to(page: Any, cls: str, limit: int = 60, shift: bool = False) -> dict[str, Any]:
    for _ in range(limit):
        await page.keyboard.press("Shift+Tab" if shift else "Tab")
        f = await _focused(page)
        if cls in f["cls"].split():
            return f
    raise AssertionError(f"could not reach .{cls} with the keyboard")


async def _kb_say(page: Any, text: str) -> None:
    """Types into the focused message box, presses Enter, waits for the bot's answer."""
    before = await page.locator(".c311-log .c311-msg:not(.c311-msg--resident)").count()
    await page.keyboard.type(text)
    await page.keyboard.press("Enter")
    await page.wait_for_function(
        "n => document.querySelectorAll('.c311-log .c311-msg:not(.c311-msg--resident)').length > n",
        arg=before,
        timeout=60_000,
    )
    await wait_quiet(page)


async def test_keyboard_only_walkthrough(chat_server_url: str, redis_client) -> None:  # type: ignore[no-untyped-def]
    async with chromium() as browser:
        page = await new_page(browser)
        await page.goto(chat_server_url + "/")
        await page.locator(".c311-launcher").wait_for()

        # Reach the launcher with Tab and open it with Enter; focus lands in the message box.
        f = await _tab_to(page, "c311-launcher")
        assert f["outline"], "launcher has no visible focus indicator"
        await page.keyboard.press("Enter")
        await page.locator(".c311-panel").wait_for(state="visible")
        assert "c311-input" in (await _focused(page))["cls"]

        await _kb_say(page, "hello")

        # Every control on the way has a visible focus indicator and an accessible name.
        for cls in ("c311-attach", "c311-location", "c311-send"):
            f = await _tab_to(page, cls, limit=5)
            assert f["outline"], f"{cls} has no visible focus"
            assert f["label"], f"{cls} has no accessible name"

        # Language toggle by keyboard (Shift+Tab back up to the header).
        f = await _tab_to(page, "c311-lang", shift=True)
        assert f["outline"]
        await page.keyboard.press("Enter")
        assert await page.locator(".c311-root").get_attribute("lang") == "es"
        await page.keyboard.press("Enter")
        assert await page.locator(".c311-root").get_attribute("lang") == "en"

        # A quick-reply button is usable from the keyboard (the report flow offers them).
        await _tab_to(page, "c311-input")
        await _kb_say(page, "I want to report a pothole")
        await _kb_say(page, "600 E 4th St")
        await page.wait_for_selector(".c311-quick .c311-qr", timeout=10_000)
        f = await _tab_to(page, "c311-qr", shift=True)
        title = f["label"]
        await page.keyboard.press("Enter")
        await page.wait_for_function(
            "t => [...document.querySelectorAll('.c311-msg--resident')].some(e => e.textContent.includes(t))",
            arg=title,
            timeout=20_000,
        )
        assert "c311-input" in (await _focused(page))["cls"], "focus lost after a quick reply"
        await wait_quiet(page)

        # Escape closes the panel and returns focus to the launcher.
        await page.keyboard.press("Escape")
        assert not await page.locator(".c311-panel").is_visible()
        assert "c311-launcher" in (await _focused(page))["cls"]

        # No keyboard trap: with the panel open, Tab eventually leaves the widget.
        await page.keyboard.press("Enter")
        await page.locator(".c311-panel").wait_for(state="visible")
        left = False
        for _ in range(40):
            await page.keyboard.press("Tab")
            if not (await _focused(page))["inWidget"]:
                left = True
                break
        assert left, "focus is trapped in the widget"

        # End the chat and rate it, keyboard only.
        session_id = await page.evaluate("() => localStorage.getItem('chat311:session')")
        assert session_id
        await _tab_to(page, "c311-end", shift=True)
        asked = Dialogs(page)  # the pothole report is unfinished: "End chat" asks first
        await page.keyboard.press("Enter")
        await page.locator(".c311-csat").wait_for(state="visible")
        assert asked.seen == ["Your report is not finished. End the chat and discard it?"]
        f = await _focused(page)
        assert f["tag"] == "INPUT", f
        for _ in range(3):
            await page.keyboard.press("ArrowRight")
        assert await page.evaluate("() => document.activeElement.value") == "4"
        await page.keyboard.press("Tab")
        await page.keyboard.type("Quick and clear, thanks")
        await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")
        await page.locator(".c311-thanks").wait_for(state="visible")
        assert "c311-newchat" in (await _focused(page))["cls"]

        # The browser forgot the ended chat (shared computers); the rating still reached it.
        assert await page.evaluate("() => localStorage.getItem('chat311:session')") is None
        from chat_server.conversations.store import ConversationStore

        conv = await ConversationStore(redis_client, "c311:").current_conversation(session_id)
        assert conv is not None and conv.state == "closed"
        assert conv.fields.get("csat") == "4"
        assert conv.fields.get("csat_comment") == "Quick and clear, thanks"
        assert page.errors == [], page.errors


async def test_axe_scan_of_open_widget_has_no_serious_violations(chat_server_url: str) -> None:
    async with chromium() as browser:
        page = await new_page(browser)
        await page.add_init_script(LIVE_RECORDER)
        await page.goto(chat_server_url + "/")
        await open_widget(page)
        await ask(page, "hello")
        await ask(page, "¿Cómo pago mi factura del agua?")
        # The 911 answer stands out (not a quiet grey status line) and says what to do about gas.
        await ask(page, "I smell gas in my kitchen")
        urgent = page.locator(".c311-msg--urgent")
        assert await urgent.count() == 1
        assert "911" in await urgent.inner_text() and "Piedmont Natural Gas" in await urgent.inner_text()
        # Screen readers hear it once, assertively, and not from an alert inside the polite transcript (probe V).
        said = await _said(page, "Piedmont Natural Gas")
        assert [(s["live"], s["nested"]) for s in said] == [("assertive", False)], said
        assert await page.locator(".c311-log [role=alert], .c311-log [aria-live]").count() == 0
        # The resident's own words and "Sending…" are not read back to them; each answer is read once.
        for own in ("hello", "I smell gas in my kitchen", "Sending"):
            assert not await _said(page, own), (own, await _said(page, own))
        answers = [m["text"][:60] for m in await messages(page) if m["sender"] == "bot"]
        times_said = [len(await _said(page, text)) for text in answers]
        assert answers and times_said == [1] * len(answers), list(zip(answers, times_said, strict=True))
        # Put the status region and quick replies on screen too.
        await page.evaluate("() => Chat311.widget.onQueue({position: 2, estimated_wait_s: 240})")
        violations = await axe_scan(page, ".c311-root")
        bad = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert not bad, [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in bad]
        # The demo city page itself is accessible too.
        violations = await axe_scan(page, "body")
        bad = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert not bad, [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in bad]

        # ARIA structure the issue asks for.
        log = page.locator(".c311-log")
        assert await log.get_attribute("role") == "log"
        # read, not announced: new messages are said from polite / assertive regions of their own, outside the panel
        # (so a message that comes while it is collapsed is said too)
        assert await log.get_attribute("aria-live") == "off"
        assert await page.locator(".c311-root > .c311-sr[aria-live=polite]").count() == 1
        assert await page.locator(".c311-root > .c311-sr[aria-live=assertive]").count() == 1
        assert await page.locator(".c311-status").get_attribute("role") == "status"
        assert await page.locator(".c311-banner").get_attribute("role") == "status"
        assert await page.locator(".c311-panel").get_attribute("role") == "dialog"
        assert await page.locator("label[for=c311-input]").count() == 1
        # Spanish bot messages carry lang="es", and so does the resident's Spanish question in an English widget.
        spanish = [m for m in await messages(page) if m["sender"] != "resident" and m["lang"] == "es"]
        assert spanish, "no bot message marked lang=es"
        asked = [m["lang"] for m in await messages(page) if m["sender"] == "resident" and "factura" in m["text"]]
        assert asked == ["es"], asked


async def test_mobile_320px_and_reduced_motion(chat_server_url: str) -> None:
    async with chromium() as browser:
        page = await new_page(
            browser, viewport={"width": 320, "height": 640}, is_mobile=True, has_touch=True, reduced_motion="reduce"
        )
        await page.goto(chat_server_url + "/")
        await open_widget(page)
        await page.locator(".c311-lang").click()
        await ask(page, "¿Cuándo pasa la basura?")
        box = await page.locator(".c311-panel").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 320.5, box
        assert await page.evaluate("() => document.documentElement.scrollWidth") <= 320
        for sel in (INPUT, ".c311-send", ".c311-close", ".c311-end"):
            b = await page.locator(sel).bounding_box()
            assert b is not None and b["x"] >= 0 and b["x"] + b["width"] <= 320.5, (sel, b)
        anim = await page.evaluate(
            "() => getComputedStyle(document.querySelector('.c311-panel')).animationName"
        )
        assert anim == "none", "animation not disabled under prefers-reduced-motion"
        # Covering the page, the chat is modal: Tab does not go on to links hidden under it (probe AH).
        assert await page.locator(".c311-panel").get_attribute("aria-modal") == "true"
        await page.locator(INPUT).focus()
        for key in ["Tab"] * 12 + ["Shift+Tab"] * 24:
            await page.keyboard.press(key)
            assert (await _focused(page))["inWidget"], (key, await _focused(page))
        await screenshot(page, "widget-mobile-320-es.png")
        await page.locator(".c311-lang").click()
        await screenshot(page, "widget-mobile-320-en.png")


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _rgb(css: str) -> tuple[float, float, float]:
    parts = css[css.index("(") + 1:css.index(")")].replace(",", " ").split()
    assert len(parts) == 3 or float(parts[3]) == 1.0, css  # opaque colours only
    return float(parts[0]), float(parts[1]), float(parts[2])


def contrast(fg: str, bg: str) -> float:
    a, b = sorted((_luminance(_rgb(fg)), _luminance(_rgb(bg))), reverse=True)
    return (a + 0.05) / (b + 0.05)


async def _colours(page: Any, selector: str) -> dict[str, str]:
    return await page.evaluate(
        """sel => { const el = document.querySelector(sel); const cs = getComputedStyle(el);
                    const icon = el.querySelector('svg');
                    const fill = icon ? getComputedStyle(icon).fill : cs.color;
                    return {color: cs.color, bg: cs.backgroundColor, icon: fill}; }""",
        selector,
    )


async def test_launcher_send_arrow_and_send_feedback_meet_aa_contrast(chat_server_url: str) -> None:
    """Measured from computed styles: the launcher text, the send arrow and "Send feedback" were #1b1b1b on
    #00594f (about 2:1) because the widget's button reset outweighed their own colour."""
    async with chromium() as browser:
        page = await new_page(browser)
        await page.goto(chat_server_url + "/")
        await page.locator(".c311-launcher").wait_for()
        ratios = {}
        c = await _colours(page, ".c311-launcher")
        ratios["launcher"] = contrast(c["color"], c["bg"])
        await open_widget(page)
        c = await _colours(page, ".c311-send")
        ratios["send arrow"] = contrast(c["icon"], c["bg"])
        await ask(page, "hello")
        await page.locator(".c311-end").click()
        await page.locator(".c311-csat").wait_for(state="visible")
        c = await _colours(page, ".c311-csat-submit")
        ratios["send feedback"] = contrast(c["color"], c["bg"])
        assert "feedback" in (await page.locator(".c311-csat-submit").inner_text()).lower()
        assert all(r >= 4.5 for r in ratios.values()), ratios


async def test_quick_replies_keep_the_question_in_view_and_csat_leaves_the_chat_visible(
        chat_server_url: str) -> None:
    """Phone size (375×740): the bot's question stays visible above its quick replies; after "End chat"
    the rating form sits below the log (never over it), the end of the chat is in view, and the header no
    longer says "Chatting with …"."""
    async with chromium() as browser:
        page = await new_page(browser, viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
        await page.goto(chat_server_url + "/")
        await open_widget(page)
        await ask(page, "I want to report a pothole")
        await ask(page, "600 E 4th St")
        await page.wait_for_selector(".c311-quick .c311-qr", timeout=10_000)
        # The last bot message (the question) has its top inside the visible log.
        await page.wait_for_function(
            """() => {
                const log = document.querySelector('.c311-log').getBoundingClientRect();
                const bots = document.querySelectorAll('.c311-log .c311-msg:not(.c311-msg--resident)');
                const q = bots[bots.length - 1].getBoundingClientRect();
                return q.top >= log.top - 1 && q.top < log.bottom - 20;
            }""",
            timeout=5_000,
        )
        asked = Dialogs(page)
        await page.locator(".c311-end").click()
        await page.locator(".c311-csat").wait_for(state="visible")
        assert len(asked.seen) == 1  # the report was unfinished
        await page.wait_for_function(
            """() => {
                const log = document.querySelector('.c311-log');
                const l = log.getBoundingClientRect();
                const end = document.querySelector('.c311-endarea').getBoundingClientRect();
                const msgs = log.querySelectorAll('.c311-msg');
                const last = msgs[msgs.length - 1].getBoundingClientRect();
                return end.top >= l.bottom - 1 && last.bottom <= l.bottom + 1 && l.height >= 100;
            }""",
            timeout=5_000,
        )
        assert await page.locator(".c311-subtitle").inner_text() == "Chat ended"
        assert page.errors == [], page.errors


async def test_a_spanish_browser_starts_in_spanish_when_the_page_sets_no_language(chat_server_url: str) -> None:
    """Probe V: with locale es-MX the intro, buttons and box were English until the first Spanish message. A page
    without data-lang follows the browser's languages (English or Spanish; anything else gets English); a page's
    own data-lang still decides."""
    # The demo page leaves data-lang empty; a city page that sets it is the demo with data-lang="en" (set as the
    # parser inserts the tag, before the deferred script runs).
    with_lang = """new MutationObserver((_, seen) => {
        const tag = document.querySelector('script[src*="widget.js"]');
        if (tag) { tag.dataset.lang = 'en'; seen.disconnect(); }
    }).observe(document, {childList: true, subtree: true});"""

    async with chromium() as browser:
        for locale, page_sets_lang, want in (("es-MX", False, "es"), ("fr-FR", False, "en"), ("es-MX", True, "en")):
            page = await new_page(browser, locale=locale)
            if page_sets_lang:
                await page.add_init_script(with_lang)
            await page.goto(chat_server_url + "/")
            await page.locator(".c311-launcher").wait_for()
            given = await page.evaluate("() => document.querySelector('script[src*=\"widget.js\"]').dataset.lang")
            assert given == ("en" if page_sets_lang else "")
            assert await page.locator(".c311-root").get_attribute("lang") == want, (locale, page_sets_lang)
            if want == "es":
                assert await page.locator(".c311-launcher").get_attribute("aria-label") == "Chatear con CLT 311"
                await open_widget(page)
                assert await page.locator(INPUT).get_attribute("placeholder") == "Escriba su mensaje…"
                assert (await page.locator(".c311-intro").inner_text()).startswith("¡Hola! Haga una pregunta")
                answers = await ask(page, "¿Cuándo pasa el camión de la basura?")
                assert any(m["lang"] == "es" for m in answers), answers
            assert page.errors == [], page.errors
            await page.context.close()


async def test_rating_form_says_a_star_is_needed_and_asks_for_it_itself(chat_server_url: str,
                                                                        redis_client) -> None:  # type: ignore[no-untyped-def]
    """Probe V: a comment without a star was blocked by the browser's "required" bubble. The server takes a rating
    (1-5) with or without a comment, so the form says so next to the stars, and on "Send feedback" without one it
    shows why and moves focus to the stars; the comment is kept."""
    async with chromium() as browser:
        page = await new_page(browser)
        await page.goto(chat_server_url + "/")
        await open_widget(page)
        await ask(page, "hello")
        session_id = await page.evaluate("() => localStorage.getItem('chat311:session')")
        await page.locator(".c311-end").click()
        await page.locator(".c311-csat").wait_for(state="visible")
        hint = page.locator(".c311-csat-hint")
        assert await hint.inner_text() == "Choose 1 to 5 stars to send your feedback."
        assert await page.locator(".c311-csat fieldset").get_attribute("aria-describedby") == \
            await hint.get_attribute("id")

        await page.locator(".c311-csat-comment").fill("Quick answers")
        await page.locator(".c311-csat-submit").click()
        error = page.locator(".c311-csat-error")
        await error.wait_for(state="visible", timeout=5_000)
        assert "choose a rating first" in (await error.inner_text()).lower()
        focused = await page.evaluate("""() => { const el = document.activeElement;
            return [el.type, el.getAttribute('aria-invalid'), el.getAttribute('aria-describedby')]; }""")
        assert focused == ["radio", "true", await error.get_attribute("id")], focused
        assert not await page.locator(".c311-thanks").is_visible()
        assert await page.locator(".c311-csat-comment").input_value() == "Quick answers"

        await page.locator(".c311-star label").nth(4).click()
        await error.wait_for(state="hidden")
        assert await page.locator(".c311-star input[aria-invalid]").count() == 0
        await page.locator(".c311-csat-submit").click()
        await page.locator(".c311-thanks").wait_for(state="visible")
        from chat_server.conversations.store import ConversationStore

        conv = await ConversationStore(redis_client, "c311:").current_conversation(session_id)
        assert conv is not None and conv.fields.get("csat") == "5"
        assert conv.fields.get("csat_comment") == "Quick answers"
        assert page.errors == [], page.errors


async def test_with_an_agent_each_event_is_said_once_and_after_the_end_the_box_starts_a_new_chat(
        server_factory, redis_server) -> None:  # type: ignore[no-untyped-def]
    """Probe V: "Ann joined the chat." was said by the transcript and again by the status strip, and the resident's
    own words came back with "Sending…". When Ann ended the chat the resident was told to "just type a message",
    but the rating form had taken the message box's place (and the strip still said Ann had joined)."""
    async with chat_with_ann(server_factory, redis_server, LIVE_RECORDER) as (ann, page, cid):
        await page.locator(LOG, has_text="Ann joined the chat.").wait_for()
        await page.locator(INPUT).fill("my recycling cart was not emptied")
        await page.locator(INPUT).press("Enter")
        await ann.wait_for("message", lambda d: "recycling cart" in str(d))
        await ann.call("send", {"conversation_id": cid, "text": "Thanks, I will check on it."})
        await page.locator(LOG, has_text="Thanks, I will check on it.").wait_for()
        await wait_quiet(page)
        assert len(await _said(page, "Ann joined the chat.")) == 1, await _said(page, "joined")
        assert len(await _said(page, "Thanks, I will check on it.")) == 1
        assert not await _said(page, "recycling cart") and not await _said(page, "Sending")
        # Collapsed to read the page, the resident still hears the agent (only a badge showed it, probe AH).
        await page.locator(INPUT).press("Escape")
        await ann.call("send", {"conversation_id": cid, "text": "Are you still there?"})
        await page.locator(".c311-badge", has_text="1").wait_for()
        said = await _said(page, "Are you still there?")
        assert [(s["live"], s["nested"]) for s in said] == [("polite", False)], said
        await page.locator(".c311-launcher").click()
        await wait_quiet(page)
        assert len(await _said(page, "Are you still there?")) == 1  # opening reads nothing again

        old_session = await page.evaluate("() => localStorage.getItem('chat311:session')")
        await ann.call("close", {"conversation_id": cid, "disposition": "resolved"})
        await page.locator(".c311-csat").wait_for(state="visible")
        goodbye = page.locator(".c311-msg--system", has_text="ended the chat")
        await goodbye.wait_for()
        assert "just type a message" in await goodbye.inner_text()
        # ... and there is a box to type in, right below the rating form, which says what it does now.
        box = page.locator(INPUT)
        assert await box.is_visible() and await box.is_editable()
        assert await box.get_attribute("placeholder") == "Type a message to start a new chat…"
        assert await page.locator(".c311-newchat").is_visible()
        assert "joined" not in await page.locator(".c311-agentline").inner_text()
        assert "joined" not in await page.locator(".c311-status").inner_text()
        assert len(await _said(page, "ended the chat")) == 1 and not await _said(page, "This chat has ended")
        assert len(await _said(page, "Ann joined the chat.")) == 1

        # Writing there gets the virtual assistant, in a new chat below the ended one (still on screen).
        answers = await ask(page, "how do I pay my water bill")
        assert any(m["sender"] == "bot" for m in answers), answers
        await page.locator(".c311-csat").wait_for(state="hidden")
        assert await page.locator(LOG, has_text="Thanks, I will check on it.").count() == 1
        new_session = await page.evaluate("() => localStorage.getItem('chat311:session')")
        assert new_session and new_session != old_session
        assert await page.locator(INPUT).get_attribute("placeholder") == "Type your message…"
