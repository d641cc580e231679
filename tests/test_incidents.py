"""Incident mode against real processes: staff post a notice, every channel uses it at once.

Most tests run chat_server without a bot (tests/channel_standins.bare_server): the notice goes
out before the bot's turn, so its mechanics do not need Rasa. One test runs the real bot to show
the notice comes first and the usual help follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.agents import agent_client, escalation_env, login, make_agent
from tests.support.channel_standins import App, TwilioStandin, bare_server, channel_messages, issue
from tests.support.clients import ResidentClient
from tests.support.servers import quoted_prefix
from tests.support.staff import post_notice
from tests.support.waiting import until

STORM = {
    "title": {"en": "Winter storm", "es": "Tormenta invernal"},
    "message": {"en": "Report power outages to Duke Energy, not 311.",
                "es": "Reporte los apagones a Duke Energy, no al 311."},
    "phrases": ["power outage", "no power", "sin luz", "tree down"],
    "url": "https://www.charlottenc.gov/storm",
}


class Staff:
    """A signed-in console user driving the incidents API like the page does."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(cookies={"c311_agent": token})
        self.csrf = ""

    @classmethod
    async def sign_in(cls, server: Any, redis_url: str, username: str, roles: tuple[str, ...]) -> Staff:
        await make_agent(redis_url, server.prefix, username, roles=roles)
        status, token = await login(server.url, username)
        assert status == 303 and token
        staff = cls(server.url, token)
        async with staff.http.get(f"{server.url}/console/incidents/api/me") as r:
            staff.csrf = (await r.json()).get("csrf", "") if r.status == 200 else ""
        return staff

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, f"{self.base}/console/incidents/api{path}", json=body,
                                     headers={"X-CSRF-Token": self.csrf}) as r:
            return r.status, await r.json(content_type=None)

    async def post(self, **over: Any) -> dict[str, Any]:
        status, body = await self.call("POST", "/incidents", {**STORM, "ends_at": time.time() + 3600, **over})
        assert status == 201, body
        return dict(body["incident"])

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture
async def city(redis_server: Any, twilio: TwilioStandin) -> Any:
    """Two chat_server processes on one Redis and key prefix (as with WORKERS=2), no bot."""
    first = await bare_server(redis_server.url, "incidents-1", CHAT311_CHANNELS__API_ENABLED="true",
                              CHAT311_INCIDENTS__POLL_S="0.5", **twilio.env())
    second = await bare_server(redis_server.url, "incidents-2", CHAT311_INCIDENTS__POLL_S="0.5",
                               CHAT311_REDIS__KEY_PREFIX=quoted_prefix(first.prefix))
    second.prefix = first.prefix
    yield first, second
    await first.stop()
    await second.stop()


async def resident_on(server: Any) -> ResidentClient:
    client = ResidentClient(server.url)
    await client.connect()
    await client.start_session()
    return client


NOT_UNDERSTOOD = "didn't understand"


async def said_back(resident: ResidentClient, text: str) -> list[str]:
    """What the resident is told in answer to `text`, once the bot's turn is over."""
    mark = len(resident.events)
    await resident.say(text, language="en")
    await resident.wait_for("typing", lambda d: d.get("sender") == "bot" and d.get("on") is False, timeout=60,
                            after=mark)
    return [d.get("text") or "" for e, d in resident.events[mark:]
            if e == "bot_uttered" and d.get("sender") != "resident"]


async def test_only_supervisors_and_content_staff_post_and_bad_input_is_refused(city: Any, redis_server: Any) -> None:
    server, _ = city
    async with aiohttp.ClientSession() as anon, anon.post(f"{server.url}/console/incidents/api/incidents",
                                                          json=STORM) as r:
        assert r.status == 401
    agent = await Staff.sign_in(server, redis_server.url, "andy", ("agent",))
    status, body = await agent.call("POST", "/incidents", {**STORM, "ends_at": time.time() + 60})
    assert status == 403 and body["error"]["code"] == "forbidden"
    await agent.close()
    content = await Staff.sign_in(server, redis_server.url, "cora", ("content",))
    status, body = await content.call("POST", "/incidents", {**STORM, "title": {"en": "Storm"},
                                                             "ends_at": time.time() + 60})
    assert status == 400 and body["error"]["field"] == "title.es"
    status, body = await content.call("POST", "/incidents", {**STORM, "ends_at": time.time() - 60})
    assert status == 400 and body["error"]["field"] == "ends_at"
    posted = await content.post()
    status, body = await content.call("POST", "/incidents", {**STORM, "phrases": ["No Power"],
                                                             "ends_at": time.time() + 60})
    assert status == 400 and body["error"]["field"] == "phrases" and "no power" in body["error"]["message"]
    # Without the CSRF header a signed-in user is refused too.
    async with content.http.post(f"{server.url}/console/incidents/api/incidents/{posted['id']}/end") as r:
        assert r.status == 403
    status, _ = await content.call("POST", f"/incidents/{posted['id']}/end")
    assert status == 200
    status, body = await content.call("POST", "/incidents/inc-nonexistent0/end")
    assert status == 404
    await content.close()
    sup = await Staff.sign_in(server, redis_server.url, "sam", ("supervisor",))
    await sup.post(phrases=["no power"])  # the first one ended: the phrase is free again
    status, listing = await sup.call("GET", "/incidents")
    assert [i["state"] for i in listing["incidents"]][:2] == ["live", "ended"]
    assert [i["banner"] for i in listing["incidents"]][:2] == [True, False]  # which one residents see
    async with sup.http.get(f"{server.url}/console/incidents") as r:
        assert r.status == 200 and "incidents.js" in await r.text()
    await sup.close()


