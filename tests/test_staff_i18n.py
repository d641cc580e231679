"""Staff pages in Spanish (issue 19, item 6): the copy in chat_server/staff_texts.yml is checked when
it is loaded (a missing language or an unknown placeholder names the file and the key), every key the
console, the sign-in page, the incidents page and the staff bar use exists, and in Chromium a Spanish
browser signs in, works a chat in Spanish, passes axe, and the bar's switch turns it to English for
good; the incident notices page works in Spanish too."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from chat_server.staff_texts import TEXTS_FILE, StaffTextsError, load_staff_texts
from tests.support.agents import PASSWORD, escalation_env, fresh_prefix, make_agent, offered_chat
from tests.support.browser import ROOT, axe_scan, chromium, new_page, screenshot, serious_violations, untranslated
from tests.support.staff import post_notice

STATIC = ROOT / "chat_server" / "static"


# ---------- the YAML file ----------

def _copy_with(tmp_path: Path, edit: Any) -> Path:
    data = yaml.safe_load(TEXTS_FILE.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "staff_texts.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_shipped_copy_loads_with_both_languages() -> None:
    texts = load_staff_texts()
    assert texts["console.send"] == {"en": "Send", "es": "Enviar"}
    assert all(set(v) == {"en", "es"} and v["en"] and v["es"] for v in texts.values())


def test_a_key_without_its_spanish_text_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    path = _copy_with(tmp_path, lambda d: d["console.close_chat"].pop("es"))
    with pytest.raises(StaffTextsError) as exc:
        load_staff_texts(path)
    assert str(path) in str(exc.value) and "console.close_chat" in str(exc.value) and "es" in str(exc.value)


def test_an_unknown_placeholder_or_language_is_refused(tmp_path: Path) -> None:
    def typo(d: dict[str, Any]) -> None:
        d["console.offer_left"]["es"] = "Quedan {segundos} s para aceptar"
    path = _copy_with(tmp_path, typo)
    with pytest.raises(StaffTextsError, match=r"console\.offer_left: unknown placeholder \{segundos\}"):
        load_staff_texts(path)
    path = _copy_with(tmp_path, lambda d: d["console.send"].update(fr="Envoyer"))
    with pytest.raises(StaffTextsError, match=r"console\.send: unknown language fr"):
        load_staff_texts(path)
    path.write_text("console.send: [Send, Enviar]\n", encoding="utf-8")
    with pytest.raises(StaffTextsError, match=r"staff_texts\.yml: console\.send"):
        load_staff_texts(path)


def test_every_column_of_the_daily_figures_has_words() -> None:
    """"service_level_s" was headed "service level (segundos)" in the Spanish report and its CSV (probe S)."""
    from chat_server.metrics.compute import Bucket, figures

    texts = load_staff_texts()
    assert [c for c in figures(Bucket()) if f"report.col.{c}" not in texts] == []


def test_every_key_the_pages_use_is_in_the_copy() -> None:
    """A key typed in a page but missing from the YAML would show as the raw key in Spanish."""
    texts = load_staff_texts()
    used: set[str] = set()
    html = (STATIC / "console" / "index.html").read_text(encoding="utf-8")
    html += (STATIC / "incidents" / "index.html").read_text(encoding="utf-8")
    html += (ROOT / "chat_server" / "agents" / "console.py").read_text(encoding="utf-8")
    used |= set(re.findall(r'data-i18n="([^"]+)"', html))
    used |= {key for attrs in re.findall(r'data-i18n-attr="([^"]+)"', html)
             for key in re.findall(r":\s*([\w.]+)", attrs)}
    for script in ("console/console.js", "staff/nav.js", "staff/i18n.js", "incidents/incidents.js"):
        used |= set(re.findall(r'\bt\("([\w.]+)"', (STATIC / script).read_text(encoding="utf-8")))
    for script in ("console/console.js", "incidents/incidents.js"):
        used |= set(re.findall(r'"((?:console|incidents)\.[\w.]+)"', (STATIC / script).read_text(encoding="utf-8")))
    used |= set(re.findall(r'_login_page\(request, "([\w.]+)"',
                           (ROOT / "chat_server" / "agents" / "console.py").read_text(encoding="utf-8")))
    # prefixes completed at run time, and the sign-in message key (a Python expression in the markup)
    used = {key for key in used if not key.endswith(("_", ".")) and "{" not in key}
    assert len(used) > 120, len(used)
    missing = sorted(used - set(texts))
    assert not missing, missing


# ---------- the console in Chromium ----------

@pytest.mark.browser
@pytest.mark.rasa
async def test_spanish_browser_signs_in_works_a_chat_and_switches_to_english(
        server_factory: Any, redis_server: Any, resident: Any) -> None:
    from playwright.async_api import expect

    prefix = fresh_prefix()
    server = await server_factory(**escalation_env(prefix))
    await make_agent(redis_server.url, prefix, "ann", name="Ann")
    async with chromium() as browser:
        page = await new_page(browser, locale="es-ES", viewport={"width": 1400, "height": 900})
        # The sign-in page follows the browser's language.
        await page.goto(f"{server.url}/console")
        assert page.url.endswith("/console/login")
        await page.wait_for_function("() => document.documentElement.dataset.i18nState === 'ready'")
        assert await page.evaluate("() => document.documentElement.lang") == "es"
        await expect(page.locator("label[for=username]")).to_have_text("Usuario")
        await expect(page.locator("button[type=submit]")).to_have_text("Iniciar sesión")
        assert await page.title() == "Consola de agentes de chat311 — iniciar sesión"
        await page.fill("#username", "ann")
        await page.fill("#password", "wrong password")
        await page.click("button[type=submit]")
        await expect(page.locator("p.error")).to_have_text(
            "Usuario o contraseña incorrectos, o la cuenta está desactivada.")
        page.errors.remove("Failed to load resource: the server responded with a status of 401 (Unauthorized)")
        await expect(page.locator("#password")).to_be_focused()  # the name is kept: the password is typed again
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{server.url}/console")

        # The console in Spanish: the page's own words, the live ones and the staff bar.
        await expect(page.locator("#conn")).to_have_text("conectado", timeout=15_000)
        await expect(page.locator("html")).to_have_attribute("lang", "es")
        await page.wait_for_function("() => document.getElementById('staff-nav')?.dataset.ready === '1'")
        await expect(page.locator("#staff-nav .staff-nav-who")).to_have_text("Sesión iniciada como Ann (agente)")
        await expect(page.locator("#staff-nav a[aria-current=page]")).to_have_text("Consola de agentes")
        await expect(page.locator("#staff-nav")).to_have_attribute("aria-label", "Páginas del personal")
        await expect(page.locator("#empty")).to_have_text("Seleccione o acepte un chat.")
        await expect(page.locator("#missed")).to_be_hidden()  # no missed offer: no empty warning bar
        await expect(page.locator("#hours")).to_have_text("Línea abierta")
        await expect(page.locator("#search-scope")).to_have_text("Sus propias conversaciones y sus solicitudes.")
        assert await page.title() == "Consola de agentes de chat311"
        assert await page.locator("#status option").all_inner_texts() == ["En línea", "Ausente"]
        await expect(page.locator("#composer")).to_have_attribute("aria-label", "Mensaje para el residente")
        await expect(page.locator("#kb-q")).to_have_attribute("placeholder", "p. ej., objetos grandes")
        assert await untranslated(page) == []

        # An offer in Spanish; the resident's own words are shown as written.
        res, offer = await offered_chat(page, resident, server.url)
        await expect(offer.locator(".countdown")).to_have_text(re.compile(r"^Quedan \d+ s para aceptar$"))
        await expect(offer.locator(".waited")).to_contain_text("Esperando ")
        await expect(offer.locator("button.accept")).to_have_text("Aceptar")
        await expect(offer.locator("button.accept")).to_have_attribute("aria-label", re.compile(r"^Aceptar chat: "))
        await expect(offer.locator("button.decline")).to_have_text("Rechazar")
        await expect(offer.locator(".preview")).to_have_attribute("aria-label", "Últimos mensajes del residente")
        await offer.locator("button.accept").click()
        await expect(page.locator("#conv")).to_be_visible()
        await expect(page.locator("#conv-title")).to_have_text("Mi conversación: asignada")  # not "Mi chat: asignada"
        facts = page.locator("#conv-facts dt")
        assert "Tema" in await facts.all_inner_texts() and "Idioma" in await facts.all_inner_texts()
        await expect(page.locator("#conv-facts")).to_contain_text("Inglés")
        assert "Resuelto" in await page.locator("#disposition option").all_inner_texts()
        transcript = page.locator("#transcript")
        await expect(transcript).to_contain_text("I need help with my water bill")  # not translated
        await expect(transcript).to_contain_text("Residente ·")
        await expect(page.locator("#send")).to_have_text("Enviar")
        await res.wait_for("agent_joined", lambda d: d["name"] == "Ann")

        await page.fill("#composer", "Hola, soy Ann. Lo reviso ahora.")
        await page.click("#send")
        msg = await res.wait_for("bot_uttered", lambda m: m.get("sender") == "agent")
        assert msg["text"] == "Hola, soy Ann. Lo reviso ahora."
        await expect(transcript).to_contain_text("Hola, soy Ann.")
        assert await untranslated(page) == []
        await screenshot(page, "console-es.png")

        violations = serious_violations(await axe_scan(page, "body"))
        assert violations == [], violations

        # The switch in the staff bar: English at once, the open chat included, and after a reload.
        switch = page.locator("#staff-nav select.staff-lang-select")
        await expect(page.locator("#staff-nav label.staff-lang")).to_contain_text("Idioma")
        await switch.focus()
        await switch.select_option("en")
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.locator("#send")).to_have_text("Send")
        await expect(page.locator("#conv-title")).to_have_text("My chat — assigned")
        # the transcript's times too: the browser is Spanish, the page now English (probe S saw "16:19:43" stay)
        await expect(transcript.locator(".who").first).to_have_text(re.compile(r"· \d{1,2}:\d{2}:\d{2}\s[AP]M$"))
        await expect(page.locator("#staff-nav .staff-nav-who")).to_have_text("Signed in as Ann (agent)")
        await expect(page.locator("#hours")).to_have_text("Line open")
        await expect(switch).to_be_focused()  # relabelled in place, not rebuilt under the keyboard
        await page.reload()
        await expect(page.locator("#conn")).to_have_text("connected", timeout=15_000)
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.locator("#empty")).to_have_text("Select or accept a chat.")
        await expect(page.locator("#staff-nav select.staff-lang-select")).to_have_value("en")
        assert page.errors == [], page.errors  # type: ignore[attr-defined]


@pytest.mark.browser
@pytest.mark.rasa
async def test_english_browser_gets_english_and_the_sign_in_switch_turns_it_spanish(
        chat_server_url: str) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        page = await new_page(browser, locale="en-US")
        await page.goto(f"{chat_server_url}/console/login")
        await page.wait_for_function("() => document.documentElement.dataset.i18nState === 'ready'")
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.locator("button[type=submit]")).to_have_text("Sign in")
        await page.locator(".login-lang select").select_option("es")
        await expect(page.locator("button[type=submit]")).to_have_text("Iniciar sesión")
        await page.reload()
        await page.wait_for_function("() => document.documentElement.dataset.i18nState === 'ready'")
        await expect(page.locator("html")).to_have_attribute("lang", "es")
        await expect(page.locator("label[for=password]")).to_have_text("Contraseña")
        violations = serious_violations(await axe_scan(page, "body"))
        assert violations == [], violations
        assert page.errors == [], page.errors  # type: ignore[attr-defined]



@pytest.mark.browser
async def test_incidents_page_in_spanish_posts_and_ends_a_notice(server_factory: Any, redis_server: Any) -> None:
    from playwright.async_api import expect

    prefix = fresh_prefix()
    server = await server_factory(**escalation_env(prefix))
    await make_agent(redis_server.url, prefix, "sid", name="Sid", roles=("supervisor",))
    async with chromium() as browser:
        page = await new_page(browser, locale="es-MX", viewport={"width": 1280, "height": 900})
        await page.goto(f"{server.url}/console/incidents")
        await page.fill("#username", "sid")
        await page.fill("#password", PASSWORD)
        await page.press("#password", "Enter")
        await page.wait_for_url(f"{server.url}/console/incidents")
        await page.wait_for_function("() => document.getElementById('staff-nav')?.dataset.ready === '1'")
        await expect(page.locator("html")).to_have_attribute("lang", "es")
        await expect(page.locator("h1")).to_have_text("Chat 311 — avisos de incidentes")
        await expect(page.locator("#staff-nav a[aria-current=page]")).to_have_text("Incidentes")
        await expect(page.locator("#list-msg")).to_have_text("No hay avisos en los últimos 30 días.")
        assert await untranslated(page) == []
        await post_notice(page, ("Winter storm", "Tormenta invernal"),
                          ("Report outages to Duke Energy.", "Reporte los apagones a Duke Energy."),
                          "power outage\nsin luz", 7200)
        await expect(page.locator("#post-msg")).to_have_text(
            "Publicado. Todos los canales lo mostrarán en unos segundos.")
        row = page.locator("#list tbody tr").first
        await expect(row.locator("td").first).to_contain_text("Tormenta invernal")  # the title in the page's language
        await expect(row.locator("td").nth(1)).to_have_text("activo · en el aviso del chat web")
        edit = row.locator("button", has_text="Editar")
        await expect(edit).to_have_attribute("aria-label", "Editar: Tormenta invernal")
        end = row.locator("button", has_text="Terminar ahora")
        await expect(end).to_have_attribute("aria-label", "Terminar ahora: Tormenta invernal")
        violations = serious_violations(await axe_scan(page, "body"))
        assert violations == [], violations
        asked: list[str] = []

        def accept(dialog: Any) -> None:  # the question before a city-wide notice ends, in Spanish too
            asked.append(dialog.message)
            answers.append(asyncio.ensure_future(dialog.accept()))

        answers: list[asyncio.Future[None]] = []
        page.once("dialog", accept)
        await end.click()
        await expect(page.locator("#list-msg")).to_have_text("Terminado.")
        assert asked and asked[0].startswith("¿Terminar «Tormenta invernal» ahora?"), asked
        await expect(row.locator("td").nth(1)).to_have_text("terminado")
        # a scheduled notice ended before it began says so (its period read backwards: "12:00 – 11:00")
        await post_notice(page, ("Road work", "Obras"), ("Tryon St closed.", "Tryon St cerrada."), "road work", 7200,
                          starts_in_s=3600)
        await expect(row.locator("td").first).to_contain_text("Obras")
        page.once("dialog", accept)
        await row.locator("button", has_text="Terminar ahora").click()
        await expect(row.locator("td").nth(2)).to_contain_text("terminado antes de empezar")
        assert page.errors == [], page.errors  # type: ignore[attr-defined]
