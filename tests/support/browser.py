"""Shared Playwright helpers for the browser tests (headless system Chromium).

Tests using these helpers should be marked ``pytest.mark.browser``. They FAIL, never skip, when
Chromium, Playwright or axe-core is missing: a skipped browser suite would let a run look green
without the widget, accessibility, rasa-webchat, supervisor and training-flow checks
(CI installs all three; see .ci/run and `make setup`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import ROOT

SCREENSHOTS = ROOT / "var" / "screenshots"
WIDGET_DIR = ROOT / "widget"
AXE_JS = WIDGET_DIR / "node_modules" / "axe-core" / "axe.min.js"

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Generous: the first bot answer may wait on Rasa warming up.
BOT_TIMEOUT_MS = 60_000


def require_chromium() -> None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"Chromium not found at {CHROMIUM} (install it or set CHROMIUM_PATH)", pytrace=False)
    if importlib.util.find_spec("playwright") is None:
        pytest.fail("Playwright is not installed in .venv (make venv)", pytrace=False)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium browser (Playwright ``Browser``)."""
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


class Dialogs:
    """Answers every confirm() a page shows (accepts unless `accept` is set False) and keeps their texts."""

    def __init__(self, page: Any, accept: bool = True) -> None:
        self.accept = accept
        self.seen: list[str] = []
        self.page = page
        page.on("dialog", self._answer)

    def stop(self) -> None:
        self.page.remove_listener("dialog", self._answer)

    async def _answer(self, dialog: Any) -> None:
        self.seen.append(dialog.message)
        await (dialog.accept() if self.accept else dialog.dismiss())


async def new_page(browser: Any, **context_kwargs: Any) -> Any:
    """A page in a fresh context that records console errors and uncaught exceptions."""
    context_kwargs.setdefault("viewport", {"width": 1280, "height": 900})
    context = await browser.new_context(**context_kwargs)
    page = await context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and page.errors.append(msg.text))
    return page


# ---------- widget helpers ----------

LAUNCHER = ".c311-launcher"
PANEL = ".c311-panel"
INPUT = ".c311-input"
LOG = ".c311-log"
BANNER = ".c311-banner"


async def open_widget(page: Any) -> None:
    panel = page.locator(PANEL)
    if not await panel.is_visible():
        await page.locator(LAUNCHER).click()
    await panel.wait_for(state="visible")
    await page.locator(INPUT).wait_for(state="visible")


async def messages(page: Any) -> list[dict[str, Any]]:
    """Rendered transcript: [{sender, text, id, cmid, lang, pending}] in display order."""
    return await page.eval_on_selector_all(
        ".c311-log .c311-msg",
        """els => els.map(el => ({
            sender: [...el.classList].find(c => c.startsWith('c311-msg--')).slice(10),
            text: el.querySelector('.c311-bubble').textContent,
            html: el.querySelector('.c311-bubble').innerHTML,
            id: el.dataset.id || null,
            cmid: el.dataset.cmid || null,
            lang: el.getAttribute('lang'),
            pending: el.classList.contains('c311-pending'),
            failed: el.classList.contains('c311-failed'),
        }))""",
    )


async def bot_count(page: Any) -> int:
    return await page.locator(".c311-log .c311-msg:not(.c311-msg--resident)").count()


async def wait_bot_messages(page: Any, at_least: int, timeout: int = BOT_TIMEOUT_MS) -> None:
    await page.wait_for_function(
        "n => document.querySelectorAll('.c311-log .c311-msg:not(.c311-msg--resident)').length >= n",
        arg=at_least,
        timeout=timeout,
    )


async def wait_delivered(page: Any, timeout: int = BOT_TIMEOUT_MS) -> None:
    """Waits until no resident message is still pending."""
    await page.wait_for_function(
        "() => !document.querySelector('.c311-log .c311-pending')", timeout=timeout
    )


async def wait_quiet(page: Any, ms: int = 1500, timeout: int = BOT_TIMEOUT_MS) -> None:
    """Waits until the transcript has not changed for ``ms`` milliseconds."""
    await page.wait_for_function(
        """ms => {
            const log = document.querySelector('.c311-log');
            const sig = log.querySelectorAll('.c311-msg').length + '|' + log.textContent.length;
            const now = Date.now();
            if (window.__c311sig !== sig) { window.__c311sig = sig; window.__c311since = now; }
            return now - window.__c311since >= ms && !document.querySelector('.c311-log .c311-pending');
        }""",
        arg=ms,
        timeout=timeout,
        polling=200,
    )


async def ask(page: Any, text: str, timeout: int = BOT_TIMEOUT_MS) -> list[dict[str, Any]]:
    """Types ``text``, sends it with Enter, and returns the new non-resident messages."""
    before = await bot_count(page)
    await page.locator(INPUT).fill(text)
    await page.locator(INPUT).press("Enter")
    await wait_bot_messages(page, before + 1, timeout=timeout)
    await wait_quiet(page, timeout=timeout)
    msgs = [m for m in await messages(page) if m["sender"] != "resident"]
    return msgs[before:]


async def click_quick_reply(page: Any, title: str, timeout: int = BOT_TIMEOUT_MS) -> list[dict[str, Any]]:
    before = await bot_count(page)
    await page.locator(".c311-quick .c311-qr", has_text=title).first.click()
    await wait_bot_messages(page, before + 1, timeout=timeout)
    await wait_quiet(page, timeout=timeout)
    msgs = [m for m in await messages(page) if m["sender"] != "resident"]
    return msgs[before:]


async def quick_replies(page: Any) -> list[str]:
    return await page.locator(".c311-quick .c311-qr").all_inner_texts()


async def axe_scan(page: Any, selector: str = ".c311-root") -> list[dict[str, Any]]:
    """Runs axe-core (from widget/node_modules) on ``selector``; returns the violations."""
    if not AXE_JS.exists():
        pytest.fail(f"axe-core not installed at {AXE_JS} (make widget)", pytrace=False)
    # Evaluated through the DevTools protocol, so a strict page CSP does not block it.
    await page.evaluate(AXE_JS.read_text() + "\n;0")
    result = await page.evaluate(
        """sel => axe.run(document.querySelector(sel), {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
        })""",
        selector,
    )
    return result["violations"]


async def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    await page.screenshot(path=str(path), full_page=False)
    return path


def serious_violations(violations: list[dict[str, Any]]) -> list[Any]:
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in violations if v["impact"] in ("serious", "critical")]


async def untranslated(page: Any) -> list[Any]:
    """Marked elements whose text or attribute is not the copy's Spanish (the page applied everything)."""
    return await page.evaluate("""async () => {
        const texts = (await (await fetch('/staff/texts.json')).json()).texts;
        const bad = [];
        for (const n of document.querySelectorAll('[data-i18n]')) {
            const want = texts[n.dataset.i18n];
            if (!want || n.textContent !== want.es) bad.push([n.dataset.i18n, n.textContent]);
        }
        for (const n of document.querySelectorAll('[data-i18n-attr]')) {
            for (const pair of n.dataset.i18nAttr.split(';')) {
                const [attr, key] = pair.split(':').map(s => s.trim());
                if (!texts[key] || n.getAttribute(attr) !== texts[key].es) bad.push([key, n.getAttribute(attr)]);
            }
        }
        return bad;
    }""")
