"""Duplicate reports: the pure rule (distance, normalised address, window, status), the Redis index,
and two residents reporting the same pothole through the real bot (follow, add details, file anyway)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from chat_server.tickets.duplicate_flow import ADD, DROP, FILE, FOLLOW, choice
from chat_server.tickets.duplicates import Report, best_match, haversine_m, matches, normalise_address
from chat_server.tickets.open311 import public_history
from chat_server.tickets.service import others_phrase
from chat_server.tickets.store import CLOSED, StatusEntry, Ticket, TicketStore
from tests.support.clients import ResidentClient
from tests.support.servers import ChatServerProcess, RedisServer, quoted_prefix
from tests.support.tickets import ANSWERS, BUTTON_PICK, transcript

DAY = 86400.0


@pytest.mark.parametrize(("a", "b"), [
    ("600 East 4th Street", "600 E. 4th St, Charlotte, NC 28202"),
    ("1200 BEATTIES FORD ROAD", "1200 Beatties Ford Rd."),
    ("Tryon Street and 5th Avenue", "tryon st & fifth ave"),
    ("100 North Tryon St", "100 N Tryon Street, Charlotte"),
    # the bot's Spanish forms are the English ones
    ("cuadra 2400 de calle Rozzelles Ferry", "2400 block of Rozzelles Ferry Rd"),
    ("1423 calle Oak", "1423 Oak St"), ("calle Oak y 5th", "Oak St and 5th St"),
    ("2400 de Rozzelles Ferry Rd", "2400 Rozzelles Ferry Rd"),  # "frente al 2400 de …" filed twice (probe R)
])
def test_same_address_written_differently(a: str, b: str) -> None:
    assert normalise_address(a) == normalise_address(b)


def test_different_addresses_stay_different() -> None:
    # another town's Main St (probe AB: Davidson's was offered as Huntersville's)
    assert normalise_address("100 N Main St, Davidson, NC 28036") != normalise_address(
        "100 N Main St, Huntersville, NC 28078")
    assert normalise_address("100 N Main St, Davidson, NC 28036") == normalise_address(
        "100 North Main Street, Davidson")
    assert normalise_address("600 E 4th St") != normalise_address("600 W 4th St")
    assert normalise_address("600 E 4th St") != normalise_address("601 E 4th St")
    assert normalise_address("") == normalise_address(None) == ""


def test_haversine() -> None:
    assert haversine_m(35.2271, -80.8431, 35.2271, -80.8431) == 0
    # 0.0004° of latitude ≈ 44.5 m; Charlotte to Raleigh ≈ 210 km.
    assert haversine_m(35.2271, -80.8431, 35.2275, -80.8431) == pytest.approx(44.5, abs=0.5)
    assert haversine_m(35.2271, -80.8431, 35.7796, -78.6382) == pytest.approx(209_500, rel=0.01)


def test_match_rule() -> None:
    now = time.time()
    ticket = Ticket(id="311-1", service_code="POTHOLE", lat=35.2271, long=-80.8431, address="600 E 4th St",
                    requested_at=now - 2 * DAY)
    near = Report("POTHOLE", 35.2275, -80.8431)
    assert matches(near, ticket, radius_m=50, since=now - 30 * DAY)
    assert not matches(Report("POTHOLE", 35.2276, -80.8431), ticket, radius_m=50, since=now - 30 * DAY)  # 55 m
    assert matches(Report("POTHOLE", address="600 East 4th Street"), ticket, radius_m=50, since=now - 30 * DAY)
    assert not matches(Report("GRAFFITI", 35.2271, -80.8431), ticket, radius_m=50, since=now - 30 * DAY)
    assert not matches(near, ticket, radius_m=50, since=now - DAY)  # older than the window
    closed = Ticket(**{**ticket.__dict__, "status": CLOSED})
    assert not matches(near, closed, radius_m=50, since=now - 30 * DAY)
    farther = Ticket(**{**ticket.__dict__, "id": "311-2", "lat": 35.2273})
    assert best_match(near, [ticket, farther], radius_m=50, since=now - 30 * DAY) is farther
    assert best_match(Report("POTHOLE", 36.0, -80.0), [ticket], radius_m=50, since=0) is None
    # a street alone is miles long: two reports "on Tryon St" are not taken for the same problem
    street = Ticket(**{**ticket.__dict__, "id": "311-3", "lat": None, "long": None, "address": "Tryon St"})
    assert not matches(Report("POTHOLE", address="tryon street"), street, radius_m=50, since=now - 30 * DAY)
    crossing = Ticket(**{**street.__dict__, "address": "Tryon St and 5th St"})
    assert matches(Report("POTHOLE", address="tryon st & 5th st"), crossing, radius_m=50, since=now - 30 * DAY)


async def test_index_finds_near_and_same_address_and_forgets_closed(redis_server: RedisServer) -> None:
    redis = aioredis.from_url(redis_server.url)
    store = TicketStore(redis, f"tdup{time.time_ns()}:")
    try:
        old = Ticket(id="", service_code="POTHOLE", lat=35.2271, long=-80.8431, requested_at=time.time() - 40 * DAY)
        old, _ = await store.create(old)
        await store.index_location(old, "", 30 * DAY)
        a, _ = await store.create(Ticket(id="", service_code="POTHOLE", lat=35.2272, long=-80.8431))
        await store.index_location(a, "", 30 * DAY)  # trims `old`, beyond the window, from the GEO set
        b, _ = await store.create(Ticket(id="", service_code="POTHOLE", address="600 E 4th St"))
        await store.index_location(b, normalise_address(b.address), 30 * DAY)
        assert [t.id for t in await store.near("POTHOLE", 35.2271, -80.8431, "", 50)] == [a.id]
        assert await store.near("POTHOLE", 35.3, -80.8431, "", 50) == []
        assert [t.id for t in await store.near("POTHOLE", None, None, normalise_address("600 East 4th Street"),
                                              50)] == [b.id]
        assert await store.near("GRAFFITI", 35.2271, -80.8431, normalise_address("600 E 4th St"), 50) == []
        await store.record_status(a, StatusEntry(time.time(), CLOSED, "resolved"))
        assert await store.near("POTHOLE", 35.2271, -80.8431, "", 50) == []
    finally:
        await redis.aclose()


@pytest.mark.parametrize(("said", "expected"), [
    ("/duplicate_follow", FOLLOW), ("Follow it!", FOLLOW), ("seguir", FOLLOW), ("/duplicate_add", ADD),
    ("add my details", ADD), ("agregar", ADD), ("/duplicate_file", FILE), ("file anyway", FILE),
    ("registrar otro", FILE), ("cancelar", DROP), ("No, thanks.", DROP), ("/duplicate_drop", DROP),
    ("what day is trash pickup?", None), ("", None),
    # the buttons' titles, as a client that sends titles sends them
    ("Agregar mis detalles", ADD), ("Registrar de todos modos", FILE), ("No registrar", DROP), ("Seguirlo", FOLLOW),
])
def test_duplicate_choice(said: str, expected: str | None) -> None:
    assert choice(said) == expected


def test_public_history_leaves_out_staff_only_notes_that_changed_nothing() -> None:
    filed = StatusEntry(1.0, "open", "submitted", None, "chat")
    added = StatusEntry(2.0, "open", "submitted", "Also reported by a resident in chat: deep", "resident", public=False)
    started = StatusEntry(3.0, "open", "in_progress", "Crew assigned", "staff")
    private_move = StatusEntry(4.0, "closed", "resolved", "internal: patched", "staff", public=False)
    assert public_history([filed, added, started, private_move]) == [filed, started, private_move]
    assert public_history([]) == []


@pytest.mark.parametrize(("count", "language", "words"), [
    (1, "en", "1 other resident"), (3, "en", "3 other residents"),
    (1, "es", "1 residente más"), (2, "es", "2 residentes más")])
def test_how_many_others_reported_it(count: int, language: str, words: str) -> None:
    assert others_phrase(count, language) == words


# --------------------------------------------------------------------------- two residents, real stack
PREFIX = "t311dup:"


@pytest.fixture(scope="module")
async def server(server_factory: Callable[..., Any]) -> ChatServerProcess:
    # Test residents answer a ten-step form in a few seconds, from one address: above the flood limits.
    return await server_factory(name="tickets-dup", CHAT311_HOURS__WEEKLY="{}",
                                CHAT311_REDIS__KEY_PREFIX=quoted_prefix(PREFIX), CHAT311_LIMITS__SESSION_MESSAGES="100",
                                CHAT311_LIMITS__IP_MESSAGES="200")


async def report_until(client: ResidentClient, opening: str, done: Callable[[ResidentClient], Any],
                       language: str = "en", address: str | None = None) -> Any:
    """Answer the bot's pothole form (at `address`, if given) until `done(client)` returns something."""
    answers = ANSWERS[language]
    if address is not None:  # in place of the generic where/location answer ("in the road?" stays before it)
        answers = [(pattern, address if "location" in pattern else said) for pattern, said in answers]

    async def turn(said: str) -> list[dict[str, Any]]:
        mark = len(client.events)
        replies = await client.turn(said, language=language)
        if not replies:  # typing-off goes out just before the messages; on a busy machine they lag
            replies = [await client.wait_for("bot_uttered", after=mark, timeout=30)]
        return replies

    replies = await turn(opening)
    for _ in range(12):
        if (result := done(client)):
            return result
        prompt = " ".join(r.get("text") or "" for r in replies[-1:]) if replies else ""
        answer = next((a for pattern, a in answers if re.search(pattern, prompt)), None)
        if answer is None:  # the form is done ("checking your request before filing it…"): what follows may trail
            await client.wait_for("bot_uttered", lambda m: bool(done(client)), after=0, timeout=20)
            break
        buttons = (replies[-1].get("quick_replies") or []) if replies else []
        button = next((b for b in buttons if b["title"].lower().startswith(BUTTON_PICK[language].get(answer, "\0"))),
                      None)
        replies = await turn(button["payload"] if button else answer)
    result = done(client)
    assert result, transcript(client)
    return result