async def test_staff_act_one_at_a_time_and_keeping_the_line_open_respects_overrides(city: Any,
                                                                                     redis_server: Any) -> None:
    first, second = city
    sam = await Staff.sign_in(first, redis_server.url, "sam", ("supervisor",))
    sue = await Staff.sign_in(second, redis_server.url, "sue", ("supervisor",))
    cora = await Staff.sign_in(first, redis_server.url, "cora", ("content",))
    try:
        # Four posts of the same phrase at once, through both processes: one is stored, the others refused.
        gas = {**STORM, "phrases": ["gas leak"], "ends_at": time.time() + 3600}
        results = await asyncio.gather(*(who.call("POST", "/incidents", gas) for who in (sam, sue, cora, sam)))
        assert sorted(status for status, _ in results) == [201, 400, 400, 400], results
        [posted] = [body["incident"] for status, body in results if status == 201]
        # Two supervisors ending it at once: one ends it, the other is told it already ended.
        ends = await asyncio.gather(*(who.call("POST", f"/incidents/{posted['id']}/end") for who in (sam, sue)))
        assert sorted(status for status, _ in ends) == [200, 400], ends
        # A scheduled notice ended before it began reads "ended", not "scheduled" (with an End button).
        later = await sam.post(phrases=["road closed"], starts_at=time.time() + 3600, ends_at=time.time() + 7200)
        assert (await sam.call("POST", f"/incidents/{later['id']}/end"))[0] == 200
        live = await sam.post(phrases=["water main"], ends_at=time.time() + 3600)
        _, listing = await sam.call("GET", "/incidents")
        assert next(i for i in listing["incidents"] if i["id"] == later["id"])["state"] == "ended"
        # The live notice is listed first, above the one that would have started later (it was listed second).
        assert listing["incidents"][0]["id"] == live["id"], [(i["id"], i["state"]) for i in listing["incidents"]]
        assert (await sam.call("POST", f"/incidents/{live['id']}/end"))[0] == 200
        # Bad times and invisible text are refused with the field named; nothing is stored.
        for body, field in [(f'{{"starts_at": NaN, "ends_at": {time.time() + 60}}}', "starts_at"),
                            ('{"ends_at": Infinity}', "ends_at")]:
            raw = json.dumps({**STORM, "phrases": ["bad time"]})[:-1] + ", " + body[1:]
            async with sam.http.post(f"{first.url}/console/incidents/api/incidents", data=raw,
                                     headers={"X-CSRF-Token": sam.csrf, "Content-Type": "application/json"}) as r:
                refused = await r.json()
                assert r.status == 400 and refused["error"]["field"] == field, refused
        status, refused = await sam.call("POST", "/incidents", {**STORM, "phrases": ["blank"], "ends_at": time.time()
                                                                + 60, "title": {"en": "\u200b\u202e", "es": "x"}})
        assert status == 400 and refused["error"]["field"] == "title.en"
        _, listing = await sam.call("GET", "/incidents")
        assert all(i["phrases"] != ["bad time"] for i in listing["incidents"])

        # Keeping the line open: a supervisor's decision, not content staff's.
        storm = {"phrases": ["no power"], "ends_at": time.time() + 1800, "extend_hours": True}
        status, refused = await cora.call("POST", "/incidents", {**STORM, **storm})
        assert status == 400 and refused["error"]["field"] == "extend_hours"

        async def override(body: dict[str, Any] | None = None) -> dict[str, Any]:
            method = "POST" if body is not None else "GET"
            async with sam.http.request(method, f"{first.url}/console/supervisor/api/override", json=body,
                                        headers={"X-CSRF-Token": sam.csrf}) as r:
                assert r.status == 200, await r.text()
                return dict(await r.json())

        # A supervisor closed the line (an evacuation): an incident neither reopens it nor, ended, clears it.
        await override({"mode": "closed", "minutes": 120, "reason": "building evacuation"})
        status, refused = await sam.call("POST", "/incidents", {**STORM, **storm})
        assert status == 400 and refused["error"]["field"] == "extend_hours" and "closed until" in \
            refused["error"]["message"]
        # in the line's time zone, as the dashboard shows it (it said UTC, probe Y)
        assert " UTC" not in refused["error"]["message"] and re.search(r"E[SD]T, by", refused["error"]["message"])
        assert (await override())["mode"] == "closed"
        await override({"mode": "clear"})
        extended = await sam.post(**storm)
        now = await override()
        assert now["mode"] == "open" and abs(now["until"] - extended["ends_at"]) < 1
        assert (await sam.call("POST", f"/incidents/{extended['id']}/end"))[0] == 200
        assert (await override())["mode"] is None
    finally:
        for who in (sam, sue, cora):
            await who.close()


