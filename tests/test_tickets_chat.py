"""After hours: a resident reports a problem to the real bot, gets a ticket, and checks its status by chat.

Real components end to end: resident Socket.IO client → chat_server → Rasa (trained model) +
action server → `form_complete` → TicketService → Redis; status changes through the staff CLI.
Staffed hours are configured as "never" so the conversation happens after hours.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.support.clients import ResidentClient
from tests.support.images import JPEG
from tests.support.open311 import cli
from tests.support.servers import ChatServerProcess, RedisServer, quoted_prefix
from tests.support.tickets import ANSWERS, BUTTON_PICK

PREFIX = "t311chat:"


@pytest.fixture(scope="module")
async def server(server_factory: Callable[..., Any]) -> ChatServerProcess:
    return await server_factory(name="tickets-chat", CHAT311_HOURS__WEEKLY="{}",
                                CHAT311_REDIS__KEY_PREFIX=quoted_prefix(PREFIX))


async def file_report(client: ResidentClient, opening: str, language: str,
                      photo: str | None = None) -> tuple[dict[str, Any], str]:
    """Answer the bot's form until the ticket is filed (sending `photo`, an uploaded photo's URL, at the photo
    question); returns (ticket_created payload, confirmation text)."""
    replies = await client.turn(opening, language=language)
    for _ in range(12):
        if client.of("ticket_created"):
            break
        prompt = " ".join(r.get("text") or "" for r in replies[-1:]) if replies else ""
        answer = next((a for pattern, a in ANSWERS[language] if re.search(pattern, prompt)), None)
        if answer is None:  # "checking your request before filing it…": the ticket event may trail on a busy machine
            await client.wait_for("ticket_created", timeout=20)
            break
        if photo and re.search(r"(?i)(photo|foto)", prompt) and not re.search(r"(?i)submit|envío", prompt):
            replies = await client.turn("here it is", language=language, attachment={"type": "image", "url": photo})
            continue
        buttons = (replies[-1].get("quick_replies") or []) if replies else []
        # A list question comes with buttons: press the one whose title starts like our answer's key word.
        button = next((b for b in buttons if b["title"].lower().startswith(BUTTON_PICK[language].get(answer, "\0"))),
                      None)
        replies = await client.turn(button["payload"] if button else answer, language=language)
    created = await client.wait_for("ticket_created", timeout=20)
    confirmation = await client.wait_for("bot_uttered", lambda m: created["ticket_id"] in (m.get("text") or ""))
    return created, confirmation["text"]


async def open311_request(server: ChatServerProcess, ticket_id: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, \
            http.get(f"{server.url}/open311/v2/requests/{ticket_id}.json") as resp:
        assert resp.status == 200
        return dict((await resp.json())[0])


async def ask_status(client: ResidentClient, question: str, ticket_id: str, language: str) -> str:
    mark = len(client.events)
    await client.turn(question, language=language)
    reply = await client.wait_for(  # the bot's answer, not a status notice (sender "system")
        "bot_uttered", lambda m: m.get("sender") == "bot" and ticket_id in (m.get("text") or ""), after=mark)
    return str(reply["text"])


@pytest.mark.rasa
@pytest.mark.parametrize(("language", "opening", "status_question", "expect"), [
    ("en", "I want to report a pothole at 600 East 4th Street", "what's the status of {id}?",
     {"filed": "Your request number is", "service": "Pothole", "status": "open (work in progress)",
      "note": "Latest update: Crew scheduled for Tuesday.", "expected": "Expected to be done by",
      "closed": "closed (resolved)", "unknown": "couldn't find a request"}),
    ("es", "quiero reportar un bache en 1200 Beatties Ford Road", "¿cuál es el estado de mi solicitud {id}?",
     {"filed": "Su número de solicitud es", "service": "Bache", "status": "abierta (en proceso)",
      "note": "Última actualización: Crew scheduled for Tuesday.", "expected": "Fecha prevista de atención",
      "closed": "cerrada (resuelta)", "unknown": "No encontré ninguna solicitud"}),
])
async def test_after_hours_report_ticket_and_status_by_chat(
    server: ChatServerProcess, resident: Callable[..., Any], redis_server: RedisServer,
    redis_client: aioredis.Redis, language: str, opening: str, status_question: str, expect: dict[str, str],
) -> None:
    client: ResidentClient = await resident(server.url)
    await client.start_session()
    created, confirmation = await file_report(client, opening, language)
    ticket_id = created["ticket_id"]
    assert re.fullmatch(r"311-\d+", ticket_id)
    assert created["status_url"].endswith(f"/status/{ticket_id}")
    assert expect["filed"] in confirmation and expect["service"] in confirmation

    # The ticket is a real Open311 request, linked to the conversation, which is now `ticketed`.
    request = await open311_request(server, ticket_id)
    assert request["service_code"] == "POTHOLE" and request["status"] == "open"
    assert request["address"] and request["description"]
    raw = await redis_client.hgetall(f"{PREFIX}ticket:{ticket_id}")
    assert raw[b"source"] == b"chat" and raw[b"language"] == language.encode()
    assert b'"road_position": "lane"' in raw[b"attributes"]
    conv_id = raw[b"conversation_id"].decode()
    conv = await redis_client.hgetall(f"{PREFIX}conv:{conv_id}")
    assert conv[b"state"] == b"ticketed" and conv[b"ticket_id"] == ticket_id.encode()
    # The answers to the form's questions ("in the travel lane", "skip", "Submit") are answers, not questions
    # the bot failed to understand: no fallback in the reports, nothing in the content inbox.
    kinds = [(f[b"kind"].decode(), json.loads(f[b"data"]).get("label")) for _, f in
             await redis_client.xrange(f"{PREFIX}events") if f[b"conv"] == conv_id.encode()]
    assert ("bot_answered", "form_answer") in kinds and not [k for k, _ in kinds if k == "fallback"], kinds
    inbox = await redis_client.zrange(f"{PREFIX}training:inbox:open", 0, -1)
    assert not inbox, inbox

    # Asked before anything changed, the filer is told they get updates, not offered "Follow" for their own request
    mark = len(client.events)
    await ask_status(client, status_question.format(id=ticket_id), ticket_id, language)
    offer = await client.wait_for("bot_uttered", lambda m: m.get("sender") == "system" and ticket_id in (
        m.get("text") or "") and m.get("quick_replies"), after=mark)
    assert offer["quick_replies"][0]["payload"].startswith("/unfollow_ticket"), offer

    # Status by chat: open, with the latest note and the expected date, in the resident's language.
    out = await asyncio.to_thread(cli, redis_server, PREFIX, "tickets", "status", ticket_id, "in_progress",
                                  "--note", "Crew scheduled for Tuesday")  # the answer adds the full stop
    assert out.returncode == 0, out.stderr
    answer = await ask_status(client, status_question.format(id=ticket_id), ticket_id, language)
    assert expect["status"] in answer and expect["note"] in answer and expect["expected"] in answer, answer

    out = await asyncio.to_thread(cli, redis_server, PREFIX, "tickets", "status", ticket_id, "resolved")
    assert out.returncode == 0, out.stderr
    answer = await ask_status(client, status_question.format(id=ticket_id), ticket_id, language)
    assert expect["closed"] in answer and expect["expected"] not in answer, answer
    # Asked without a number in the conversation that filed it: that request, not "what is your number?".
    answer = await ask_status(client, "/check_request_status", ticket_id, language)
    assert expect["closed"] in answer, answer

    # An unknown number is said to be unknown, never silence.
    answer = await ask_status(client, status_question.format(id="311-9999991"), "311-9999991", language)
    assert expect["unknown"] in answer, answer


async def upload_photo(server: ChatServerProcess, session_id: str) -> str:
    form = aiohttp.FormData()
    form.add_field("session_id", session_id)
    form.add_field("file", JPEG, filename="photo.jpg", content_type="image/jpeg")
    async with aiohttp.ClientSession() as http, http.post(f"{server.url}/api/media", data=form) as resp:
        assert resp.status == 201
        return str((await resp.json())["media_url"])


@pytest.mark.rasa
async def test_a_photo_sent_about_something_else_is_not_the_reports_photo(
        server: ChatServerProcess, resident: Callable[..., Any]) -> None:
    """A parking-ticket picture sent with a question became a later pothole report's public photo (Open311
    media_url, the status page): only a photo given to the report counts."""
    client: ResidentClient = await resident(server.url)
    session = await client.start_session()
    parking = await upload_photo(server, session)
    await client.turn("how do i pay this parking ticket? pic attached", language="en",
                      attachment={"type": "image", "url": parking})
    created, _ = await file_report(client, "I want to report a pothole at 600 East 4th Street", "en")
    assert (await open311_request(server, created["ticket_id"]))["media_url"] is None
    # A photo sent at the report's photo question is its photo.
    other: ResidentClient = await resident(server.url)
    session = await other.start_session()
    pothole = await upload_photo(server, session)
    created, _ = await file_report(other, "I want to report a pothole at 1200 Beatties Ford Road", "en", photo=pothole)
    assert (await open311_request(server, created["ticket_id"]))["media_url"] == pothole


@pytest.mark.rasa
async def test_a_photo_sent_after_filing_is_added_when_the_resident_says_so(
        server: ChatServerProcess, resident: Callable[..., Any]) -> None:
    """The photo and "can I add a photo?" got "Sorry, I didn't understand" once the report was filed (probe N)."""
    client: ResidentClient = await resident(server.url)
    session = await client.start_session()
    created, _ = await file_report(client, "I want to report a pothole at 700 East 4th Street", "en")
    ticket_id = created["ticket_id"]
    mark = len(client.events)
    await client.say("can I add a photo?", language="en")
    await client.wait_for("bot_uttered", lambda m: f"send the photo here, and I will ask before adding it to request "
                                                   f"{ticket_id}" in (m.get("text") or ""), after=mark)
    photo = await upload_photo(server, session)
    mark = len(client.events)
    await client.say("", language="en", attachment={"type": "image", "url": photo})
    offer = await client.wait_for("bot_uttered", lambda m: ticket_id in (m.get("text") or ""), after=mark)
    assert "public status page" in offer["text"]
    assert (await open311_request(server, ticket_id))["media_url"] is None  # nothing until the resident says so
    add = next(q for q in offer["quick_replies"] if q["title"] == "Add it")
    mark = len(client.events)
    await client.say(add["payload"], language="en")
    await client.wait_for("bot_uttered", lambda m: "now part of request" in (m.get("text") or ""), after=mark)
    assert (await open311_request(server, ticket_id))["media_url"] == photo
    # A second photo is not offered: the request has one.
    second = await upload_photo(server, session)
    replies = await client.turn("here's another one", language="en", attachment={"type": "image", "url": second})
    assert not any("Add this photo" in (r.get("text") or "") for r in replies)
    assert (await open311_request(server, ticket_id))["media_url"] == photo


@pytest.mark.rasa
@pytest.mark.parametrize(("language", "question", "expected"), [
    ("en", "what's the status of {id}?", ["Request {id} (Water leak)", "open (reviewed by the department)",
                                           "Latest update: Crew assigned.", "Expected to be done by"]),
    ("es", "¿cuál es el estado de mi solicitud {id}?", ["La solicitud {id} (Fuga de agua)",
                                                         "abierta (revisada por el departamento)",
                                                         "Última actualización: Crew assigned.",
                                                         "Fecha prevista de atención"]),
])
async def test_status_lookup_by_chat_for_an_api_ticket(
    server: ChatServerProcess, resident: Callable[..., Any], redis_server: RedisServer, language: str,
    question: str, expected: list[str],
) -> None:
    from tests.support.open311 import new_api_key

    _, key = await asyncio.to_thread(new_api_key, redis_server, PREFIX)
    async with aiohttp.ClientSession() as http, http.post(f"{server.url}/open311/v2/requests.json", data={
        "api_key": key, "service_code": "WATER_LEAK", "address_string": "5th St & Tryon St",
        "attribute[leak_location]": "hydrant", "attribute[severity]": "gushing"}) as resp:
        assert resp.status == 200
        ticket_id = (await resp.json())[0]["service_request_id"]
    out = await asyncio.to_thread(cli, redis_server, PREFIX, "tickets", "status", ticket_id, "acknowledged",
                                  "--note", "Crew assigned.")
    assert out.returncode == 0, out.stderr
    client: ResidentClient = await resident(server.url)
    await client.start_session()
    answer = await ask_status(client, question.format(id=ticket_id), ticket_id, language)
    for fragment in expected:
        assert fragment.format(id=ticket_id) in answer, answer
    # "when will it be fixed?" next is about the same request: it asked for the number again (probe N)
    again = await ask_status(client, "when will it be fixed?" if language == "en" else "¿y cuándo la van a arreglar?",
                             ticket_id, language)
    assert expected[0].format(id=ticket_id) in again, again
