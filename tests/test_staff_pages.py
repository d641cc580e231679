"""Staff pages in Chromium: one navigation bar by role, axe on every staff page, no horizontal overflow
at 1280×800 and 375×740 on every page (staff pages, widget demo, status page), the training page's fixes."""

from __future__ import annotations

import random
import shutil
import string
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.support.agents import escalation_env, fresh_prefix
from tests.support.browser import ROOT, axe_scan, chromium, new_page, screenshot, serious_violations
from tests.support.staff import login, make_account

pytestmark = [pytest.mark.browser, pytest.mark.rasa]

STAFF_PAGES = {"console": "/console", "dashboard": "/console/supervisor", "content": "/console/content",
               "training": "/console/training", "incidents": "/console/incidents"}
SIZES = [(1280, 800), (375, 740), (320, 640)]  # 320: WCAG 1.4.10 reflow (probe Y: the dashboard scrolled sideways)


@pytest.fixture(scope="module")
async def staff(server_factory: Any, redis_server: Any, tmp_path_factory: Any) -> Any:
    prefix = fresh_prefix()
    # A copy of the training data: the training page's "Assign" writes to it (never to the repository's files).
    data_dir = tmp_path_factory.mktemp("training_data")
    shutil.copytree(ROOT / "training_data", data_dir, dirs_exist_ok=True)
    server = await server_factory(name="chat_server-staff-pages", CHAT311_TRAINING__DATA_DIR=str(data_dir),
                                  **escalation_env(prefix))
    for username, roles in (("ada", ["admin"]), ("sam", ["supervisor"]), ("cora", ["content"]),
                            ("aggie", ["agent"]), ("sue", ["supervisor", "content"])):
        await make_account(redis_server.url, prefix, username, roles)
    return server, prefix


async def _nav(page: Any) -> dict[str, Any]:
    await page.wait_for_function("() => document.getElementById('staff-nav')?.dataset.ready === '1'",
                                 timeout=15_000)
    return await page.evaluate(
        """() => ({
            links: [...document.querySelectorAll('#staff-nav a')].map(a => a.getAttribute('href')),
            current: document.querySelector('#staff-nav a[aria-current=page]')?.getAttribute('href') || null,
            who: document.querySelector('#staff-nav .staff-nav-who').textContent,
            navs: document.querySelectorAll('nav#staff-nav[aria-label="Staff pages"]').length,
        })"""
    )


@pytest.mark.parametrize("username,role_words,expected", [
    ("ada", "administrator", set(STAFF_PAGES.values()) - {"/console"}),  # admins take no chats
    ("sue", "supervisor, content editor", set(STAFF_PAGES.values())),
    ("sam", "supervisor", {"/console", "/console/supervisor", "/console/incidents"}),
    ("cora", "content editor", {"/console/content", "/console/training", "/console/incidents"}),
    ("aggie", "agent", {"/console"}),
])
async def test_one_nav_bar_shows_who_and_the_pages_their_role_may_open(
        staff: Any, username: str, role_words: str, expected: set[str]) -> None:
    server, _ = staff
    async with chromium() as browser:
        page = await new_page(browser)
        await login(page, server.url, username)
        nav = await _nav(page)  # the page the login landed on
        assert set(nav["links"]) == expected, nav
        assert nav["navs"] == 1
        assert f"Signed in as {username.title()} ({role_words})" == nav["who"], nav
        # Every link opens (no 403 behind a link), and each page has the same bar marking itself.
        for href in sorted(expected):
            response = await page.goto(server.url + href)
            assert response is not None and response.status == 200, href
            here = await _nav(page)
            assert here["current"] == href and set(here["links"]) == expected, (href, here)
        assert page.errors == [], page.errors  # type: ignore[attr-defined]
        # One way to sign out on every page: the bar's, or the agent console's own (it hands chats back first).
        for href in sorted(expected):
            await page.goto(server.url + href)
            await _nav(page)
            assert await page.locator("form[action='/console/logout'] button:visible").count() == 1, href
        await page.locator("form[action='/console/logout'] button").click()
        await page.wait_for_url("**/console/login")
        me = await page.request.get(server.url + "/console/staff/api/me")
        assert me.status == 401, "still signed in after Log out"


async def _overflow(page: Any) -> dict[str, int]:
    return await page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth})")


ALL_PAGES = {**STAFF_PAGES, "widget-demo": "/", "status": "/status/311-NOSUCH"}


async def test_every_page_passes_axe_and_fits_1280_and_375_wide(staff: Any, redis_server: Any) -> None:
    """Every page but the agent console at 375 px (its own test below: the console's layout is issue 19 part A)."""
    await _axe_and_overflow(staff, {k: v for k, v in ALL_PAGES.items() if k != "console"}, SIZES)
    await _axe_and_overflow(staff, {"console": "/console"}, SIZES[:1])