async def test_notice_reaches_every_process_and_channel_then_ends(city: Any, redis_server: Any,
                                                                 twilio: TwilioStandin,
                                                                 redis_client: Any) -> None:
    first, second = city
    web_a, web_b = await resident_on(first), await resident_on(second)
    assert web_a.of("incident") == [None] and web_b.of("incident") == [None]
    sup = await Staff.sign_in(first, redis_server.url, "sue", ("supervisor",))
    posted = await sup.post()
    # Both processes' residents get it (the second within its poll interval), with both languages.
    for client in (web_a, web_b):
        got = await client.wait_for("incident", lambda d: d is not None, timeout=5)
        assert got["id"] == posted["id"] and got["title"] == "Winter storm"
        assert got["translations"]["es"]["title"] == "Tormenta invernal"
    # A resident who connects now gets the current notice with the session.
    late = await resident_on(second)
    assert (await late.wait_for("incident", lambda d: d is not None, timeout=5))["id"] == posted["id"]

    # Web: a matching question gets the notice in chat, once; a non-matching one does not.
    ack = await web_b.say("we have no power on my street since 6am", language="en")
    assert ack["ok"]
    notice = await web_b.wait_for("bot_uttered", lambda m: "Duke Energy" in (m.get("text") or ""))
    assert notice["sender"] == "system" and notice["text"].startswith("Winter storm:")
    other = await resident_on(first)
    await other.say("how do I pay my water bill", language="en")
    await other.wait_for("bot_uttered", lambda m: m.get("sender") == "system")  # the core's bot-down reply
    assert not [m for m in other.of("bot_uttered") if "Duke Energy" in (m.get("text") or "")]

    # SMS: the first message while it is live gets the notice, whatever it says, in Spanish if Spanish.
    phone = "+17045550177"
    await twilio.text_server(first.url, phone, "hola, cuando pasa el camion de basura")
    [sms] = await twilio.sent.wait_for(lambda items: [m for m in items if m["to"] == phone and "Duke" in m["body"]])
    assert sms["body"].startswith("Tormenta invernal:")
    _, messages = await channel_messages(redis_client, first.prefix, "sms", phone)
    assert [m["sender"] for m in messages[:2]] == ["resident", "system"]

    # ... and later, only when it asks about it: "Library closed today" was texted mid-report (probe Y).
    second_notice = await sup.post(title={"en": "Library closed", "es": "Biblioteca cerrada"},
                                   message={"en": "Main library closed for repairs.",
                                            "es": "La biblioteca central está cerrada."},
                                   phrases=["library", "biblioteca"])
    await twilio.text_server(first.url, phone, "600 block of Elm St")
    await twilio.text_server(first.url, phone, "is the library open?")
    closed = ("Library closed:", "Biblioteca cerrada:")
    await twilio.sent.wait_for(lambda items: [m for m in items if m["to"] == phone and m["body"].startswith(closed)])
    _, messages = await channel_messages(redis_client, first.prefix, "sms", phone)
    texts = [m["text"] for m in messages]
    between = texts[texts.index("600 block of Elm St"):texts.index("is the library open?")]
    assert not [t for t in between if t.startswith(closed)], texts

    # API channel: the same on its first message.
    app = App(first.url, issue(first, "city app")["token"])
    status, conv = await app.call("POST", "/api/v1/conversations", {"user_id": "r-9", "language": "en"})
    assert status == 201
    status, sent = await app.call("POST", f"/api/v1/conversations/{conv['id']}/messages", {"text": "hello"})
    assert status == 201 and sent["replies"][0]["text"].startswith("Library closed:")

    # Agents see every live notice in the console, newest first (and may insert its text in either language):
    # with several live, they saw only the newest (probe Y).
    agent = await Staff.sign_in(first, redis_server.url, "alf", ("agent",))
    status, current = await agent.call("GET", "/current")
    assert status == 200 and current["incident"]["id"] == second_notice["id"]
    assert [i["id"] for i in current["incidents"]] == [second_notice["id"], posted["id"]]
    assert current["incidents"][1]["notice"]["es"].startswith("Tormenta invernal: Reporte")
    await agent.close()
    status, _ = await sup.call("POST", f"/incidents/{second_notice['id']}/end")
    assert status == 200

    # Ending it clears the banner everywhere.
    status, _ = await sup.call("POST", f"/incidents/{posted['id']}/end")
    assert status == 200
    for client in (web_a, web_b, late):
        await client.wait_for("incident", lambda d: d is None, timeout=5, after=1)
    # Figures: the chats that asked about it (the web one; the SMS and app residents asked about other things and
    # only got it with their first message), none needed an agent.
    status, listing = await sup.call("GET", "/incidents")
    mine = next(i for i in listing["incidents"] if i["id"] == posted["id"])
    assert mine["state"] == "ended" and mine["chats"] == 1 and mine["contained"] == 1
    # ... and in the supervisor's reports, for any range (they could not be reported or exported, probe Y)

    async def reported() -> dict[str, Any] | None:
        async with sup.http.get(f"{first.url}/console/supervisor/api/report", params={"name": "incidents"}) as r:
            assert r.status == 200, await r.text()
            rows = (await r.json())["rows"]
        row = next((row for row in rows if row["incident_id"] == posted["id"]), None)
        return row if row and row["reached"] >= 2 else None

    row = await until(reported, 20, "the incident is not in the report", interval=0.3)
    assert row["asked"] == 1 and row["escalated"] == 0 and row["contained_by_notice"] == 1, row
    assert row["title"] == "Winter storm", row  # ids alone said nothing (probe Z)
    await sup.close()
    for client in (web_a, web_b, late, other):
        await client.close()


