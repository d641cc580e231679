"""Hostile and careless input on the resident channels, against real chat_server processes (issue 13).

- An emergency is answered "call 911" before any rejection (length, rate, shape), bounded per window.
- An attachment must be a photo this session uploaded.
- Oversized, too deeply nested, lone-surrogate and non-UTF-8 payloads get their own error codes and
  the connection stays usable where the protocol allows it.
- X-Forwarded-For is ignored unless the operator trusts a proxy.
- Bot turns are shared fairly between sources (turns.py, pure logic).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
import jsonschema
import pytest

from chat_server.channels.openapi import document
from chat_server.conversations.turns import FairTurns
from tests.support.channel_standins import App, issue
from tests.support.clients import ResidentClient
from tests.support.faults import RawSocketIO
from tests.support.images import JPEG

FIRE_EN = "my house is on fire"
FIRE_ES = "hay un incendio en mi casa"


def is_911(data: Any) -> bool:
    """The guard's answer (not the bot-down notice, which also mentions 911)."""
    return (isinstance(data, dict) and data.get("sender") == "system" and "911" in str(data.get("text"))
            and (data.get("custom") or {}).get("event") == "emergency")


@pytest.fixture(scope="module")
async def strict(bare_factory: Any) -> Any:
    """Tight per-session limit with an hour-long window, so 'the same window' is deterministic."""
    return await bare_factory(name="input-strict", CHAT311_REDIS__KEY_PREFIX=f"'in{uuid.uuid4().hex[:6]}:'",
                              CHAT311_LIMITS__SESSION_MESSAGES="3", CHAT311_LIMITS__SESSION_WINDOW_S="3600",
                              CHAT311_LIMITS__IP_MESSAGES="100000")


async def _session(url: str) -> ResidentClient:
    client = ResidentClient(url)
    await client.connect()
    await client.start_session(last_message_id="0")
    return client


async def test_too_long_emergency_gets_911_then_too_long(strict: Any) -> None:
    client = await _session(strict.url)
    mark = len(client.events)
    ack = await client.say(f"{FIRE_EN}! " + "x" * 2001)
    assert ack["ok"] is False and ack["error"]["code"] == "too_long"
    await client.wait_for("error", after=mark)
    names = [e for e, d in client.events[mark:] if e == "error" or is_911(d)]
    assert names == ["bot_uttered", "error"], client.events[mark:]  # the answer first, then the rejection
    # Stored in the conversation: a second tab replaying the session sees it.
    tab = ResidentClient(strict.url)
    await tab.connect()
    await tab.start_session(client.session_id, last_message_id="0")
    await tab.wait_for("bot_uttered", is_911)
    await tab.close()
    await client.close()


@pytest.mark.parametrize(("text", "needle"), [(FIRE_EN, "call 911"), (FIRE_ES, "llame al 911")])
async def test_rate_limited_emergency_gets_911_in_its_language_and_is_bounded(strict: Any, text: str,
                                                                             needle: str) -> None:
    client = await _session(strict.url)
    for i in range(3):
        assert (await client.say(f"hello {i}"))["ok"]
    mark = len(client.events)
    ack = await client.say(text)
    assert ack["ok"] is False and ack["error"]["code"] == "rate_limited"
    answer = await client.wait_for("bot_uttered", is_911, after=mark)
    assert needle in answer["text"]
    # A flood of refused emergencies in the same window gets no more 911 answers, only rejections.
    for _ in range(15):
        flood = await client.say(text)
        assert flood["error"]["code"] == "rate_limited"
    await client.wait_for("error", lambda d: True, after=len(client.events) - 1)
    assert sum(1 for e, d in client.events[mark:] if is_911(d)) == 1
    assert sum(1 for e, d in client.events[mark:] if e == "error") == 16
    await client.close()


async def test_malformed_emergency_without_a_session_still_gets_911(strict: Any) -> None:
    client = ResidentClient(strict.url)
    await client.connect()
    ack = await client.sio.call("user_uttered", {"message": FIRE_EN}, timeout=10)
    assert ack["error"]["code"] == "no_session"
    assert is_911(await client.wait_for("bot_uttered", is_911))
    await client.close()


