"""Hypothesis fuzzing of the Socket.IO handlers and the Open311 POST against a real server.

Hypothesis generates the inputs (random event names, deeply nested / huge / binary payloads,
raw malformed Engine.IO packets, random form bodies); each is sent to a real chat_server. The
server must answer with an error (ack or `error` event, or close an over-sized connection),
never crash, and `/healthz` must stay up throughout. Examples are drawn up front and replayed
in order so the test runs on the session's event loop; a failure names the exact input.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat_server.config import LimitsConfig
from tests.support.clients import ResidentClient
from tests.support.faults import RawSocketIO
from tests.support.open311 import new_api_key
from tests.support.servers import quoted_prefix

KNOWN_EVENTS = ["session_request", "user_uttered", "end_chat", "csat"]
RESERVED = {"connect", "disconnect", "connect_error", "message"}
FUZZ_PREFIX = "tfuzz:"
# The server's Engine.IO buffer is at least limits.max_event_bytes (default 16384): a packet no
# longer than that must always be answered.
MAX_EVENT_BYTES = LimitsConfig().max_event_bytes

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=50),
                      st.sampled_from(["0", "1-0", "9" * 40, "../../etc", "<script>", "/request_human", "\u202e"]))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                             st.dictionaries(st.text(max_size=12), inner, max_size=5)),
                          max_leaves=30)
huge = st.builds(lambda n, c: c * n, st.integers(min_value=1_000, max_value=60_000), st.sampled_from("xé🙂"))


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for i in range(depth):
        value = {"m": value} if i % 2 else [value]
    return value


payload = st.one_of(
    json_value,
    st.fixed_dictionaries({"message": st.one_of(st.text(max_size=3000), json_value, huge)},
                          optional={"session_id": st.one_of(st.text(max_size=80), json_value),
                                    "last_message_id": st.one_of(st.text(max_size=50), json_value),
                                    "metadata": st.one_of(json_value, st.fixed_dictionaries(
                                        {}, optional={"client_msg_id": json_value, "language": json_value,
                                                      "attachment": json_value}))}),
    st.fixed_dictionaries({"rating": json_value, "comment": st.one_of(json_value, huge)}),
    st.binary(max_size=2048),
    st.builds(_nested, st.integers(min_value=10, max_value=400)),
    huge,
)
event_name = st.one_of(st.sampled_from(KNOWN_EVENTS), st.text(min_size=1, max_size=60)).filter(
    lambda e: e not in RESERVED)
raw_packet = st.one_of(st.sampled_from(["42", "42[", "42[]", "42[1]", "42[null]", '42["user_uttered"',
                                        "4", "49", "41", "40/nope,", "43", "431[]", "2", "6", "9", "",
                                        '42["session_request",{"session_id":{"$gt":""}}]',
                                        '451-["user_uttered",{"_placeholder":true,"num":7}]']),
                       st.text(max_size=200).map(lambda t: "42" + t))


def draw(strategy: Any, count: int) -> list[Any]:
    """Let Hypothesis choose `count` inputs (its generation, not replayed shrinking)."""
    out: list[Any] = []

    @settings(max_examples=count, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    collect()
    return out


async def _healthy(url: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz",
                                                         timeout=aiohttp.ClientTimeout(10)) as resp:
        assert resp.status == 200


def packet_chars(event: str, data: Any) -> int:
    """Length of the Socket.IO text packet the client sends for `call(event, data)`: the size the
    server's Engine.IO buffer limit (`max_http_buffer_size`) is checked against."""
    encoded = socketio.packet.Packet(socketio.packet.EVENT, data=[event, data], id=1).encode()
    return len(encoded[0] if isinstance(encoded, list) else encoded)


@pytest.fixture(scope="module")
async def fuzz_server(bare_factory: Any) -> Any:
    return await bare_factory(name="fuzz", CHAT311_LIMITS__SESSION_MESSAGES="100000",
                              CHAT311_LIMITS__IP_MESSAGES="1000000",
                              CHAT311_REDIS__KEY_PREFIX=quoted_prefix(FUZZ_PREFIX))