async def test_staff_correct_a_live_notice_and_every_process_serves_the_correction(city: Any, redis_server: Any,
                                                                                   redis_client: Any) -> None:
    """A notice whose estimate moved was ended and posted again: its figures restarted and residents got two."""
    first, second = city
    web = await resident_on(second)
    sam = await Staff.sign_in(first, redis_server.url, "sam", ("supervisor",))
    sue = await Staff.sign_in(second, redis_server.url, "sue", ("supervisor",))
    cora = await Staff.sign_in(first, redis_server.url, "cora", ("content",))
    try:
        posted = await sam.post()
        await web.wait_for("incident", lambda d: d is not None and d["id"] == posted["id"], timeout=5)
        await web.say("no power since 6am", language="en")
        await web.wait_for("bot_uttered", lambda m: "Duke Energy" in (m.get("text") or ""))
        fix = {**STORM, "message": {"en": "Power back by 8 pm.", "es": "La luz vuelve a las 8 pm."},
               "ends_at": posted["ends_at"], "base_updated_at": 0}
        status, body = await sue.call("POST", f"/incidents/{posted['id']}", fix)
        assert status == 200, body
        fixed = body["incident"]
        assert fixed["id"] == posted["id"] and fixed["updated_by"] == "sue"
        assert fixed["starts_at"] == posted["starts_at"]
        # Residents on the other process get the corrected notice, marked corrected (a dismissed banner shows again).
        got = await web.wait_for("incident", lambda d: d is not None and d.get("updated_at"), timeout=5)
        assert got["id"] == posted["id"] and got["translations"]["es"]["message"] == "La luz vuelve a las 8 pm."
        late = await resident_on(first)  # the process that did not save it, once it has the correction
        await late.wait_for("incident", lambda d: d is not None and d.get("updated_at"), timeout=5)
        await late.say("no power on Elm St", language="en")
        notice = await late.wait_for("bot_uttered", lambda m: m.get("sender") == "system" and "Winter storm" in
                                     (m.get("text") or ""))
        assert "Power back by 8 pm." in notice["text"], notice
        # One notice, its figures kept: both chats that asked about it.
        _, listing = await sam.call("GET", "/incidents")
        [mine] = [i for i in listing["incidents"] if i["title"]["en"] == "Winter storm"]
        assert mine["id"] == posted["id"] and mine["chats"] == 2 and mine["updated_by"] == "sue"
        audit = await redis_client.xrange(f"{first.prefix}audit")
        updates = [json.loads(f[b"detail"]) for _, f in audit if f[b"action"] == b"incident_updated"]
        assert [(u["incident_id"], u["changed"]) for u in updates] == [(posted["id"], "message")]

        # Sam opened it before Sue's correction: his save is refused, not written over hers.
        status, refused = await sam.call("POST", f"/incidents/{posted['id']}", {**fix, "message": STORM["message"]})
        assert status == 400 and refused["error"]["field"] == "incident" and "sue" in refused["error"]["message"]
        status, refused = await sam.call("POST", f"/incidents/{posted['id']}",
                                         {**fix, "base_updated_at": fixed["updated_at"],
                                          "starts_at": posted["starts_at"] + 3600})
        assert status == 400 and refused["error"]["field"] == "starts_at"
        assert (await sam.call("POST", "/incidents/inc-nonexistent0", fix))[0] == 404

        # A notice that keeps the line open moves the line's hours with its end: a supervisor's change only.
        async def override() -> dict[str, Any]:
            async with sam.http.get(f"{first.url}/console/supervisor/api/override") as r:
                return dict(await r.json())

        extended = await sam.post(phrases=["gas leak"], ends_at=time.time() + 1800, extend_hours=True)
        moved = {**STORM, "phrases": ["gas leak"], "ends_at": extended["ends_at"] + 1800, "extend_hours": True}
        status, refused = await cora.call("POST", f"/incidents/{extended['id']}", moved)
        assert status == 400 and refused["error"]["field"] == "ends_at"
        assert abs((await override())["until"] - extended["ends_at"]) < 1
        status, body = await sam.call("POST", f"/incidents/{extended['id']}",
                                      {**moved, "title": {"en": "Gas leak", "es": "Fuga de gas"}})
        assert status == 200, body
        assert abs((await override())["until"] - moved["ends_at"]) < 1
        # ... and ending it still clears the line's override it set, renamed or not.
        assert (await sam.call("POST", f"/incidents/{extended['id']}/end"))[0] == 200
        assert (await override())["mode"] is None
        status, refused = await sam.call("POST", f"/incidents/{extended['id']}", moved)
        assert status == 400 and refused["error"]["field"] == "id"
    finally:
        for who in (sam, sue, cora):
            await who.close()
        await web.close()


