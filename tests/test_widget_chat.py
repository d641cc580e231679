"""Resident web widget against the real chat_server + Rasa, in headless Chromium (issue 7).

The demo page at `/` embeds `/widget.js`; the page is served with chat_server's strict CSP
(`script-src 'self'`), so these tests also prove the widget needs no inline script.
"""

from __future__ import annotations

import base64
import re

import aiohttp
import pytest

from tests.support.browser import (
    BOT_TIMEOUT_MS,
    INPUT,
    ask,
    chromium,
    messages,
    new_page,
    open_widget,
    quick_replies,
    screenshot,
    wait_bot_messages,
    wait_quiet,
)

pytestmark = [pytest.mark.browser, pytest.mark.rasa]

CHARLOTTE = {"latitude": 35.2271, "longitude": -80.8431}
TICKET_RE = re.compile(r"\b311-\d+\b")
# A 2x2 PNG (valid image, decodes in the browser).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGM4YaMBRAwQCgAjXgSxbgN+HAAAAABJRU5ErkJggg=="
)


def _no_dupes(msgs: list[dict]) -> None:
    ids = [m["id"] for m in msgs if m["id"]]
    assert len(ids) == len(set(ids)), f"a message is shown twice: {ids}"
    cmids = [m["cmid"] for m in msgs if m["cmid"]]
    assert len(cmids) == len(set(cmids)), f"a resident message is shown twice: {cmids}"


async def test_demo_page_and_faq_in_english_and_spanish(chat_server_url: str) -> None:
    async with chromium() as browser:
        page = await new_page(browser)
        resp = await page.goto(chat_server_url + "/")
        assert resp is not None and resp.ok
        assert "script-src 'self'" in (resp.headers.get("content-security-policy") or "")
        assert await page.locator("h1").inner_text()
        launcher = page.locator(".c311-launcher")
        await launcher.wait_for()
        assert await launcher.get_attribute("aria-expanded") == "false"

        await open_widget(page)
        assert await launcher.get_attribute("aria-expanded") == "true"

        answers = await ask(page, "When is my trash picked up?")
        text = " ".join(m["text"] for m in answers)
        assert re.search(r"solid waste|recycling", text, re.I), text
        await screenshot(page, "widget-en.png")

        # Switch the UI to Spanish: UI strings change and the bot answers in Spanish.
        await page.locator(".c311-lang").click()
        assert await page.locator(".c311-root").get_attribute("lang") == "es"
        assert await page.locator(INPUT).get_attribute("placeholder") == "Escriba su mensaje…"
        assert await page.locator(".c311-lang").inner_text() == "English"
        answers = await ask(page, "¿Qué día pasa el camión de la basura?")
        text = " ".join(m["text"] for m in answers)
        assert re.search(r"residuos s[oó]lidos|reciclaje|basura", text, re.I), text
        assert any(m["lang"] == "es" for m in answers), answers
        await screenshot(page, "widget-es.png")

        msgs = await messages(page)
        _no_dupes(msgs)
        assert [m["text"] for m in msgs if m["sender"] == "resident"] == [
            "When is my trash picked up?",
            "¿Qué día pasa el camión de la basura?",
        ]
        # who said each message follows the language, the earlier English ones too (the first read "You:")
        said = await page.locator(".c311-msg--resident .c311-sr").all_inner_texts()
        assert said == ["Usted:", "Usted:"], said
        assert page.errors == [], page.errors


