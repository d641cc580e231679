"""The rest of issue 19's Spanish (item 6): the supervisor dashboard, the knowledge-articles page and the
bot-training page follow the staff pages' language like the console does (copy in staff_texts.yml,
static/staff/i18n.js), with figures through Intl; and the report CSV's headings are the same words as the
dashboard's report table, in English or Spanish, with the raw keys still available.

Pages are checked in Chromium (locale es-ES) against a real chat_server process (no bot is needed to show
these pages); the CSV against the real app and Redis with a scripted event log."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import datetime
from typing import Any

import pytest
import redis.asyncio as aioredis

from chat_server.staff_texts import load_staff_texts
from chat_server.training.inbox import Inbox, InboxKind
from tests.support.browser import ROOT, axe_scan, chromium, new_page, screenshot, serious_violations, untranslated
from tests.support.channel_standins import bare_server
from tests.support.metrics import TZ, scripted_day, xadd_all
from tests.support.staff import login, make_account
from tests.support.supervisor_app import App

STATIC = ROOT / "chat_server" / "static"
PAGES = ("supervisor", "content", "training")

# Interface words of these pages in English; none may be visible (or in an attribute) on the Spanish page.
ENGLISH = {
    "supervisor": ["Right now", "In queue", "Longest wait", "Agents online", "Staffing override", "Reason",
                   "Force open", "Force closed", "Back to schedule", "Waiting chats", "Nobody is waiting",
                   "Time in status", "Today", "Escalated", "Service level", "Avg handle time", "Satisfied",
                   "Tickets created", "Not understood", "Charts", "Chats per hour", "Reports", "Report", "From",
                   "Show", "Download CSV", "Daily figures", "updated", "live", "queued", "target", "Date",
                   "Answered by the bot", "Average speed of answer", "following the schedule", "minutes"],
    "content": ["Articles", "Search", "Title contains", "All departments", "Review date passed",
                "Find", "Matching articles", "Review by", "Version", "Score", "Inbox", "Personal data",
                "articles published", "article(s)", "Nothing to review", "is loading", "could not be loaded"],
    "training": ["Model", "Served now", "Train & test", "Publish", "Rollback", "several minutes", "idle",
                 "Held-out score", "Accuracy", "Examples", "Inbox", "Personal data", "Knowledge articles",
                 "Nothing to review", "message(s) to review", "Label", "Assign", "Dismiss", "asked",
                 "Nothing has been published"],
}
ENGLISH_CONTENT_EDITOR = ["Edit", "Topic", "Owner", "Official page", "Answer", "Details", "Sample questions",
                          "Publish", "Discard changes", "Test box", "Question", "Test draft", "Version history",
                          "Top 3 articles", "Article", "Meaning", "Words", "The bot", "Roll back"]
ENGLISH_ALL = ["Staff pages", "Signed in as", "Language", "Dashboard", "Bot training"]


# ---------- the copy ----------

def test_every_key_the_three_pages_use_is_in_the_copy() -> None:
    """A key typed in a page but missing from the YAML would show as the raw key."""
    texts = load_staff_texts()
    used: set[str] = set()
    for page in PAGES:
        html = (STATIC / page / "index.html").read_text(encoding="utf-8")
        used |= set(re.findall(r'data-i18n="([^"]+)"', html))
        used |= {key for attrs in re.findall(r'data-i18n-attr="([^"]+)"', html)
                 for key in re.findall(r":\s*([\w.]+)", attrs)}
        for script in (STATIC / page).glob("*.js"):
            used |= set(re.findall(r'\bt\("([\w.]+)"', script.read_text(encoding="utf-8")))
            used |= set(re.findall(r'"((?:dash|content|training|report)\.[\w.]+)"', script.read_text(encoding="utf-8")))
    used = {key for key in used if not key.endswith(("_", "."))}
    assert len(used) > 150, len(used)
    missing = sorted(used - set(texts))
    assert not missing, missing
    # Every report the picker offers, and every column the reports write, has words in both languages.
    assert {k for k in texts if k.startswith("report.name.")} == {
        f"report.name.{n}" for n in re.findall(r'<option value="(\w+)">',
                                                (STATIC / "supervisor" / "index.html").read_text(encoding="utf-8"))}


# ---------- the CSV export ----------

def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_csv_headings_in_english_spanish_and_as_keys(app_server: App) -> None:
    today = datetime.now(TZ).date()
    await xadd_all(app_server.redis, f"{app_server.prefix}events", scripted_day(today))
    http, _ = await app_server.session("sue", ["supervisor"])
    url = f"{app_server.url}/console/supervisor/api/export.csv"
    day = {"name": "daily", "start": today.isoformat(), "end": today.isoformat()}
    async with http:
        async with http.get(url, params=day) as r:
            assert r.status == 200, await r.text()
            default = _csv(await r.text())
        async with http.get(url, params={**day, "lang": "en"}) as r:
            english = _csv(await r.text())
        async with http.get(url, params={**day, "lang": "es"}) as r:
            spanish = _csv(await r.text())
        async with http.get(url, params={**day, "headings": "keys"}) as r:
            keys = _csv(await r.text())
        async with http.get(url, params={"name": "agents", "lang": "es"}) as r:
            agents = _csv(await r.text())
        async with http.get(url, params={**day, "lang": "fr"}) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "bad_language"
        async with http.get(url, params={**day, "headings": "labels"}) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "bad_headings"
        async with http.get(f"{app_server.url}/console/supervisor/api/report", params=day) as r:
            columns = list((await r.json())["rows"][0])

    # The old form, unchanged: the columns' keys.
    assert keys[0] == columns and keys[0][:4] == ["date", "chats", "contained", "containment_rate"]
    assert "asa_s" in keys[0] and "aht_s" in keys[0]
    # Words by default, English unless asked; the same cells under every form of heading.
    assert default == english and english[1:] == keys[1:] == spanish[1:] and len(english) == 2
    en = dict(zip(columns, english[0], strict=True))
    es = dict(zip(columns, spanish[0], strict=True))
    assert en["date"] == "Date" and en["contained"] == "Answered by the bot"
    assert en["asa_s"] == "Average speed of answer (seconds)" and en["aht_s"] == "Average handle time (seconds)"
    assert es["date"] == "Fecha" and es["contained"] == "Resueltos por el bot"
    assert es["asa_s"] == "Tiempo medio de respuesta (segundos)" and es["service_level"] == "Nivel de servicio"
    assert not [h for h in english[0] + spanish[0] if "_" in h], (english[0], spanish[0])
    # The one source: the dashboard's report table shows these words (report.col.* in staff_texts.yml).
    texts = load_staff_texts()
    assert en["service_level"] == texts["report.col.service_level"]["en"]
    assert es["csat_avg"] == texts["report.col.csat_avg"]["es"]
    assert agents[0][0] == "Agente", agents[0]


# ---------- the pages in Chromium, in Spanish ----------

async def _english_leaks(page: Any, words: list[str]) -> list[tuple[str, str]]:
    """Listed English words in the visible text, the charts' text, titles, labels and placeholders."""
    text: str = await page.evaluate("""() => {
        const parts = [document.body.innerText, document.title];
        for (const n of document.querySelectorAll('svg text, svg title')) parts.push(n.textContent);
        for (const n of document.querySelectorAll('[aria-label], [title], [placeholder]')) {
            if (n.closest('[hidden]')) continue;
            for (const a of ['aria-label', 'title', 'placeholder']) parts.push(n.getAttribute(a) || '');
        }
        return parts.join('\\n');
    }""")
    found = []
    for line in text.splitlines():
        found += [(w, line.strip()) for w in words if re.search(r"(?<!\w)" + re.escape(w) + r"(?!\w)", line)]
    return found


