"""The event size limit is for residents' packets to one server, not for anything else in the process.

Two whole apps run in this test's process as two workers on one Redis with the Socket.IO Redis
manager, and the test's own python-socketio client is in the same process. python-socketio's
`json=` server argument sets the JSON module on the library's global Packet classes, so a limit
given that way also held every Redis manager's messages from other workers and every client's
packets from the server: an emit larger than the limit was dropped silently on the way.
"""

from __future__ import annotations

from typing import Any

from chat_server.context import CTX
from chat_server.conversations.service import session_room
from tests.support.agents import fresh_prefix
from tests.support.clients import ResidentClient
from tests.support.servers import in_process_app
from tests.support.waiting import until

LIMIT = 4096  # max(max_event_bytes, 16 × max_message_chars)
WORKER = {"server": {"redis_manager": True},
          "limits": {"max_event_bytes": LIMIT, "max_message_chars": 200}}


async def test_an_emit_larger_than_the_event_limit_reaches_a_resident_on_another_worker(redis_server: Any) -> None:
    prefix = fresh_prefix()
    async with in_process_app(redis_server.url, prefix, **WORKER) as (_, worker_a), \
            in_process_app(redis_server.url, prefix, **WORKER) as (url_b, _):
        resident = ResidentClient(url_b)
        await resident.connect()
        try:
            session = await resident.start_session()
            # A long bot answer (an article's details, say) sent by the worker that ran the turn.
            text = "Details of the bulky item collection rules. " * (3 * LIMIT // 44)
            assert len(text) > 2 * LIMIT
            await worker_a[CTX].sio.emit("bot_uttered", {"text": text}, room=session_room(session))
            got = await resident.wait_for("bot_uttered", lambda d: d.get("text") == text)
            assert len(got["text"]) == len(text)
            # The limit still holds what a resident sends to the server.
            ack = await resident.say("x" * (2 * LIMIT))
            assert ack["ok"] is False and ack["error"]["code"] == "too_large", ack
        finally:
            await resident.close()


async def test_a_client_that_starts_on_long_polling_upgrades_to_websocket(bare_factory: Any) -> None:
    """Socket.IO clients by default (and the widget where WebSockets fail first) connect with long-polling and
    then upgrade. The upgrade's probe ("2probe") is an Engine.IO packet, which the residents' JSON limit
    given as `json=` turned into an invalid-payload event in the server: the probe failed, and the client
    stayed on polling. The server is a process of its own here, as in production."""
    server = await bare_factory(name="upgrade", CHAT311_REDIS__KEY_PREFIX=f"'{fresh_prefix()}'")
    resident = ResidentClient(server.url, transports=["polling", "websocket"])
    await resident.connect()
    try:
        await until(lambda: resident.sio.transport() == "websocket", 10,
                    lambda _: f"still on {resident.sio.transport()} after the upgrade's time")
        await resident.start_session()
        assert (await resident.say("hello"))["ok"]
    finally:
        await resident.close()