async def test_incident_expires_on_time(city: Any, redis_server: Any) -> None:
    first, _ = city
    sup = await Staff.sign_in(first, redis_server.url, "ted", ("supervisor",))
    resident = await resident_on(first)
    ends_at = time.time() + 2.5
    posted = await sup.post(phrases=["road closed"], ends_at=ends_at)
    await resident.wait_for("incident", lambda d: d is not None and d["id"] == posted["id"], timeout=5)
    await resident.wait_for("incident", lambda d: d is None, timeout=8, after=2)
    assert time.time() >= ends_at
    status, listing = await sup.call("GET", "/incidents")
    assert status == 200 and next(i for i in listing["incidents"] if i["id"] == posted["id"])["state"] == "ended"
    await sup.close()
    await resident.close()


@contextlib.asynccontextmanager
async def staffed_city(redis_server: Any, name: str) -> AsyncIterator[Any]:
    """A server with staffed hours and agents' routing, on keys of its own (`server.prefix`)."""
    from tests.support.agents import fresh_prefix

    prefix = fresh_prefix()
    server = await bare_server(redis_server.url, name, **escalation_env(prefix))
    server.prefix = prefix
    try:
        yield server
    finally:
        await server.stop()


async def test_queue_message_tells_of_longer_waits(redis_server: Any) -> None:
    async with staffed_city(redis_server, "incidents-queue") as server:
        prefix = server.prefix
        sup = await Staff.sign_in(server, redis_server.url, "vic", ("supervisor",))
        await make_agent(redis_server.url, prefix, "amy", max_chats=0)  # online, every seat taken: a wait
        agent = await agent_client(server.url, "amy")
        # Probe Y: the surge comes first and the notice after it; those already waiting were never told.
        early = await resident_on(server)
        await early.say("/request_human", language="es")
        await early.wait_for("queue_update", timeout=20)
        await sup.post(phrases=["tree down"])
        waits = await early.wait_for("bot_uttered", lambda m: "más larga" in (m.get("text") or ""), timeout=10)
        assert waits["sender"] == "system" and waits["text"].startswith("Muchas personas"), waits
        # Queued after asking about it: told of the waits under its title.
        asked = await resident_on(server)
        await asked.say("there is a tree down on my street", language="en")
        await asked.wait_for("bot_uttered", lambda m: (m.get("text") or "").startswith("Winter storm: Report"))
        await asked.say("/request_human", language="en")
        named = await asked.wait_for("bot_uttered", lambda m: "waits are longer" in (m.get("text") or ""))
        assert named["text"].startswith("Winter storm:"), named
        # Queued without asking: no incident's title (a water question was told of a power outage, probe Y).
        other = await resident_on(server)
        await other.say("/request_human", language="en")
        plain = await other.wait_for("bot_uttered", lambda m: "waits are longer" in (m.get("text") or ""))
        assert plain["text"].startswith("Many residents"), plain
        for client in (early, asked, other):
            assert len([m for m in client.of("bot_uttered") if "más larga" in (m.get("text") or "")
                        or "waits are longer" in (m.get("text") or "")]) == 1, "told once"
            await client.close()
        await agent.close()
        await sup.close()