async def _ready(page: Any) -> None:
    await page.wait_for_function("() => document.getElementById('staff-nav')?.dataset.ready === '1'",
                                 timeout=15_000)
    await page.wait_for_function("() => document.documentElement.dataset.i18nState === 'ready'")


@pytest.mark.browser
async def test_dashboard_content_and_training_pages_in_spanish(redis_server: Any) -> None:
    from playwright.async_api import expect

    server = await bare_server(redis_server.url, "staff-i18n-pages")
    try:
        await make_account(redis_server.url, server.prefix, "sue", ["supervisor", "content"])
        async with chromium() as browser:
            page = await new_page(browser, locale="es-ES", viewport={"width": 1280, "height": 900})
            await login(page, server.url, "sue")
            page.errors.clear()  # type: ignore[attr-defined]

            # ---- the supervisor dashboard
            await page.goto(f"{server.url}/console/supervisor")
            await _ready(page)
            await page.wait_for_function("() => document.body.dataset.chats !== undefined", timeout=15_000)
            await expect(page.locator("html")).to_have_attribute("lang", "es")
            assert await page.title() == "Chat 311 — panel de supervisión"
            await expect(page.locator("h1")).to_have_text("Chat 311 — niveles de servicio")
            await expect(page.locator("#live-h")).to_have_text("Ahora mismo")
            await expect(page.locator("#waiting-empty")).to_have_text("No hay nadie esperando.")
            await expect(page.locator("#force-open")).to_have_text("Forzar abierta (personal de emergencia)")
            await expect(page.locator("#override-state")).to_have_text("según el horario")
            await expect(page.locator("#conn")).to_have_text("en directo")
            await expect(page.locator("#updated")).to_contain_text("actualizado a las ")
            await expect(page.locator("#staff-nav a[aria-current=page]")).to_have_text("Panel de supervisión")
            await expect(page.locator("#report-name option[value=agents]")).to_have_text("Estadísticas por agente")
            await expect(page.locator("#chart-hourly svg")).to_have_attribute(
                "aria-label", re.compile(r"^chats por hora hoy: (todavía no hay cifras|\d+ en total, el máximo en )"))
            assert "hora" in await page.locator("#chart-hourly svg text.axis-title").all_text_contents()
            await expect(page.locator("#chart-sl svg text.axis").first).to_have_text("0 %")  # Intl, Spanish
            # A report: headings from the same copy as the CSV, dates written the Spanish way.
            await page.click("#report-form button[type=submit]")
            await page.wait_for_function("() => document.querySelector('#report-table thead')", timeout=15_000)
            heads = await page.locator("#report-table th").all_inner_texts()
            assert heads[:2] == ["Fecha", "Chats"] and "Tiempo medio de respuesta" in heads, heads
            first_day = await page.locator("#report-table tbody tr td").first.inner_text()
            assert re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", first_day), first_day
            assert "lang=es" in str(await page.locator("#report-csv").get_attribute("href"))
            # The override's state in words, with the time through Intl.
            await page.fill("#override-minutes", "90")
            await page.fill("#override-reason", "tormenta")
            await page.click("#force-open")
            await expect(page.locator("#override-msg")).to_have_text("guardado")
            await expect(page.locator("#override-state")).to_contain_text(re.compile(
                r"^forzada abierta durante (90|89) minutos más, hasta el .* \(por \w+\): tormenta$"))
            assert await untranslated(page) == []
            assert await _english_leaks(page, ENGLISH["supervisor"] + ENGLISH_ALL) == []
            await screenshot(page, "dashboard-es.png")
            violations = serious_violations(await axe_scan(page, "body"))
            assert violations == [], violations
            confirmed: list[str] = []
            pending: list[Any] = []

            async def accept(dialog: Any) -> None:
                confirmed.append(dialog.message)
                await dialog.accept()

            page.once("dialog", lambda dialog: pending.append(asyncio.ensure_future(accept(dialog))))
            await page.click("#override-clear")
            await expect(page.locator("#override-state")).to_have_text("según el horario")
            assert confirmed and confirmed[0].startswith("La línea está forzada abierta"), confirmed  # asked in Spanish

            # ---- the knowledge-articles page
            await page.goto(f"{server.url}/console/content")
            await _ready(page)
            await expect(page.locator("#list-msg")).to_have_text(re.compile(r"^\d+ artículo\(s\)\.$"), timeout=30_000)
            await expect(page.locator("html")).to_have_attribute("lang", "es")
            assert await page.title() == "Chat 311 — base de conocimiento"
            await expect(page.locator("#list-h")).to_have_text("Artículos")
            await expect(page.locator("#filters button[type=submit]")).to_have_text("Buscar")
            await expect(page.locator("#department option").first).to_have_text("Todos los departamentos")
            await expect(page.locator("#inbox-msg")).to_have_text("No hay nada que revisar ahora.")
            await expect(page.locator("#q-lang")).to_have_value("es")  # article titles in the page's language
            await expect(page.locator("#kb-status")).to_have_text(re.compile(
                r"^(\d+ artículos publicados\.|La base de conocimiento se está cargando…)$"))
            # An article in the editor: its words, its history and the test box in Spanish.
            await page.locator("#results button").first.click()
            await expect(page.locator("#editor")).to_be_visible()
            await expect(page.locator("#edit-version")).to_have_text("versión 1")
            await expect(page.locator("#publish")).to_have_text("Publicar")
            await expect(page.locator("#history li span").first).to_have_text(re.compile(r"^Versión 1 · "))
            # The test box needs the loaded knowledge base: the status line says when it is.
            await expect(page.locator("#kb-status")).to_have_text(re.compile(r"^\d+ artículos publicados\.$"),
                                                                  timeout=180_000)
            await page.fill("#test-q", "¿Cómo adopto un perro?")
            await page.click("#test-run")
            await expect(page.locator("#test-result caption")).to_have_text("Los 3 artículos con mejor puntuación",
                                                                          timeout=30_000)
            await expect(page.locator("#test-result p:not(.bot-reading)").first).to_have_text(
                re.compile(r"^(El bot responde con «.+»:|El bot no está seguro .*|El bot no entiende .*)$"))
            # this server runs no Rasa: the bot's own reading is said to be missing, in Spanish
            await expect(page.locator("#test-result .bot-reading")).to_have_text(
                re.compile(r"^La lectura del bot no está disponible"))
            score = await page.locator("#test-result td").nth(1).inner_text()
            assert re.fullmatch(r"\d,\d{3}", score), score  # a decimal comma
            assert await untranslated(page) == []
            assert await _english_leaks(page, ENGLISH["content"] + ENGLISH_CONTENT_EDITOR + ENGLISH_ALL) == []
            violations = serious_violations(await axe_scan(page, "body"))
            assert violations == [], violations
            await screenshot(page, "content-es.png")

            # ---- the bot-training page, with one message the bot did not understand
            client = aioredis.from_url(redis_server.url)
            try:
                await Inbox(client, server.prefix).record("the thing on my street", "en", InboxKind.FALLBACK,
                                                          "nlu_fallback", 0.2)
            finally:
                await client.aclose()
            await page.goto(f"{server.url}/console/training")
            await _ready(page)
            await expect(page.locator("#inbox-msg")).to_have_text("1 mensaje(s) por revisar.", timeout=15_000)
            item = page.locator("#inbox li.item").first
            await expect(item.locator(".text")).to_have_text("the thing on my street")  # as written
            await expect(item.locator(".meta")).to_have_text(re.compile(r"^en · no entendido · preguntado 1× · "
                                                                        r"última vez \d{1,2}/\d{1,2}/\d{4}, "))
            await expect(item.locator("select")).to_have_attribute("aria-label",
                                                                   "Etiqueta para “the thing on my street”")
            await expect(item.locator("select option").first).to_have_text("— elija —")
            await expect(item.locator(".assign")).to_have_text("Asignar")
            await item.locator(".assign").click()
            await expect(item.locator(".item-msg")).to_have_text("Elija primero una etiqueta.")
            await expect(page.locator("html")).to_have_attribute("lang", "es")
            assert await page.title() == "Chat 311 — entrenamiento del bot"
            await expect(page.locator("#train")).to_have_text("Entrenar y probar")
            await expect(page.locator("#job-status")).to_have_text("en espera")
            await expect(page.locator("#rollback")).to_have_attribute("title", "Todavía no se ha publicado nada")
            await expect(page.locator("#train-note")).to_contain_text("varios minutos")
            await expect(page.locator("#kb-note a")).to_have_text("Artículos de conocimiento")
            assert await untranslated(page) == []
            assert await _english_leaks(page, ENGLISH["training"] + ENGLISH_ALL) == []
            violations = serious_violations(await axe_scan(page, "body"))
            assert violations == [], violations

            # ---- the switch: English at once on this page, and on the next page opened
            await page.locator("#staff-nav select.staff-lang-select").select_option("en")
            await expect(page.locator("html")).to_have_attribute("lang", "en")
            await expect(page.locator("#train")).to_have_text("Train & test")
            await expect(page.locator("#job-status")).to_have_text("idle")
            await expect(page.locator("#inbox-msg")).to_have_text("1 message(s) to review.")
            await expect(page.locator("#inbox li.item .assign")).to_have_text("Assign")
            await page.goto(f"{server.url}/console/supervisor")
            await _ready(page)
            await expect(page.locator("#live-h")).to_have_text("Right now")
            await expect(page.locator("#conn")).to_have_text("live", timeout=15_000)
            await expect(page.locator("#override-state")).to_have_text("following the schedule")
            await expect(page.locator("#chart-sl svg text.axis").first).to_have_text("0%")
            # ... and back to Spanish without a reload: the figures and lists are drawn again.
            await page.locator("#staff-nav select.staff-lang-select").select_option("es")
            await expect(page.locator("#override-state")).to_have_text("según el horario")
            await expect(page.locator("#conn")).to_have_text("en directo")
            await expect(page.locator("#chart-sl svg text.axis").first).to_have_text("0 %")
            assert await _english_leaks(page, ENGLISH["supervisor"]) == []
            assert page.errors == [], page.errors  # type: ignore[attr-defined]
    finally:
        await server.stop()