async def test_service_request_form_through_the_widget(chat_server_url: str) -> None:
    """Report a pothole: photo, shared location, answers by buttons and text, then a ticket number."""
    async with chromium() as browser:
        page = await new_page(browser, geolocation=CHARLOTTE, permissions=["geolocation"])
        await page.goto(chat_server_url + "/")
        await open_widget(page)
        await ask(page, "hi")

        # A photo goes through POST /api/media and is sent as an image attachment.
        before = await page.locator(".c311-log .c311-msg--resident").count()
        await page.locator(".c311-file").set_input_files(
            files=[{"name": "pothole.png", "mimeType": "image/png", "buffer": PNG}]
        )
        photo = page.locator(".c311-log .c311-msg--resident").nth(before)
        await photo.locator("img.c311-img").wait_for()
        await wait_quiet(page)
        src = await photo.locator("img").get_attribute("src") or ""
        assert "/media/" in src, src
        assert await photo.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")

        # Share my location first; the bot asks what to report there, then runs the form.
        before = await page.locator(".c311-log .c311-msg:not(.c311-msg--resident)").count()
        await page.locator(".c311-location").click()
        await page.locator(".c311-log .c311-msg--resident", has_text="📍 My location").wait_for()
        await wait_bot_messages(page, before + 1)
        await wait_quiet(page)
        await ask(page, "a pothole")

        used_buttons: list[str] = []
        steps: list[str] = []
        ticket = None
        for _ in range(16):
            ticket_line = await page.locator(".c311-ticket").inner_text()
            all_text = ticket_line + " ".join(m["text"] for m in await messages(page) if m["sender"] != "resident")
            if found := TICKET_RE.search(all_text):
                ticket = found.group(0)
                break
            last = [m for m in await messages(page) if m["sender"] != "resident"][-1]["text"].lower()
            buttons = await quick_replies(page)
            before = await page.locator(".c311-log .c311-msg:not(.c311-msg--resident)").count()
            if buttons:
                choice = next((b for b in buttons if re.match(r"(yes|submit|confirm|correct)\b", b, re.I)), buttons[0])
                steps.append(f"button {choice}")
                used_buttons.append(choice)
                await page.locator(".c311-quick .c311-qr", has_text=choice).first.click()
            else:
                if "describe" in last:
                    reply = "Deep pothole in the right lane by the bus stop, a foot wide."
                elif "where is" in last or "address" in last:
                    reply = "600 E 4th St"
                else:
                    reply = "skip"
                steps.append(reply)
                await page.locator(INPUT).fill(reply)
                await page.locator(INPUT).press("Enter")
            try:
                await wait_bot_messages(page, before + 1)
            except Exception as exc:
                raise AssertionError(f"no answer after {steps[-1]!r}; transcript: {await messages(page)}") from exc
            await wait_quiet(page)
        if ticket is None:  # the ticket_created event may trail the last bot message
            try:
                await page.wait_for_function(
                    "() => /311-\\d+/.test(document.querySelector('.c311-ticket').textContent)", timeout=20_000
                )
            except Exception as exc:
                raise AssertionError(f"no ticket after {steps}; transcript: {await messages(page)}") from exc
            ticket = TICKET_RE.search(await page.locator(".c311-ticket").inner_text()).group(0)  # type: ignore[union-attr]
        assert used_buttons, "the form offered no buttons"

        msgs = await messages(page)
        _no_dupes(msgs)
        resident_texts = [m["text"] for m in msgs if m["sender"] == "resident"]
        assert "📍 My location" in resident_texts
        for title in used_buttons:  # buttons show their title, not the payload
            assert title in resident_texts
        assert not any(t.startswith("/") for t in resident_texts), resident_texts

        # The ticket number appears with a status link once the ticket_created event arrives.
        await page.wait_for_function(
            "() => /311-\\d+/.test(document.querySelector('.c311-ticket').textContent)", timeout=BOT_TIMEOUT_MS
        )
        link = page.locator(".c311-ticket a")
        assert await link.get_attribute("rel") == "noopener noreferrer"
        assert re.match(r"https?://", await link.get_attribute("href") or "")
        assert ticket in await page.locator(".c311-ticket").inner_text()

        # The ticket exists in Open311 with the uploaded photo.
        async with aiohttp.ClientSession() as http, http.get(
            f"{chat_server_url}/open311/v2/requests/{ticket}.json"
        ) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
        record = body[0] if isinstance(body, list) else body
        assert record.get("service_code") == "POTHOLE", record
        assert "/media/" in (record.get("media_url") or ""), record
        # The shared browser position is the ticket's location (not an address typed later).
        assert record["lat"] == pytest.approx(CHARLOTTE["latitude"], abs=1e-4), record
        assert record["long"] == pytest.approx(CHARLOTTE["longitude"], abs=1e-4), record

        # Reloaded, the widget replays the chat and shows the request's status link again.
        await page.reload()
        await open_widget(page)
        await page.locator(".c311-ticket a").wait_for()
        assert ticket in await page.locator(".c311-ticket").inner_text()
        assert (await page.locator(".c311-ticket a").get_attribute("href") or "").endswith(f"/status/{ticket}")
        assert page.errors == [], page.errors