@pytest.mark.parametrize(("payload", "needle"), [
    ({"message": [FIRE_EN]}, "call 911"),
    ({"message": {"text": FIRE_ES}}, "llame al 911"),
    ({"text": FIRE_EN}, "call 911"),
])
async def test_a_message_of_the_wrong_shape_still_gets_911_first(strict: Any, payload: dict[str, Any],
                                                                   needle: str) -> None:
    """Probe U: a message sent as a list, an object or under the wrong key was refused with no 911 answer
    (the app API answered the same bodies)."""
    client = await _session(strict.url)
    mark = len(client.events)
    ack = await client.sio.call("user_uttered", {**payload, "session_id": client.session_id}, timeout=10)
    assert ack["error"]["code"] == "malformed"
    await client.wait_for("error", after=mark)
    names = [e for e, d in client.events[mark:] if e == "error" or is_911(d)]
    assert names == ["bot_uttered", "error"], client.events[mark:]
    assert needle in next(d for e, d in client.events[mark:] if is_911(d))["text"]
    await client.close()


FIRE_ES_ACCENTED = "mi casa se está quemando"


@pytest.mark.parametrize("payload", [
    {"message": FIRE_ES_ACCENTED + " " + "x" * 40_000},  # too large to decode, its accent escaped by the client
    {"message": "x" * 60_000 + " " + FIRE_ES_ACCENTED},  # the emergency at the end of a long paste
])
async def test_an_oversized_message_is_read_for_an_emergency_as_the_resident_typed_it(
        strict: Any, payload: dict[str, Any]) -> None:
    """Probe X: python-socketio (like Python's and PHP's JSON) sends "está" as "est\\u00e1"; read raw, an oversized
    message's Spanish emergency went unseen, and so did one at the end of 40 KB."""
    client = await _session(strict.url)
    mark = len(client.events)
    ack = await client.sio.call("user_uttered", {**payload, "session_id": client.session_id}, timeout=10)
    assert ack["error"]["code"] == "too_large", ack
    assert "llame al 911" in (await client.wait_for("bot_uttered", is_911, after=mark))["text"]
    await client.close()


async def test_the_rating_comment_is_read_for_an_emergency(strict: Any) -> None:
    """Probe U: "help my husband is hitting me" in the comment box under the rating got no 911 answer."""
    client = await _session(strict.url)
    assert (await client.say("hello"))["ok"]
    await client.wait_for("bot_uttered", lambda d: d.get("sender") != "resident")
    mark = len(client.events)
    comment = "help my husband is hitting me"
    ack = await client.sio.call("csat", {"session_id": client.session_id, "rating": 1, "comment": comment},
                                timeout=10)
    assert ack == {"ok": True}
    assert "911" in (await client.wait_for("bot_uttered", is_911, after=mark))["text"]
    # a refused rating is read first too
    other = await _session(strict.url)
    ack = await other.sio.call("csat", {"session_id": other.session_id, "rating": 9, "comment": FIRE_ES}, timeout=10)
    assert ack["error"]["code"] == "malformed"
    assert "llame al 911" in (await other.wait_for("bot_uttered", is_911))["text"]
    # an ordinary comment is only stored (another chat: a chat is rated once)
    third = await _session(strict.url)
    assert (await third.say("hello"))["ok"]
    mark = len(third.events)
    assert (await third.sio.call("csat", {"session_id": third.session_id, "rating": 4,
                                          "comment": "quick and helpful"}, timeout=10)) == {"ok": True}
    assert not [d for _, d in third.events[mark:] if is_911(d)]
    await client.close()
    await other.close()
    await third.close()