async def test_fuzz_socketio_events_never_crash(fuzz_server: Any) -> None:
    cases = draw(st.tuples(event_name, payload, st.booleans()), 120)
    client: ResidentClient | None = None
    answered = dropped = 0
    for i, (event, data, with_session) in enumerate(cases):
        if client is None or not client.sio.connected:
            client = ResidentClient(fuzz_server.url)
            await client.connect()
            if with_session:
                await client.start_session(last_message_id="0")
        mark = len(client.events)
        oversized = packet_chars(event, data) > MAX_EVENT_BYTES
        try:
            # An over-sized packet makes the server drop the connection: no ack will come.
            ack = await client.sio.call(event, data, timeout=3 if oversized else 15)
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError,
                socketio.exceptions.DisconnectedError):
            # Only acceptable for a packet over the limit; any other silence is a bug.
            assert oversized, f"case {i}: no answer to {event!r} ({packet_chars(event, data)} chars)"
            dropped += 1
            client = None
        else:
            answered += 1
            assert isinstance(ack, dict) and "ok" in ack, f"case {i}: ack {ack!r} for {event!r}"
            if ack["ok"] is False:
                assert set(ack["error"]) == {"code", "message"}
                await client.wait_for("error", after=mark, timeout=10)
        if i % 10 == 0:
            await _healthy(fuzz_server.url)
    await _healthy(fuzz_server.url)
    assert answered > len(cases) // 2
    if client is not None:
        await client.close()
    # the server still does its job afterwards
    fresh = ResidentClient(fuzz_server.url)
    await fresh.connect()
    await fresh.start_session(last_message_id="0")
    assert (await fresh.say("still there?"))["ok"]
    await fresh.close()


async def test_fuzz_raw_engineio_packets(fuzz_server: Any) -> None:
    for i, packet in enumerate(draw(raw_packet, 60)):
        raw = RawSocketIO(fuzz_server.url)
        await raw.connect()
        try:
            await raw.send(packet)
            with contextlib.suppress(TimeoutError, ConnectionError, asyncio.IncompleteReadError):
                async with asyncio.timeout(0.3):
                    await raw.read()
        finally:
            raw.close()
        if i % 10 == 0:
            await _healthy(fuzz_server.url)
    await _healthy(fuzz_server.url)


async def test_fuzz_open311_post_never_crashes(fuzz_server: Any, redis_server: Any) -> None:
    _, api_key = await asyncio.to_thread(new_api_key, redis_server, FUZZ_PREFIX, "fuzz")
    form = st.dictionaries(st.sampled_from(["service_code", "lat", "long", "address_string", "description",
                                            "email", "first_name", "phone", "media_url", "attribute[TYPE]",
                                            "api_key", "idempotency_key", "jurisdiction_id", "device_id"])
                           | st.text(max_size=20), st.one_of(st.text(max_size=300), huge.map(lambda s: s[:5000]),
                                                             st.sampled_from(["POTHOLE", "-91", "1e999", "NaN"])),
                           max_size=8)
    # Most bodies carry a valid api_key and a fileable base (GENERAL needs no location), so the fuzz
    # reaches validation and filing, not only the 403 for a missing key.
    keyed = st.builds(lambda extra: {"service_code": "GENERAL", "description": "fuzz", **extra, "api_key": api_key},
                      form)
    statuses: list[int] = []
    url = fuzz_server.url
    async with aiohttp.ClientSession() as http:
        cases = draw(st.tuples(st.one_of(keyed, keyed, form), st.sampled_from(["json", "xml", "csv"])), 150)
        for i, (body, fmt) in enumerate(cases):
            # Encoded here, not by aiohttp: its FormData refuses control characters in field names,
            # and the server must cope with whatever bytes a client sends.
            async with http.post(f"{url}/open311/v2/requests.{fmt}", data=urlencode(body),
                                 headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
                assert resp.status < 500, f"case {i}: {resp.status} for {body!r}: {(await resp.text())[:300]}"
                statuses.append(resp.status)
            if i % 10 == 0:
                await _healthy(url)
        await _healthy(url)
    assert len(statuses) == len(cases)
    # Each path was exercised: filed (200), rejected input (400), refused key (403).
    assert {200, 400, 403} <= set(statuses), sorted(set(statuses))