async def test_photo_shown_when_the_page_names_the_server_differently_and_errors_in_spanish(
        chat_server_url: str) -> None:
    """The server's public URL says 127.0.0.1; this resident reached it as localhost. Their photo is
    still shown (the page's CSP allows images from its own origin only), and the upload and length
    errors are in the widget's language, the length error with the limit."""
    async with chromium() as browser:
        page = await new_page(browser)
        await page.goto(chat_server_url.replace("127.0.0.1", "localhost") + "/")
        await open_widget(page)
        await page.locator(".c311-lang").click()
        await ask(page, "hola")
        before = await page.locator(".c311-log .c311-msg--resident").count()
        await page.locator(".c311-file").set_input_files(
            files=[{"name": "bache.png", "mimeType": "image/png", "buffer": PNG}])
        photo = page.locator(".c311-log .c311-msg--resident").nth(before).locator("img.c311-img")
        await photo.wait_for()
        assert (await photo.get_attribute("src") or "").startswith("http://localhost:")
        await page.wait_for_function("img => img.complete", arg=await photo.element_handle())
        assert await photo.evaluate("img => img.naturalWidth > 0")

        # Not an image, though it says it is: the server refuses it, the resident reads why in Spanish.
        await page.locator(".c311-file").set_input_files(
            files=[{"name": "bache.png", "mimeType": "image/png", "buffer": b"this is not a picture at all" * 4}])
        await page.locator(".c311-notice", has_text="No se pudo leer ese archivo como imagen").wait_for()

        await page.locator(INPUT).fill("muy largo " * 300)
        await page.locator(INPUT).press("Enter")
        await page.locator(".c311-notice", has_text="máximo 2000 caracteres").wait_for()
        # the refused text is back in the box to be shortened, not lost
        assert (await page.locator(INPUT).input_value()).strip() == ("muy largo " * 300).strip()
        times = await page.locator(".c311-log time").all_inner_texts()
        assert times and all("AM" not in t and "PM" not in t for t in times), times  # "9:05 a. m." in Spanish

        # Refused in the middle of a report, the open question's buttons come back with the text.
        await page.locator(INPUT).fill("")
        await ask(page, "quiero reportar un bache")
        await ask(page, "1200 Beatties Ford Road")
        buttons = await quick_replies(page)
        assert "Carril de circulación" in buttons, buttons
        await page.locator(INPUT).fill("muy largo " * 300)
        await page.locator(INPUT).press("Enter")
        await page.locator(".c311-log .c311-failed").nth(1).wait_for()
        assert await quick_replies(page) == buttons
        assert not [e for e in page.errors if "Failed to load resource" not in e], page.errors


async def test_reload_shows_full_history_exactly_once(chat_server_url: str) -> None:
    async with chromium() as browser:
        page = await new_page(browser)
        await page.goto(chat_server_url + "/")
        await open_widget(page)
        await ask(page, "hello")
        await ask(page, "How do I pay my water bill?")
        before = await messages(page)
        assert len(before) >= 4
        _no_dupes(before)

        await page.reload()
        await open_widget(page)
        await page.wait_for_function(
            "n => document.querySelectorAll('.c311-log .c311-msg').length >= n", arg=len(before), timeout=20_000
        )
        await wait_quiet(page)
        after = await messages(page)
        assert [(m["sender"], m["text"], m["id"]) for m in after] == [
            (m["sender"], m["text"], m["id"]) for m in before
        ]

        # A second tab of the same browser joins the same conversation, and sees new messages.
        page2 = await page.context.new_page()
        await page2.goto(chat_server_url + "/")
        await open_widget(page2)
        await page2.wait_for_function(
            "n => document.querySelectorAll('.c311-log .c311-msg').length >= n", arg=len(after), timeout=20_000
        )
        await ask(page2, "thank you")
        await page.wait_for_function(
            "() => [...document.querySelectorAll('.c311-msg--resident')]"
            ".some(e => e.textContent.includes('thank you'))",
            timeout=20_000,
        )
        await wait_quiet(page)
        tab1, tab2 = await messages(page), await messages(page2)
        _no_dupes(tab1)
        _no_dupes(tab2)
        assert [m["id"] for m in tab1] == [m["id"] for m in tab2]