async def test_emergency_before_api_rejections(redis_server: Any) -> None:
    from tests.support.channel_standins import bare_server

    server = await bare_server(redis_server.url, "input-api", CHAT311_LIMITS__SESSION_MESSAGES="2",
                               CHAT311_LIMITS__SESSION_WINDOW_S="3600")
    try:
        app = App(server.url, issue(server, "input app")["token"])
        status, conv = await app.call("POST", "/api/v1/conversations", {"user_id": "fire-1", "language": "es"})
        assert status == 201
        path = f"/api/v1/conversations/{conv['id']}/messages"
        status, body = await app.call("POST", path, {"text": f"{FIRE_ES} " + "x" * 2001})
        assert status == 400 and body["error"]["code"] == "too_long"
        assert "911" in body["emergency"]["text"] and body["emergency"]["language"] == "es"
        # the published API description allows what the API sends (a client generated from it keeps the 911 answer)
        components = document(server.url, 2000)["components"]
        jsonschema.validate(body, {"$ref": "#/components/schemas/Error", "components": components})
        for i in range(2):
            assert (await app.call("POST", path, {"text": f"hola {i}"}))[0] == 201
        status, body = await app.call("POST", path, {"text": FIRE_EN})
        assert status == 429 and body["error"]["code"] == "rate_limited"
        status, listing = await app.call("GET", path)
        assert status == 200
        stored = [m for m in listing["messages"] if is_911(m)]
        assert len(stored) == 1, "the 429 came in the same window as the 400's answer: bounded to one"
        # A non-emergency rejection carries no emergency answer.
        status, body = await app.call("POST", path, {"text": "x" * 2001})
        assert status == 400 and "emergency" not in body
        # Probe X: a body under another key, or too large to decode, its accents escaped by the client's JSON
        # ("est\\u00e1"), got no answer: each is read as the resident wrote it (a conversation each: one answer a
        # window)
        for refused, code in (({"message": FIRE_ES_ACCENTED}, "malformed"),
                              ({"text": FIRE_ES_ACCENTED + " " + "x" * 100_000}, "too_large")):
            status, other = await app.call("POST", "/api/v1/conversations", {"user_id": f"fire-{code}"})
            assert status == 201
            status, body = await app.call("POST", f"/api/v1/conversations/{other['id']}/messages", refused)
            assert body["error"]["code"] == code and "llame al 911" in body["emergency"]["text"], body
    finally:
        await server.stop()


async def _upload(url: str, session: str) -> str:
    form = aiohttp.FormData()
    form.add_field("session_id", session)
    form.add_field("file", JPEG, filename="p.jpg", content_type="image/jpeg")
    async with aiohttp.ClientSession() as http, http.post(f"{url}/api/media", data=form) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["media_url"])


async def test_attachment_must_be_this_sessions_upload(strict: Any) -> None:
    alice, bob = await _session(strict.url), await _session(strict.url)
    alices_photo = await _upload(strict.url, alice.session_id or "")
    photo_path = alices_photo.removeprefix(strict.url)
    for url in ("/media/../../etc/passwd", f"{strict.url}/media/..%2F..%2Fetc%2Fpasswd", alices_photo, photo_path,
                "/media/" + "A" * 24 + ".jpg", "https://evil.example/media/x.jpg"):
        ack = await bob.say("look", attachment={"type": "image", "url": url})
        assert ack["ok"] is False and ack["error"]["code"] == "bad_attachment", (url, ack)
    ack = await alice.say("my photo", attachment={"type": "image", "url": photo_path})
    assert ack["ok"], ack
    mine = await alice.wait_for("resident_uttered", lambda d: d.get("text") == "my photo")
    assert mine["attachment"]["url"] == alices_photo
    for client in (alice, bob):
        await client.close()


