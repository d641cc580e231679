"""The resident's status page in Chromium (en/es, axe, keyboard, 404) and the signed status webhook."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from chat_server.channels.api import sign
from chat_server.status.followers import FollowerKind
from chat_server.status.page import parse_contact
from chat_server.status.page_html import StatusView, status_page
from tests.support.browser import axe_scan, chromium, new_page
from tests.support.channel_standins import SmtpCapture, bare_server
from tests.support.email import email_env
from tests.support.open311 import cli, new_api_key

SECRET = "whsec_status_tests"


@pytest.fixture(scope="module")
async def server(redis_server: Any) -> Any:
    relay = await SmtpCapture().start()  # updates by e-mail only: texting is off
    srv = await bare_server(redis_server.url, "status-page", CHAT311_STATUS__WEBHOOK_SECRET=SECRET, **email_env(relay))
    yield srv
    await srv.stop()
    await relay.stop()


async def new_ticket(server: Any, redis_server: Any, **extra: str | None) -> str:
    """A pothole filed through Open311; `extra` changes its fields (None leaves one out)."""
    _, key = await asyncio.to_thread(new_api_key, redis_server, server.prefix)
    fields = {"api_key": key, "service_code": "POTHOLE", "address_string": "600 E 4th St",
              "attribute[road_position]": "lane", "description": "Deep hole, call me at 704-555-0188",
              "email": "secret@example.org", "media_url": f"{server.url}/media/none.jpg", **extra}
    async with aiohttp.ClientSession() as http, http.post(f"{server.url}/open311/v2/requests.json", data={
            k: v for k, v in fields.items() if v is not None}) as resp:
        return str((await resp.json())[0]["service_request_id"])


@pytest.mark.browser
async def test_status_page_en_es_accessible_and_private(server: Any, redis_server: Any) -> None:
    ticket_id = await new_ticket(server, redis_server)
    out = await asyncio.to_thread(cli, redis_server, server.prefix, "tickets", "status", ticket_id, "in_progress",
                                  "--note", "Crew <b>scheduled</b> for Tuesday")
    assert out.returncode == 0, out.stderr
    async with chromium() as browser:
        page = await new_page(browser, viewport={"width": 390, "height": 844})  # a phone
        response = await page.goto(f"{server.url}/status/{ticket_id}")
        assert response.status == 200
        assert await page.get_attribute("html", "lang") == "en"
        assert await page.inner_text("h1") == f"Request {ticket_id}"
        assert await page.inner_text(".service") == "Pothole"
        assert "open (work in progress)" in await page.inner_text(".status")
        notes = await page.locator(".note").all_inner_texts()
        assert "Crew <b>scheduled</b> for Tuesday" in notes  # shown as text, never as markup
        assert await page.locator("main b").count() == 0
        assert await page.locator(".timeline li").count() == 2
        assert await page.locator(".photos img").count() == 1
        assert await page.get_attribute(".photos img", "src") == "/media/none.jpg"  # any host name the page has
        body = await page.inner_text("body")
        assert "secret@example.org" not in body and "704-555-0188" not in body  # no personal data
        assert await page.locator("script").count() == 0
        assert not await axe_scan(page, "html")
        # Keyboard: the language switch and the follow form are reachable with Tab.
        reached = []
        for _ in range(6):
            await page.keyboard.press("Tab")
            reached.append(await page.evaluate("document.activeElement.id || document.activeElement.className"))
        assert "switch" in reached and "contact" in reached
        # Texting is off here: the form offers e-mail only (it promised texts; probe V).
        assert "e-mail you" in await page.inner_text("#contact-help") and "text" not in await page.inner_text(
            "#contact-help")
        assert await page.inner_text("label[for=contact]") == "E-mail address"
        await page.focus("#contact")
        await page.keyboard.type("not a contact")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#contact-error")
        assert "e-mail address" in await page.inner_text("#contact-error")
        assert await page.get_attribute("#contact", "aria-invalid") == "true"
        assert not await axe_scan(page, "html")

        await page.click("a.switch")
        await page.wait_for_url("**lang=es")
        assert await page.get_attribute("html", "lang") == "es"
        assert await page.inner_text(".service") == "Bache"
        assert "abierta (en proceso)" in await page.inner_text(".status")
        assert not await axe_scan(page, "html")

        missing = await page.goto(f"{server.url}/status/311-9999999")
        assert missing.status == 404
        assert "Request not found" in await page.inner_text("body")
        assert await page.locator("section[lang=es] h1").inner_text() == "Solicitud no encontrada"
        assert not await axe_scan(page, "html")
        # No CSP violation or script error (the 400/404 answers and the made-up photo URL log loads).
        assert not [e for e in page.errors if "Failed to load resource" not in e], page.errors


def signed(body: bytes, secret: str = SECRET, ts: int | None = None) -> dict[str, str]:
    stamp = str(ts if ts is not None else int(time.time()))
    return {"Content-Type": "application/json", "X-Chat311-Timestamp": stamp,
            "X-Chat311-Signature": sign(secret, stamp, body)}


async def history(redis_server: Any, server: Any, ticket_id: str) -> list[bytes]:
    client = redis_server.client()
    try:
        return list(await client.lrange(f"{server.prefix}ticket:{ticket_id}:history", 0, -1))
    finally:
        await client.aclose()


async def test_a_request_filed_at_a_shared_location_shows_where(server: Any, redis_server: Any) -> None:
    """A request filed with coordinates and no address had no location on its page (probe I)."""
    _, key = await asyncio.to_thread(new_api_key, redis_server, server.prefix)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/open311/v2/requests.json", data={
                "api_key": key, "service_code": "POTHOLE", "lat": "35.2271", "long": "-80.8431",
                "attribute[road_position]": "lane"}) as resp:
            ticket_id = (await resp.json())[0]["service_request_id"]
        async with http.get(f"{server.url}/status/{ticket_id}") as resp:
            page = await resp.text()
    assert "Location" in page and "35.22710, -80.84310" in page


async def test_a_private_requests_page_says_who_gets_its_updates_and_offers_no_form(server: Any,
                                                                                  redis_server: Any) -> None:
    """A private (GENERAL) request's page offered "Get updates", then answered 403 (probe AJ)."""
    ticket_id = await new_ticket(server, redis_server, service_code="GENERAL", address_string=None, media_url=None,
                                 description="please call me about my bill", **{"attribute[road_position]": None})
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/status/{ticket_id}") as resp:
            page = await resp.text()
        async with http.post(f"{server.url}/status/{ticket_id}/follow",
                             data={"contact": "x@example.org", "lang": "en"}) as resp:
            refused, refused_page = resp.status, await resp.text()
    for shown in (page, refused_page):
        assert 'class="follow"' not in shown and "go only to the resident who made it" in shown
    assert refused == 403
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/status/{await new_ticket(server, redis_server)}"
                                                          ) as resp:
        assert 'class="follow"' in await resp.text()  # a public request's page offers it