@pytest.mark.rasa
async def test_bot_answers_a_matching_question_with_the_notice_first(server_factory: Any,
                                                                     redis_server: Any) -> None:
    from tests.support.agents import fresh_prefix

    prefix = fresh_prefix()
    server = await server_factory(CHAT311_REDIS__KEY_PREFIX=quoted_prefix(prefix), CHAT311_INCIDENTS__POLL_S="0.5")
    server.prefix = prefix
    sup = await Staff.sign_in(server, redis_server.url, "una", ("content",))
    # A question only the notice answers: before it, the bot does not understand it ...
    question = "is the zorblat thing still going on in my area"
    before = await resident_on(server)
    assert NOT_UNDERSTOOD in " ".join(await said_back(before, question)), "the control question was understood"
    await sup.post(phrases=[*STORM["phrases"], "zorblat"])
    # ... with it, the notice is the answer and no "Sorry, I didn't understand" follows it (probe AG)
    asking = await resident_on(server)
    answers = await said_back(asking, question)
    assert answers and answers[0].startswith("Winter storm:"), answers
    assert not [a for a in answers if NOT_UNDERSTOOD in a], answers
    resident = await resident_on(server)
    mark = len(resident.events)
    await resident.say("there is a tree down and we have no power", language="en")
    await resident.wait_for("bot_uttered", lambda m: m.get("sender") == "bot", timeout=60, after=mark)
    replies = [d for e, d in resident.events[mark:] if e == "bot_uttered" and d.get("sender") != "resident"]
    assert replies[0]["sender"] == "system" and replies[0]["text"].startswith("Winter storm:")
    assert any(r["sender"] == "bot" for r in replies[1:]), replies  # the usual help follows
    # An emergency gets the 911 answer, and no notice under it (probe AG)
    other = await resident_on(server)
    mark = len(other.events)
    await other.say("tree down on my car and my son is trapped inside, he is bleeding", language="en")
    await other.wait_for("bot_uttered", lambda m: "911" in (m.get("text") or ""), timeout=60, after=mark)
    await other.wait_for("typing", lambda d: d.get("on") is False, timeout=60, after=mark)  # the turn is over
    said = [d.get("text") or "" for e, d in other.events[mark:] if e == "bot_uttered"]
    assert not [t for t in said if t.startswith("Winter storm:")], said
    await other.close()
    await resident.close()
    await asking.close()
    await before.close()
    await sup.close()


