"""Widget reflow and zoom (WCAG 1.4.4, 1.4.10): a laptop at 200 % zoom (640×400 CSS px) and a 320×568 phone, with a
city notice posted and a "Did you mean" menu on screen, keep the header, the whole notice and the message box
reachable (probe V, D4: the box was below the screen and the notice was cut off mid-sentence).

A real chat_server (own key prefix, so its notice reaches no other test) with the real bot; the notice is posted
through the staff incidents API like the console page does.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from tests.support.agents import fresh_prefix, login, make_agent
from tests.support.browser import INPUT, ask, chromium, new_page, open_widget, screenshot
from tests.support.servers import quoted_prefix

pytestmark = [pytest.mark.browser, pytest.mark.rasa]

PHONE = "1-800-769-3766"
NOTICE = {
    "title": {"en": "Power outage after storm", "es": "Apagón después de la tormenta"},
    "message": {
        "en": "Duke Energy reports outages in east Charlotte after last night's storm. Report downed lines to Duke "
              f"Energy at {PHONE} and stay 30 feet away. Traffic signals may be out: treat them as 4-way stops.",
        "es": "Duke Energy reporta apagones en el este de Charlotte después de la tormenta. Reporte cables caídos a "
              f"Duke Energy al {PHONE} y manténgase a 30 pies de distancia. Los semáforos pueden no funcionar: "
              "trátelos como alto de 4 vías.",
    },
    "phrases": ["power outage", "no power", "sin luz"],
    "url": "https://www.duke-energy.com/outages",
}

# Where things are, in CSS px of the viewport; `covered` lists what is not the topmost element at its own centre
# (cut off by the panel, or under something else).
_LAYOUT = """() => {
    const box = s => { const r = document.querySelector(s).getBoundingClientRect();
                       return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
    const covered = [];
    for (const s of ['.c311-title', '.c311-input', '.c311-send', '.c311-incident-dismiss']) {
        const r = document.querySelector(s).getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        if (!hit || !(hit === document.querySelector(s) || document.querySelector(s).contains(hit))) covered.push(s);
    }
    const panel = document.querySelector('.c311-panel'), text = document.querySelector('.c311-incident-text');
    const quick = document.querySelector('.c311-quick');
    return {vw: innerWidth, vh: innerHeight, covered, panel: box('.c311-panel'), header: box('.c311-header'),
            input: box('.c311-input'), send: box('.c311-send'), text: box('.c311-incident-text'),
            log: document.querySelector('.c311-log').clientHeight,
            panelCut: panel.scrollHeight - panel.clientHeight,
            textCut: text.scrollHeight - text.clientHeight, textTab: text.getAttribute('tabindex'),
            quickScrolls: quick.scrollHeight <= quick.clientHeight + 1 || getComputedStyle(quick).overflowY === 'auto',
            pageWidth: document.documentElement.scrollWidth};
}"""


def _on_screen(box: dict[str, float], layout: dict[str, Any]) -> bool:
    return box["top"] >= -0.5 and box["bottom"] <= layout["vh"] + 0.5 and box["left"] >= -0.5 \
        and box["right"] <= layout["vw"] + 0.5


@pytest.fixture(scope="module")
async def noticed_server(server_factory: Any, redis_server: Any) -> Any:
    """A chat_server of its own (key prefix) with a live city notice, posted by a supervisor."""
    prefix = fresh_prefix()
    server = await server_factory(CHAT311_REDIS__KEY_PREFIX=quoted_prefix(prefix), CHAT311_INCIDENTS__POLL_S="0.5")
    await make_agent(redis_server.url, prefix, "sam", roles=("supervisor",))
    status, token = await login(server.url, "sam")
    assert status == 303 and token
    async with aiohttp.ClientSession(cookies={"c311_agent": token}) as http:
        async with http.get(f"{server.url}/console/incidents/api/me") as r:
            csrf = (await r.json()).get("csrf", "")
        async with http.post(f"{server.url}/console/incidents/api/incidents", headers={"X-CSRF-Token": csrf},
                             json={**NOTICE, "ends_at": time.time() + 3600}) as r:
            assert r.status == 201, await r.text()
    return server


@pytest.mark.parametrize(("width", "height", "lang", "question"), [
    (640, 400, "en", "trash"),  # 1280×800 at 200 % zoom
    (320, 568, "es", "basura"),  # a small phone
])
async def test_message_box_header_and_whole_notice_stay_reachable(
        noticed_server: Any, width: int, height: int, lang: str, question: str) -> None:
    async with chromium() as browser:
        page = await new_page(browser, viewport={"width": width, "height": height}, is_mobile=width < 480,
                              has_touch=width < 480)
        await page.goto(noticed_server.url + "/")
        await open_widget(page)
        notice = page.locator(".c311-incident")
        await notice.wait_for(state="visible", timeout=10_000)
        if lang == "es":
            await page.locator(".c311-lang").click()
        await ask(page, question)
        assert await page.locator(".c311-quick .c311-qr").count() >= 3  # the "Did you mean" menu
        await screenshot(page, f"widget-reflow-{width}x{height}.png")

        layout = await page.evaluate(_LAYOUT)
        # The short screen gets the full-screen layout too, and nothing is pushed out of the panel.
        assert {k: round(v) for k, v in layout["panel"].items()} == {"top": 0, "bottom": height, "left": 0,
                                                                      "right": width}, layout
        assert layout["pageWidth"] <= width, layout
        assert layout["panelCut"] <= 1, layout
        for part in ("header", "input", "send"):
            assert _on_screen(layout[part], layout), (part, layout)
        assert layout["covered"] == [], layout
        assert layout["log"] >= 60, layout  # the conversation keeps room to be read
        assert layout["quickScrolls"], layout

        # The notice shows whole first lines; the rest scrolls (keyboard too) and "Show all" opens it in full.
        more = page.locator(".c311-incident-more")
        if layout["textCut"] > 1:
            assert layout["textTab"] == "0", layout
            assert await more.is_visible()
        if await more.is_visible():
            assert await more.get_attribute("aria-expanded") == "false"
            await more.click()
            assert await more.get_attribute("aria-expanded") == "true"
            opened = await page.evaluate(_LAYOUT)
            assert opened["textCut"] <= 1 and _on_screen(opened["text"], opened), opened
            for part in ("header", "input", "send"):
                assert _on_screen(opened[part], opened), (part, opened)
            assert opened["covered"] == [] and opened["panelCut"] <= 1, opened
            await screenshot(page, f"widget-reflow-{width}x{height}-notice.png")
            await more.click()
            assert await more.get_attribute("aria-expanded") == "false"
        assert PHONE in await page.locator(".c311-incident-text").inner_text()

        # Keyboard: the message box takes focus where it is, on screen.
        await page.locator(INPUT).focus()
        focused = await page.evaluate(_LAYOUT)
        assert _on_screen(focused["input"], focused) and focused["covered"] == [], focused
        assert page.errors == [], page.errors