async def test_webhook_refuses_bad_input_and_applies_each_change_once(server: Any, redis_server: Any) -> None:
    ticket_id = await new_ticket(server, redis_server)
    url = f"{server.url}/status/webhook"
    change = json.dumps({"service_request_id": ticket_id, "status": "resolved", "status_notes": "Fixed",
                         "change_id": "wo-881"}).encode()
    async with aiohttp.ClientSession() as http:
        async def post(body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
            async with http.post(url, data=body, headers=headers) as resp:
                return resp.status, await resp.json()

        refused = [
            (change, {"Content-Type": "application/json"}, 401, "bad_signature"),
            (change, signed(change, "whsec_wrong"), 401, "bad_signature"),
            (change, signed(change, ts=int(time.time()) - 3600), 401, "bad_signature"),
            (b"{not json", signed(b"{not json"), 400, "malformed"),
            (json.dumps({"service_request_id": ticket_id, "status": "done"}).encode(), None, 400, "invalid"),
            (json.dumps({"service_request_id": "311-9999999", "status": "closed"}).encode(), None, 404, "not_found"),
        ]
        for body, headers, status, code in refused:
            got, answer = await post(body, headers or signed(body))
            assert (got, answer["error"]["code"]) == (status, code), (body, answer)
        assert len(await history(redis_server, server, ticket_id)) == 1  # nothing changed

        status, answer = await post(change, signed(change))
        assert status == 200 and answer == {"service_request_id": ticket_id, "status": "closed",
                                            "sub_status": "resolved", "applied": True}
        status, answer = await post(change, signed(change))  # the system retried its push
        assert status == 200 and answer["applied"] is False
        # the same change_id for another change would be lost behind "not applied": refused, nothing recorded
        other = json.dumps({"service_request_id": ticket_id, "status": "in_progress", "status_notes": "Crew sent",
                            "change_id": "wo-881"}).encode()
        status, answer = await post(other, signed(other))
        assert (status, answer["error"]["code"]) == (409, "conflict"), answer
        assert "change_id" in answer["error"]["message"]
        assert len(await history(redis_server, server, ticket_id)) == 2
        entries = [json.loads(e) for e in await history(redis_server, server, ticket_id)]
        assert [(e["sub_status"], e["note"]) for e in entries] == [("submitted", None), ("resolved", "Fixed")]
        assert entries[-1]["by"] == "webhook:webhook"

        # Without a change_id: a captured request sent again records nothing (probe U); a new one does.
        note = json.dumps({"service_request_id": ticket_id, "status": "resolved",
                           "status_notes": "Crew checked"}).encode()
        captured = signed(note)
        assert (await post(note, captured))[1]["applied"] is True
        assert (await post(note, captured))[1]["applied"] is False
        # Signed anew, the same status and note are still a repeat within the hour: the resident was told twice
        # (probe AB). Another note is news.
        assert (await post(note, signed(note, ts=int(time.time()) + 1)))[1]["applied"] is False
        notes = [json.loads(e)["note"] for e in await history(redis_server, server, ticket_id)]
        assert notes.count("Crew checked") == 1

        # Dated changes delivered out of order: the older one, arriving late, changes nothing (it reopened a
        # resolved request and told its resident so, probe AB); a date without its UTC offset is refused.
        def dated(status: str, note_text: str, when: str, change_id: str) -> bytes:
            return json.dumps({"service_request_id": ticket_id, "status": status, "status_notes": note_text,
                               "change_id": change_id, "updated_datetime": when}).encode()

        done = dated("resolved", "Pothole patched", "2026-12-07T10:00:00-05:00", "wo-10")
        assert (await post(done, signed(done)))[1]["applied"] is True
        late = dated("in_progress", "Crew scheduled for Tuesday", "2026-12-06T09:00:00-05:00", "wo-9")
        status, answer = await post(late, signed(late))
        assert status == 200 and answer["applied"] is False and answer["sub_status"] == "resolved", answer
        naive = dated("in_progress", "Crew scheduled", "2026-12-08T09:00:00", "wo-11")
        status, answer = await post(naive, signed(naive))
        assert status == 400 and answer["error"]["code"] == "malformed" and "offset" in answer["error"]["message"]
        reopened = dated("in_progress", "Patch failed, crew returning", "2026-12-08T09:00:00Z", "wo-12")
        assert (await post(reopened, signed(reopened)))[1]["applied"] is True  # a newer one still applies

        async with http.post(f"{server.url}/api/tickets/{ticket_id}/status", json={"status": "open"}) as resp:
            assert resp.status == 401  # the console action needs a signed-in agent


async def test_a_note_for_the_resident_is_told_and_masks_personal_data_an_internal_one_stays_inside(
        server: Any, redis_server: Any, resident: Any) -> None:
    ticket_id = await new_ticket(server, redis_server, first_name="Rob", last_name="Baker")
    web = await resident(server.url)
    await web.start_session()
    assert (await web.say(f'/follow_ticket{{"ticket_id": "{ticket_id}"}}'))["ok"]
    await web.wait_for("bot_uttered", lambda d: ticket_id in d.get("text", ""))

    def note(*args: str) -> None:
        out = cli(redis_server, server.prefix, "tickets", "note", ticket_id, *args)
        assert out.returncode == 0, out.stderr

    async def updated() -> str:
        async with aiohttp.ClientSession() as http, \
                http.get(f"{server.url}/open311/v2/requests/{ticket_id}.json") as resp:
            return str((await resp.json())[0]["updated_datetime"])

    before = await updated()
    await asyncio.to_thread(note, "Rob Baker prefers calls after 5pm", "--internal")
    assert await updated() == before  # a staff note is no public update
    await asyncio.to_thread(note, "Called Rob Baker back at 704-555-0111 / rob@example.com; crew set for Tuesday")
    # Notices go out in order: were the internal note told, its notice would be the first.
    told = (await web.wait_for("bot_uttered", lambda d: "Update on 311 request" in d.get("text", "")))["text"]
    assert "crew set for Tuesday. Details:" in told, told
    # The same note again (run twice, a retry): not applied, said so, and the resident is not told twice (probe AB).
    again = await asyncio.to_thread(cli, redis_server, server.prefix, "tickets", "note", ticket_id,
                                    "Called Rob Baker back at 704-555-0111 / rob@example.com; crew set for Tuesday")
    assert again.returncode == 0 and "not applied" in again.stdout, again.stdout
    notes = [json.loads(e).get("note") or "" for e in await history(redis_server, server, ticket_id)]
    assert sum("crew set for Tuesday" in n for n in notes) == 1, notes
    out = await asyncio.to_thread(cli, redis_server, server.prefix, "apikeys", "add", "staff", "--scope",
                                  "read_private")
    private_key = out.stdout.split("api_key: ")[1].split()[0]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/open311/v2/requests/{ticket_id}.json") as resp:
            [public] = await resp.json()
        async with http.get(f"{server.url}/status/{ticket_id}") as resp:
            page = await resp.text()
        async with http.get(f"{server.url}/open311/v2/requests/{ticket_id}.json",
                            params={"api_key": private_key}) as resp:
            [private] = await resp.json()
    for shown in (told, public["status_notes"], page):
        assert "Baker" not in shown and "555-0111" not in shown and "rob@example.com" not in shown, shown
        assert "after 5pm" not in shown
    assert "crew set for Tuesday" in public["status_notes"] and "crew set for Tuesday" in page
    assert "Rob Baker prefers calls after 5pm" in private["staff_notes"]


def test_the_follow_form_offers_only_what_can_be_sent_and_takes_us_numbers() -> None:
    """Probe V: the page promised texts with texting off, and "+44 20 7946 0958" was told texts were off."""
    view = StatusView("311-1000001", "Pothole", "open", "open", 0.0, None, None, None, "600 E 4th St")
    both = status_page(view, "en", ZoneInfo("America/New_York"))
    assert "text or e-mail you" in both and 'inputmode="email"' in both
    texts_only = status_page(view, "es", ZoneInfo("America/New_York"), follow_by=frozenset({"sms"}))
    assert "mensaje de texto" in texts_only and "correo" not in texts_only and 'inputmode="tel"' in texts_only
    assert 'class="follow"' not in status_page(view, "en", ZoneInfo("America/New_York"), follow_by=frozenset())
    assert parse_contact("(704) 555-0177") == (FollowerKind.SMS, "+17045550177")
    assert parse_contact("+1 704 555 0177") == (FollowerKind.SMS, "+17045550177")
    assert parse_contact("+44 20 7946 0958") is None and parse_contact("+52 55 1234 5678") is None
    assert parse_contact("ann@example.org") == (FollowerKind.EMAIL, "ann@example.org")