@pytest.mark.browser
async def test_staff_page_posts_and_widget_shows_the_banner_in_both_languages(city: Any, redis_server: Any) -> None:
    from tests.support.agents import PASSWORD
    from tests.support.browser import axe_scan, chromium, new_page, open_widget

    server, _ = city
    await make_agent(redis_server.url, server.prefix, "sid", roles=("supervisor",))
    async with chromium() as browser:
        staff = await new_page(browser)
        await staff.goto(f"{server.url}/console/incidents")
        assert "/console/login" in staff.url
        await staff.fill("#username", "sid")
        await staff.fill("#password", PASSWORD)
        await staff.press("#password", "Enter")
        await staff.wait_for_url(f"{server.url}/console/incidents")
        await staff.locator("#who").wait_for(state="visible")
        assert await staff.locator("nav").count() == 1  # the staff bar only (a second "Staff pages" nav was here)
        violations = [v for v in await axe_scan(staff, "body") if v["impact"] in ("serious", "critical")]
        assert not violations, [(v["id"], v["help"]) for v in violations]

        resident = await new_page(browser)
        await resident.goto(server.url + "/")
        await open_widget(resident)
        banner = resident.locator(".c311-incident")
        assert not await banner.is_visible()

        await post_notice(staff, ("Winter storm", "Tormenta invernal"),
                          ("Report outages to Duke Energy. <b>not bold</b>", "Reporte los apagones a Duke Energy."),
                          "power outage, no power\nsin luz", 7200, url="https://www.charlottenc.gov/storm")
        await staff.locator("#post-msg", has_text="Posted").wait_for()
        await staff.locator("#list tbody tr", has_text="Winter storm").wait_for()

        await banner.wait_for(state="visible", timeout=5000)
        text = await banner.inner_text()
        assert "City notice: Winter storm" in text and "<b>not bold</b>" in text  # text, never HTML
        link = banner.locator("a", has_text="More information")
        assert await link.get_attribute("href") == "https://www.charlottenc.gov/storm"
        assert "noopener" in (await link.get_attribute("rel") or "")
        assert await banner.get_attribute("role") == "status"
        violations = [v for v in await axe_scan(resident) if v["impact"] in ("serious", "critical")]
        assert not violations, [(v["id"], v["help"]) for v in violations]
        await resident.locator(".c311-lang").click()
        await banner.locator("text=Aviso de la ciudad: Tormenta invernal").wait_for()
        assert "Más información" in await banner.inner_text()
        await banner.locator(".c311-incident-dismiss").click()
        await banner.wait_for(state="hidden")
        await resident.reload()
        await open_widget(resident)
        await resident.locator(".c311-incident-dismiss").wait_for(state="attached")
        assert not await banner.is_visible()  # dismissed stays dismissed
        # ... until staff correct it: the estimate moved, and the resident who dismissed it sees it again.
        await staff.locator("#list tbody tr", has_text="Winter storm").locator("button", has_text="Edit").click()
        assert await staff.locator("#post-h").inner_text() == "Edit the notice “Winter storm”"
        assert await staff.locator("#starts").is_disabled()  # it has begun
        await staff.fill("#message-es", "Reporte los apagones a Duke Energy. La luz vuelve a las 8 pm.")
        await staff.click("#submit")
        await staff.locator("#post-msg", has_text="Saved").wait_for()
        assert await staff.locator("#post-h").inner_text() == "Post a notice"
        await staff.locator("#list tbody tr", has_text="corrected").wait_for()
        await banner.locator("text=La luz vuelve a las 8 pm.").wait_for(timeout=5000)
        assert await staff.locator("#list tbody tr").count() == 1  # corrected, not posted twice

        await make_agent(redis_server.url, server.prefix, "ada")
        console = await new_page(browser)
        await console.goto(f"{server.url}/console/login")
        await console.fill("#username", "ada")
        await console.fill("#password", PASSWORD)
        await console.press("#password", "Enter")
        await console.wait_for_url(f"{server.url}/console")
        await console.locator("#incident-text", has_text="Winter storm").wait_for(timeout=15000)
        card = await console.locator("#incident-text").inner_text()
        assert card.count("Winter storm") == 1, card  # the notice begins with the title; it was shown twice
        await console.click("#incident-insert")
        assert (await console.input_value("#composer")).startswith("Winter storm: Report outages")
        # Every live notice is on the card, each with its Insert (only the newest was, probe Y).
        sal = await Staff.sign_in(server, redis_server.url, "sal", ("supervisor",))
        library = await sal.post(title={"en": "Library closed", "es": "Biblioteca cerrada"},
                                 message={"en": "Main library closed for repairs.",
                                          "es": "La biblioteca central está cerrada."}, phrases=["library"])
        await console.locator("#incident-text", has_text="Library closed").wait_for(timeout=15000)
        older = console.locator("#incident-others li", has_text="Winter storm")
        await older.wait_for()
        await console.eval_on_selector("#composer", "box => { box.value = ''; }")
        await older.locator("button").click()
        assert (await console.input_value("#composer")).startswith("Winter storm: Report outages")
        assert (await sal.call("POST", f"/incidents/{library['id']}/end"))[0] == 200
        await sal.close()
        await console.locator("#incident-others").wait_for(state="hidden", timeout=15000)

        fresh = await new_page(browser)  # another resident still sees it, and it goes when staff end it
        await fresh.goto(server.url + "/")
        await open_widget(fresh)
        await fresh.locator(".c311-incident").wait_for(state="visible", timeout=5000)
        end = staff.locator("#list tbody tr", has_text="Winter storm").locator("button", has_text="End now")
        asked: list[str] = []
        answering: list[asyncio.Future[None]] = []

        def answer(dialog: Any, accept: bool) -> None:
            asked.append(dialog.message)
            answering.append(asyncio.ensure_future(dialog.accept() if accept else dialog.dismiss()))

        staff.once("dialog", lambda d: answer(d, False))  # a city-wide notice is not ended by a stray click
        await end.click()
        assert asked and "Winter storm" in asked[0], asked
        await staff.reload()
        await end.wait_for()  # still live: an ended notice has no End button
        staff.once("dialog", lambda d: answer(d, True))
        await end.click()
        await fresh.locator(".c311-incident").wait_for(state="hidden", timeout=5000)