async def test_injected_html_is_shown_as_text(chat_server_url: str, resident) -> None:  # type: ignore[no-untyped-def]
    payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    async with chromium() as browser:
        page = await new_page(browser)
        await page.goto(chat_server_url + "/")
        await open_widget(page)
        await ask(page, payload)

        # The same text arriving from the server (another tab of the session) and on replay.
        session_id = await page.evaluate("() => localStorage.getItem('chat311:session')")
        other = await resident(chat_server_url)
        await other.start_session(session_id, last_message_id="0")
        ack = await other.say('see <b>this</b> <a href="javascript:alert(1)">x</a> http://example.org/ok')
        assert ack["ok"], ack
        await page.wait_for_function(
            "() => document.querySelectorAll('.c311-msg--resident').length >= 2", timeout=20_000
        )
        await wait_quiet(page)
        await page.reload()
        await open_widget(page)
        await page.wait_for_function(
            "() => document.querySelectorAll('.c311-msg--resident').length >= 2", timeout=20_000
        )
        await wait_quiet(page)

        residents = [m for m in await messages(page) if m["sender"] == "resident"]
        assert residents[0]["text"] == payload
        assert "<img" not in residents[0]["html"] and "&lt;img" in residents[0]["html"]
        assert residents[1]["text"] == 'see <b>this</b> <a href="javascript:alert(1)">x</a> http://example.org/ok'
        assert await page.locator(".c311-log img, .c311-log script, .c311-log b").count() == 0
        links = page.locator(".c311-msg--resident a")
        hrefs = [await links.nth(i).get_attribute("href") for i in range(await links.count())]
        assert hrefs == ["http://example.org/ok"], hrefs
        assert await links.first.get_attribute("rel") == "noopener noreferrer"
        assert await links.first.get_attribute("target") == "_blank"
        assert await page.evaluate("() => window.__pwned") is None
        assert page.errors == [], page.errors


async def test_unread_badge_and_transcript_download(chat_server_url: str, resident) -> None:  # type: ignore[no-untyped-def]
    async with chromium() as browser:
        page = await new_page(browser)
        await page.goto(chat_server_url + "/")
        await open_widget(page)
        await ask(page, "hi")
        await page.keyboard.press("Escape")
        assert not await page.locator(".c311-panel").is_visible()

        # Another tab of this session asks something; the answer arrives while the panel is closed.
        session_id = await page.evaluate("() => localStorage.getItem('chat311:session')")
        other = await resident(chat_server_url)
        await other.start_session(session_id)
        await other.turn("How do I pay my water bill?", timeout=60)
        badge = page.locator(".c311-badge")
        await badge.wait_for(state="visible", timeout=20_000)
        assert int(await badge.inner_text()) >= 1
        assert "unread" in (await page.locator(".c311-launcher").get_attribute("aria-label") or "")

        await open_widget(page)
        assert not await badge.is_visible()
        await wait_quiet(page)
        async with page.expect_download() as info:
            await page.locator(".c311-transcript").click()
        download = await info.value
        path = await download.path()
        text = path.read_text(encoding="utf-8")  # type: ignore[union-attr]
        assert "How do I pay my water bill?" in text
        assert "You: hi" in text
        assert download.suggested_filename.endswith(".txt")