async def test_bad_payloads_get_specific_errors_and_the_connection_stays(strict: Any) -> None:
    raw = RawSocketIO(strict.url)
    await raw.connect()
    try:
        # probe X: a session_id of the wrong type silently opened a new session
        assert (await raw.call("session_request", {"session_id": ["a"]}))["error"]["code"] == "malformed"
        assert (await raw.call("session_request", {"last_message_id": "0"}))["ok"]
        big = await raw.call("user_uttered", {"message": "x" * 100_000})
        assert big["error"]["code"] == "too_large", big
        deep: Any = "deep"
        for _ in range(5000):
            deep = [deep]
        # Built by hand: Python's json.dumps itself refuses to go 5,000 levels deep.
        ack_id = 77
        await raw.send(f"42{ack_id}" + '["user_uttered",{"message":"hi","x":' + "[" * 5000 + "]" * 5000 + "}]")
        while not (packet := await raw.read()).startswith(f"43{ack_id}"):
            pass
        assert json.loads(packet[len(f"43{ack_id}"):])[0]["error"]["code"] == "too_deep"
        await raw.send('4278["user_uttered",{"message":"bad \\ud800 text"}]')
        while not (packet := await raw.read()).startswith("4378"):
            pass
        assert json.loads(packet[4:])[0]["error"]["code"] == "invalid_text"
        await raw.send('4279["user_uttered",{"message": "not json"')
        while not (packet := await raw.read()).startswith("4379"):
            pass
        assert json.loads(packet[4:])[0]["error"]["code"] == "invalid_json"
        # A valid surrogate pair is an ordinary emoji, not an error.
        ok = await raw.call("user_uttered", {"message": "pothole \U0001f600"})
        assert ok["ok"] is True, ok
    finally:
        raw.close()


async def test_invalid_utf8_closes_the_websocket_with_1007(strict: Any) -> None:
    """RFC 6455 requires failing the connection on a non-UTF-8 text frame: the server says why (1007)."""
    raw = RawSocketIO(strict.url)
    await raw.connect()
    assert raw.writer is not None and raw.reader is not None
    payload = b'42["user_uttered",{"message":"\xff\xfe"}]'
    mask = b"\x01\x02\x03\x04"
    raw.writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    await raw.writer.drain()
    async with asyncio.timeout(10):
        while True:
            head = await raw.reader.readexactly(2)
            data = await raw.reader.readexactly(head[1] & 0x7F)
            if head[0] & 0x0F == 0x8:
                break
    assert int.from_bytes(data[:2], "big") == 1007
    raw.close()
    other = await _session(strict.url)  # nobody else is affected
    assert (await other.say("hello"))["ok"]
    await other.close()