async def test_a_long_notice_fits_a_phone_screen(city: Any, redis_server: Any) -> None:
    """A notice with a long link pushed the dismiss button off a 360 px screen, and one of the longest allowed
    pushed the reply box below it (probe I, WCAG 1.4.10 reflow)."""
    from tests.support.browser import INPUT, chromium, new_page, open_widget

    server, _ = city
    sam = await Staff.sign_in(server, redis_server.url, "sam", ("supervisor",))
    link = "https://www.charlottenc.gov/Services/Water/Outages/" + "water-main-break-detour-map-" * 4 + "tryon"
    message = f"Water main break on Tryon St. Detour map: {link} " + "Expect low pressure until 6 pm. " * 14
    await sam.post(message={"en": message[:600], "es": message[:600]}, phrases=["water main"])
    await sam.close()
    async with chromium() as browser:
        page = await new_page(browser, viewport={"width": 360, "height": 640})
        await page.goto(server.url + "/")
        await open_widget(page)
        banner = page.locator(".c311-incident")
        await banner.wait_for(state="visible", timeout=5000)
        dismiss = await page.locator(".c311-incident-dismiss").bounding_box()
        assert dismiss and dismiss["x"] + dismiss["width"] <= 360, dismiss
        reply_box = await page.locator(INPUT).bounding_box()
        assert reply_box and reply_box["y"] + reply_box["height"] <= 640, reply_box
        # what does not fit scrolls inside the banner, and the keyboard can reach it
        assert await page.locator(".c311-incident-text").get_attribute("tabindex") == "0"


async def test_the_list_reads_on_a_phone(city: Any, redis_server: Any) -> None:
    """Probe Y: at 320 px the list's columns were 30 px wide, its text broke letter by letter (WCAG 1.4.10)."""
    from tests.support.agents import PASSWORD
    from tests.support.browser import chromium, new_page

    server, _ = city
    sup = await Staff.sign_in(server, redis_server.url, "pia", ("supervisor",))
    await sup.post(phrases=["ice on the road"])
    await sup.close()
    async with chromium() as browser:
        page = await new_page(browser, viewport={"width": 320, "height": 640})
        await page.goto(f"{server.url}/console/incidents")
        await page.fill("#username", "pia")
        await page.fill("#password", PASSWORD)
        await page.press("#password", "Enter")
        await page.wait_for_url(f"{server.url}/console/incidents")
        row = page.locator("#list tbody tr", has_text="Winter storm")
        await row.wait_for()
        widths = await row.locator("td").evaluate_all("cells => cells.map(c => c.getBoundingClientRect().width)")
        assert min(widths) >= 200, widths
        # each figure under its heading (the table's head is out of sight there)
        assert await row.locator('td[data-label="Chats that asked about it"]').count() == 1
        assert await page.evaluate("document.documentElement.scrollWidth") <= 320


async def test_a_resident_told_less_than_a_minute_is_not_told_of_longer_waits(redis_server: Any) -> None:
    """Probe AF: "less than a minute" was followed at once by "waits are longer than usual", and an agent joined."""
    async with staffed_city(redis_server, "incidents-free") as server:
        prefix = server.prefix
        sup = await Staff.sign_in(server, redis_server.url, "val", ("supervisor",))
        await sup.post(phrases=["tree down"])
        await make_agent(redis_server.url, prefix, "bob", max_chats=1)
        free = await agent_client(server.url, "bob")
        quick = await resident_on(server)
        await quick.say("/request_human", language="en")
        update = await quick.wait_for("queue_update", timeout=20)
        await free.wait_for("offer", timeout=20)  # after the queue's own answers to its joining
        assert update["estimated_wait_s"] == 0
        assert not [m for m in quick.of("bot_uttered") if "waits are longer" in (m.get("text") or "")]
        await quick.close()
        await free.close()
        await sup.close()
