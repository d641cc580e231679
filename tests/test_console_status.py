"""The agent console's status action in Chromium (issue 17 item 2): an agent changes a ticket's
status with a note for the resident, and the resident's status page shows it.

A real chat311 process (no bot needed), a real agent account and console login, a ticket filed
through Open311. Bad input first: a malformed number and an unknown ticket are refused with a clear
message in an alert region, the number field marked invalid and focused, and nothing changes.
The form is used from the keyboard and scanned with axe.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.support.agents import PASSWORD, make_agent
from tests.support.browser import axe_scan, chromium, new_page
from tests.support.channel_standins import bare_server
from tests.support.open311 import new_api_key

pytestmark = [pytest.mark.browser]
NOTE = "Our crew filled the hole on Tuesday."


async def test_agent_changes_status_with_a_note_the_status_page_shows(redis_server: Any, redis_client: Any) -> None:
    from playwright.async_api import expect

    server = await bare_server(redis_server.url, "console-status")
    prefix = server.prefix
    try:
        await make_agent(redis_server.url, prefix, "ann", name="Ann")
        _, key = await asyncio.to_thread(new_api_key, redis_server, prefix)
        async with aiohttp.ClientSession() as http, http.post(f"{server.url}/open311/v2/requests.json", data={
                "api_key": key, "service_code": "POTHOLE", "address_string": "600 E 4th St",
                "attribute[road_position]": "lane"}) as resp:
            ticket_id = str((await resp.json())[0]["service_request_id"])
        history_key = f"{prefix}ticket:{ticket_id}:history"
        before = await redis_client.llen(history_key)

        async with chromium() as browser:
            page = await new_page(browser, viewport={"width": 1400, "height": 900})
            await page.goto(f"{server.url}/console")
            await page.fill("#username", "ann")
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{server.url}/console")
            await expect(page.locator("#conn")).to_have_text("connected", timeout=15_000)

            form = page.locator("#ticket-status")
            await expect(form.get_by_label("Ticket number")).to_be_visible()
            await expect(form.get_by_label("New status")).to_be_visible()
            await expect(form.get_by_label("Note for the resident (optional)")).to_be_visible()
            error, done = page.locator("#ts-error"), page.locator("#ts-result")
            assert await error.get_attribute("role") == "alert" and await done.get_attribute("role") == "status"

            # A malformed number: refused in the page, the field marked and focused.
            await page.fill("#ts-id", "pothole")
            await page.click("#ts-submit")
            await expect(error).to_have_text("Enter a ticket number like 311-1000001.")
            await expect(page.locator("#ts-id")).to_have_attribute("aria-invalid", "true")
            await expect(page.locator("#ts-id")).to_be_focused()

            # An unknown ticket: the server's 404 is shown; nothing stored changes.
            await page.fill("#ts-id", "311-9999999")
            await page.press("#ts-id", "Enter")  # the form submits from the keyboard
            await expect(error).to_contain_text("No ticket 311-9999999")
            await expect(page.locator("#ts-id")).to_be_focused()
            assert await redis_client.llen(history_key) == before

            # The real change, from the keyboard: number, Tab to the status, Tab to the note, Tab + Enter.
            await page.fill("#ts-id", "")
            await page.focus("#ts-id")
            await page.keyboard.type(ticket_id.lower())  # typed in lower case: still found
            await page.keyboard.press("Tab")
            await expect(page.locator("#ts-status")).to_be_focused()
            await page.select_option("#ts-status", "resolved")
            await page.keyboard.press("Tab")
            await expect(page.locator("#ts-note")).to_be_focused()
            await page.keyboard.type(NOTE)
            await page.keyboard.press("Tab")
            await expect(page.locator("#ts-submit")).to_be_focused()
            await page.keyboard.press("Enter")
            await expect(done).to_have_text(f"{ticket_id} is now closed: resolved. Everyone following it will be told.")
            await expect(error).to_have_text("")
            await expect(page.locator("#ts-id")).to_have_attribute("aria-invalid", "false")
            await expect(page.locator("#ts-note")).to_have_value("")
            assert await redis_client.llen(history_key) == before + 1
            ticket = await redis_client.hgetall(f"{prefix}ticket:{ticket_id}")
            assert (ticket[b"status"], ticket[b"sub_status"], ticket[b"status_notes"]) == (
                b"closed", b"resolved", NOTE.encode())

            # The same status again without a note: nothing to change, said so.
            await page.click("#ts-submit")
            await expect(done).to_have_text(f"{ticket_id} already had this status; nothing changed.")
            assert await redis_client.llen(history_key) == before + 1

            violations = await axe_scan(page, "#ticket-status")
            assert violations == [], [(v["id"], [n["target"] for n in v["nodes"]]) for v in violations]
            # fetch() logs the deliberate 404 as a console error; nothing else may fail.
            assert [e for e in page.errors if "404" not in e] == []

            # The resident's status page shows the new status and the agent's note.
            resident = await new_page(browser, viewport={"width": 390, "height": 844})
            await resident.goto(f"{server.url}/status/{ticket_id}")
            body = resident.locator("body")
            await expect(body).to_contain_text(NOTE)
            await expect(body).to_contain_text("resolved")
    finally:
        await server.stop()