def duplicate_question(client: ResidentClient) -> dict[str, Any] | None:
    return next((m for m in client.of("bot_uttered") if "already reported as" in (m.get("text") or "")), None)


def ticket_created(client: ResidentClient) -> dict[str, Any] | None:
    return next(iter(client.of("ticket_created")), None)


@pytest.mark.rasa
async def test_two_residents_report_the_same_pothole(
        server: ChatServerProcess, resident: Callable[..., Any], redis_client: aioredis.Redis) -> None:
    first: ResidentClient = await resident(server.url)
    await first.start_session()
    created = await report_until(first, "I want to report a pothole", ticket_created)
    tid = created["ticket_id"]

    # A second resident, same pothole: told it is already reported, with the number, date and status.
    second: ResidentClient = await resident(server.url)
    await second.start_session()
    question = await report_until(second, "there is a pothole I need to report", duplicate_question)
    assert tid in question["text"] and "status open (received)" in question["text"], question["text"]
    assert question["text"].startswith("Before I file it:")  # it follows "I'm checking your request before filing it…"
    # not "I'm filing your pothole request now…" and at once "Before I file it" (probe R)
    assert not [m for m in second.of("bot_uttered") if "I'm filing" in (m.get("text") or "")], transcript(second)
    assert re.search(r"reported on \w+ \d{1,2}, \d{4}", question["text"])
    # where the other report is, so a resident can tell another town's "1 Main St" apart (probe AB)
    assert re.search(r"\(Pothole at [^)]*\d", question["text"]), question["text"]
    assert [q["payload"] for q in question["quick_replies"]] == ["/duplicate_follow", "/duplicate_add",
                                                                 "/duplicate_file", "/duplicate_drop"]
    assert not second.of("ticket_created")
    await second.say("/duplicate_add")  # answered by the server, not the bot
    await second.wait_for("bot_uttered", lambda m: f"added to {tid}" in (m.get("text") or ""))
    history = [json.loads(e) for e in await redis_client.lrange(f"{PREFIX}ticket:{tid}:history", 0, -1)]
    # Their words are a staff-only note: made public, they read as the city's own update.
    assert not history[-1]["public"] and "Deep pothole" in history[-1]["note"]
    assert history[-1]["by"] == "resident"
    followers = await redis_client.hgetall(f"{PREFIX}ticket:{tid}:followers")
    follower = json.loads(next(iter(followers.values())))
    assert follower["kind"] == "conversation" and follower["language"] == "en" and follower["address"]
    assert not second.of("ticket_created")

    # A third resident chooses to follow; a fourth files anyway and gets a new number.
    third: ResidentClient = await resident(server.url)
    await third.start_session()
    await report_until(third, "I want to report a pothole", duplicate_question)
    await third.say("follow it")
    said = await third.wait_for("bot_uttered", lambda m: f"following {tid}" in (m.get("text") or ""))
    # the widget shows the followed request's status link as for a request of one's own, also on replay
    followed = await third.wait_for("ticket_followed")
    assert followed["ticket_id"] == tid and followed["status_url"].endswith(f"/status/{tid}")
    assert said["custom"] == {"event": "ticket_followed", **followed}
    assert len(await redis_client.hgetall(f"{PREFIX}ticket:{tid}:followers")) == 2
    assert await redis_client.hget(f"{PREFIX}ticket:{tid}", "also_reported") == b"2"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/open311/v2/requests/{tid}.json") as resp:
            public = (await resp.json())[0]
        async with http.get(f"{server.url}/status/{tid}?lang=es") as resp:
            page = await resp.text()
    assert public["status_notes"] is None and "also_reported" not in public
    assert "También reportada por" in page and "2 residentes más" in page
    assert "Also reported by a resident" not in page and page.count("<li><time") == 1  # no empty history entries
    fourth: ResidentClient = await resident(server.url)
    await fourth.start_session()
    await report_until(fourth, "I want to report a pothole", duplicate_question)
    await fourth.say("/duplicate_file")
    other = await fourth.wait_for("ticket_created")
    assert other["ticket_id"] != tid
    # A fifth changes their mind: nothing is filed, and the next message is the bot's again.
    fifth: ResidentClient = await resident(server.url)
    await fifth.start_session()
    await report_until(fifth, "I want to report a pothole", duplicate_question)
    await fifth.say("cancelar")
    await fifth.wait_for("bot_uttered", lambda m: "nothing was filed" in (m.get("text") or ""))
    await fifth.turn("thank you")  # were the report still parked, this second non-answer would file it
    assert not fifth.of("ticket_created")
    # A sixth talks about something else twice: the report waits for a button (nothing is filed), and the
    # bot answers meanwhile; the button's title typed later files it.
    sixth: ResidentClient = await resident(server.url)
    await sixth.start_session()
    await report_until(sixth, "I want to report a pothole", duplicate_question)
    mark = len(sixth.events)
    await sixth.say("hmm")
    await sixth.wait_for("bot_uttered", lambda m: "already reported as" in m.get("text", ""), after=mark)  # again
    mark = len(sixth.events)
    replies = await sixth.turn("what day is trash pickup?")
    assert any("I haven't filed your report" in r.get("text", "") for r in sixth.of("bot_uttered")[-4:]), \
        transcript(sixth)
    answered = [r for r in replies if r.get("sender") == "bot" and "haven't filed" not in r.get("text", "")]
    assert answered, transcript(sixth)
    assert not sixth.of("ticket_created")
    await sixth.turn("no")  # a plain no now answers the bot, not the parked report
    assert not sixth.of("ticket_created")
    await sixth.say("File anyway")
    assert (await sixth.wait_for("ticket_created", after=mark))["ticket_id"] != tid


def outside_area(client: ResidentClient) -> dict[str, Any] | None:
    return next((m for m in client.of("bot_uttered") if "outside the area" in (m.get("text") or "")), None)


@pytest.mark.rasa
async def test_report_outside_the_service_area_is_refused_in_chat(
        server: ChatServerProcess, resident: Callable[..., Any]) -> None:
    # The same street address filed in the city first: the report from Atlanta is no duplicate of it (it was offered
    # "already reported", and "Add my details" put its photo on the city's ticket; probe AB).
    local: ResidentClient = await resident(server.url)
    await local.start_session()
    await report_until(local, "I want to report a pothole", ticket_created, address="200 Peachtree St, Charlotte")
    client: ResidentClient = await resident(server.url)
    await client.start_session()
    refused = await report_until(client, "I want to report a pothole", outside_area,
                                 address="200 Peachtree St, Atlanta, GA 30303")
    assert "Nothing was filed" in refused["text"] and not client.of("ticket_created")
    assert duplicate_question(client) is None, transcript(client)