class PollingClient:
    """Engine.IO v4 over HTTP long-polling, by hand: a client library would never send bad bytes."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.base = f"{url}/socket.io/?EIO=4&transport=polling"
        self.http = http
        self.sid = ""
        self.packets: list[str] = []

    async def open(self) -> None:
        async with self.http.get(self.base) as resp:
            self.sid = json.loads((await resp.text())[1:])["sid"]
        await self.post(b"40")
        await self.until(lambda p: p.startswith("40"))

    async def post(self, body: bytes) -> None:
        async with self.http.post(f"{self.base}&sid={self.sid}", data=body,
                                  headers={"Content-Type": "text/plain;charset=UTF-8"}) as resp:
            assert resp.status == 200, (resp.status, await resp.text())

    async def until(self, found: Any) -> str:
        """Poll until a packet satisfies `found` (each GET returns what the server has queued)."""
        async with asyncio.timeout(20):
            while True:
                hit = next((p for p in self.packets if found(p)), None)
                if hit is not None:
                    return hit
                async with self.http.get(f"{self.base}&sid={self.sid}") as resp:
                    for packet in (await resp.text()).split("\x1e"):
                        if packet == "2":
                            await self.post(b"3")  # answer the server's ping
                        self.packets.append(packet)


async def test_polling_body_that_is_not_utf8_gets_911_and_invalid_utf8_and_the_connection_stays(
        strict: Any) -> None:
    async with aiohttp.ClientSession() as http:
        poll = PollingClient(strict.url, http)
        await poll.open()
        await poll.post(b'420["session_request",{"last_message_id":"0"}]')
        session_id = json.loads((await poll.until(lambda p: p.startswith("430")))[3:])[0]["session_id"]
        bad = f'421["user_uttered",{{"message":"{FIRE_EN} \xff\xfe","session_id":"{session_id}"}}]'
        await poll.post(bad.encode("latin-1"))
        ack = json.loads((await poll.until(lambda p: p.startswith("431")))[3:])[0]
        assert ack["ok"] is False and ack["error"]["code"] == "invalid_utf8", ack
        events = [(e[0], e[1] if len(e) > 1 else None) for e in (json.loads(p[2:]) for p in poll.packets
                                                                 if p.startswith("42["))]
        assert any(name == "error" and (data or {}).get("code") == "invalid_utf8" for name, data in events), events
        assert any(name == "bot_uttered" and is_911(data) for name, data in events), events
        good = json.dumps(["user_uttered", {"message": "pothole on main street", "session_id": session_id}])
        await poll.post(f"422{good}".encode())
        ack = json.loads((await poll.until(lambda p: p.startswith("432")))[3:])[0]
        assert ack["ok"] is True, ack


async def test_api_bad_bodies_get_specific_errors(redis_server: Any) -> None:
    from tests.support.channel_standins import bare_server

    server = await bare_server(redis_server.url, "input-api-bodies")
    try:
        token = issue(server, "bodies app")["token"]
        app = App(server.url, token)
        status, conv = await app.call("POST", "/api/v1/conversations", {"user_id": "bodies-1"})
        path = f"{server.url}/api/v1/conversations/{conv['id']}/messages"
        headers = {**app.headers, "Content-Type": "application/json"}
        cases = [
            (json.dumps({"text": "x" * 100_000}).encode(), 413, "too_large"),
            (b'{"text": "hi", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "too_deep"),
            (b'{"text": "bad \xff\xfe"}', 400, "invalid_utf8"),
            (b'{"text": "bad \\udc00 text"}', 400, "invalid_text"),
            (b'{"text": ', 400, "invalid_json"),
        ]
        async with aiohttp.ClientSession() as http:
            for body, want_status, want_code in cases:
                async with http.post(path, data=body, headers=headers) as resp:
                    got = await resp.json()
                    assert (resp.status, got["error"]["code"]) == (want_status, want_code), (body[:40], got)
        status, _ = await app.call("POST", f"/api/v1/conversations/{conv['id']}/messages", {"text": "still ok"})
        assert status == 201
    finally:
        await server.stop()


async def test_forwarded_for_cannot_fake_an_ip_by_default(bare_factory: Any) -> None:
    server = await bare_factory(name="input-xff", CHAT311_REDIS__KEY_PREFIX=f"'xf{uuid.uuid4().hex[:6]}:'",
                                CHAT311_LIMITS__SESSION_MESSAGES="100", CHAT311_LIMITS__IP_MESSAGES="3",
                                CHAT311_LIMITS__IP_WINDOW_S="3600")
    clients = []
    for i in range(4):
        client = ResidentClient(server.url, headers={"X-Forwarded-For": f"203.0.113.{i}"})
        await client.connect()
        await client.start_session(last_message_id="0")
        clients.append(client)
    acks = [await c.say("hello") for c in clients]
    assert [a["ok"] for a in acks] == [True, True, True, False], "X-Forwarded-For split one IP's ceiling"
    for client in clients:
        await client.close()


async def test_fair_turns_serve_a_quiet_source_before_a_flood() -> None:
    turns = FairTurns(concurrency=1, per_source=1, memory_s=60)
    order: list[str] = []
    release = asyncio.Event()

    async def turn(source: str, tag: str) -> None:
        async with turns.turn(source):
            order.append(tag)
            await release.wait()

    first = asyncio.create_task(turn("ip:flood", "flood-0"))
    await asyncio.sleep(0)
    flood = [asyncio.create_task(turn("ip:flood", f"flood-{i}")) for i in range(1, 6)]
    await asyncio.sleep(0)
    quiet = asyncio.create_task(turn("ip:quiet", "quiet"))
    await asyncio.sleep(0)
    assert turns.pending("ip:flood") == 6 and turns.pending("ip:quiet") == 1
    release.set()
    await asyncio.gather(first, *flood, quiet)
    assert order[:2] == ["flood-0", "quiet"], order  # the quiet source jumped the flood's queue
    assert turns.pending("ip:flood") == 0


async def test_fair_turns_bound_concurrency_and_per_source() -> None:
    turns = FairTurns(concurrency=3, per_source=2, memory_s=60)
    running: dict[str, int] = {}
    peak = {"total": 0, "a": 0}
    gate = asyncio.Event()

    async def turn(source: str) -> None:
        async with turns.turn(source):
            running[source] = running.get(source, 0) + 1
            peak["total"] = max(peak["total"], sum(running.values()))
            peak["a"] = max(peak["a"], running.get("a", 0))
            await gate.wait()
            running[source] -= 1

    tasks = [asyncio.create_task(turn("a")) for _ in range(5)] + [asyncio.create_task(turn("b")) for _ in range(2)]
    await asyncio.sleep(0.01)
    assert sum(running.values()) == 3 and running["a"] == 2
    cancelled = tasks[4]
    cancelled.cancel()  # a waiting turn given up (client gone) leaves the queue
    gate.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert peak == {"total": 3, "a": 2} and turns.pending("a") == 0 and turns.pending("b") == 0


async def test_fair_turns_rank_a_flooded_conversation_by_its_whole_backlog() -> None:
    """Forty flooded conversations each show one turn at the gate (the rest wait for the conversation's
    previous turn); a resident who has used the bot more than each of them still goes first."""
    turns = FairTurns(concurrency=1, per_source=1, memory_s=60)
    order: list[str] = []
    release = asyncio.Event()
    locks = {f"ip:{i}": asyncio.Lock() for i in range(40)}

    async def message(source: str, lock: asyncio.Lock) -> None:
        with turns.handling(source):  # as ConversationService does: counted before the conversation's lock
            async with lock, turns.turn(source):
                order.append(source)
                await release.wait()

    resident = asyncio.Lock()
    for _ in range(3):  # the resident has had more turns than any flooder (highest recent usage)
        async with turns.turn("ip:resident"):
            pass
    first = asyncio.create_task(message("ip:0", locks["ip:0"]))
    await asyncio.sleep(0)
    flood = [asyncio.create_task(message(src, lock)) for src, lock in locks.items() for _ in range(3)]
    await asyncio.sleep(0)
    asked = asyncio.create_task(message("ip:resident", resident))
    await asyncio.sleep(0)
    assert turns.pending("ip:1") == 3 and turns.pending("ip:resident") == 1
    release.set()
    await asyncio.gather(first, *flood, asked)
    assert order[:2] == ["ip:0", "ip:resident"], order[:5]
    assert turns.pending("ip:1") == 0 and turns.pending("ip:resident") == 0


async def test_fair_turns_rank_a_source_by_its_refused_messages_too() -> None:
    """A flooder whose backlog is momentarily as short as a resident's still goes after the resident
    when most of its messages were refused; its few served turns alone would rank it first."""
    turns = FairTurns(concurrency=1, per_source=1, memory_s=60)
    order: list[str] = []
    release = asyncio.Event()

    async def turn(source: str) -> None:
        with turns.handling(source):
            async with turns.turn(source):
                order.append(source)
                await release.wait()

    for _ in range(3):  # the resident has been served three turns, the flooder none…
        async with turns.turn("ip:resident"):
            pass
    for _ in range(10):  # …but the flooder had ten messages refused
        turns.refused("ip:flood")
    first = asyncio.create_task(turn("ip:other"))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(turn("ip:flood")), asyncio.create_task(turn("ip:resident"))]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *waiting)
    assert order == ["ip:other", "ip:resident", "ip:flood"], order


async def test_a_chat_is_rated_once(strict: Any) -> None:
    """Probe X: twenty ratings of 1 from one chat were all counted (the day's average went from 3.0 to 1.26)."""
    client = await _session(strict.url)
    assert (await client.say("hello"))["ok"]
    first = await client.sio.call("csat", {"session_id": client.session_id, "rating": 5}, timeout=10)
    assert first == {"ok": True}
    for rating in (1, 1):
        again = await client.sio.call("csat", {"session_id": client.session_id, "rating": rating}, timeout=10)
        assert again["error"]["code"] == "already_rated", again
    await client.close()