async def test_console_fits_375_wide(staff: Any) -> None:
    await _axe_and_overflow(staff, {"console": "/console"}, SIZES[1:])


async def _axe_and_overflow(staff: Any, pages: dict[str, str], sizes: list[tuple[int, int]]) -> None:
    server, _ = staff
    report: dict[str, Any] = {}
    async with chromium() as browser:
        for width, height in sizes:
            # the narrowest width in Spanish, whose copy runs longest (probe Y: the dashboard scrolled sideways)
            page = await new_page(browser, viewport={"width": width, "height": height},
                                  **({"locale": "es-ES"} if width <= 320 else {}))
            await login(page, server.url, "sue")  # may open every staff page
            for name, path in pages.items():
                response = await page.goto(server.url + path)
                if name == "status":  # an unknown ticket: the page says so with a 404, nothing else fails
                    assert response is not None and response.status == 404
                    page.errors.remove("Failed to load resource: the server responded with a status of 404 (Not Found)")
                if name in STAFF_PAGES:
                    await _nav(page)
                if name == "dashboard":
                    await page.wait_for_function("() => document.body.dataset.waiting !== undefined",
                                                 timeout=15_000)
                if name == "widget-demo":
                    await page.locator(".c311-launcher").wait_for()
                await page.wait_for_load_state("networkidle")
                size = await _overflow(page)
                await screenshot(page, f"page-{name}-{width}x{height}.png")
                assert size["scroll"] <= size["client"], (name, width, size)
                if name in STAFF_PAGES:
                    found = await axe_scan(page, "body")
                    report[(name, width)] = serious_violations(found)
                    # two landmarks named "Reports" on the dashboard (moderate, probe Y)
                    assert "landmark-unique" not in {v["id"] for v in found}, (name, width)
            assert page.errors == [], page.errors  # type: ignore[attr-defined]
    bad = {k: v for k, v in report.items() if v}
    assert not bad, bad
    assert len(report) == len(sizes) * len(set(pages) & set(STAFF_PAGES))


async def test_training_page_forms_hidden_readable_labels_warning_rollback_and_saved_item(
        staff: Any, redis_server: Any) -> None:
    from chat_server.training.inbox import Inbox, InboxKind

    server, prefix = staff
    client = aioredis.from_url(redis_server.url)
    try:
        inbox = Inbox(client, prefix)
        # words, not a long number: one reads as a card or account number, and such a message cannot be labelled
        stamp = "".join(random.choices(string.ascii_lowercase, k=10))
        for i in range(12):
            await inbox.record(f"the thing on my street {stamp} number {i}", "en", InboxKind.FALLBACK, "nlu_fallback",
                               0.2)
    finally:
        await client.aclose()
    async with chromium() as browser:
        page = await new_page(browser, viewport={"width": 1280, "height": 800})
        await login(page, server.url, "cora")
        await page.goto(server.url + "/console/training")
        await _nav(page)
        await page.wait_for_function("() => document.querySelectorAll('#inbox li.item').length >= 12",
                                     timeout=15_000)
        # Hidden things are really hidden (the `hidden` attribute is not overridden by page CSS).
        shown_hidden = await page.evaluate(
            "() => [...document.querySelectorAll('[hidden]')].filter(e => getComputedStyle(e).display !== 'none')"
            ".map(e => e.id || e.className)")
        assert shown_hidden == [], shown_hidden
        height = await page.evaluate("() => document.documentElement.scrollHeight")
        assert height < 12 * 250, height  # one compact row per item, not an expanded form each
        # Labels in words, not intent names.
        options = await page.locator("#inbox li.item").first.locator("select option").all_inner_texts()
        assert "Report: pothole" in options and "Wants a person" in options, options
        assert not [o for o in options if "_" in o], options
        # Training takes minutes: said before anyone presses the button.
        assert "several minutes" in (await page.locator("#train-note").inner_text())
        # Nothing published under this installation yet: Rollback cannot be pressed.
        assert await page.locator("#rollback").is_disabled()
        # A saved item leaves the inbox.
        first = page.locator("#inbox li.item").first
        text = await first.locator(".text").inner_text()
        await first.locator("select").select_option("report_pothole")
        await first.locator(".assign").click()
        await page.wait_for_function(
            "t => ![...document.querySelectorAll('#inbox .text')].some(e => e.textContent === t)", arg=text)
        assert "Report: pothole" in await page.locator("#inbox-saved").inner_text()
        await page.reload()
        await page.wait_for_function("() => document.querySelectorAll('#inbox li.item').length >= 11")
        texts = await page.locator("#inbox .text").all_inner_texts()
        assert text not in texts
        # 320 px with items listed: a label around a long select took 419 px (probe AH; WCAG 1.4.10)
        await page.set_viewport_size({"width": 320, "height": 640})
        size = await _overflow(page)
        assert size["scroll"] <= size["client"], size
        assert page.errors == [], page.errors  # type: ignore[attr-defined]
