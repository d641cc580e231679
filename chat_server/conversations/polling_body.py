"""Long-polling bodies that are not UTF-8: answered `invalid_utf8` like every other undecodable packet.

Engine.IO decodes a polling POST body strictly and, when that fails, logs a traceback and drops the
whole body: the resident hears nothing, and an emergency written next to a bad byte goes unanswered.
WebSocket has its own rule (close code 1007), but a polling POST can be answered. Each Engine.IO packet
of the body that is not UTF-8 is replaced by the namespace's `INVALID_PAYLOAD` event (same packet type,
namespace and ack id), carrying the readable part of the text, so the namespace checks it for an
emergency, sends `error {code: invalid_utf8}` and acks it; the connection stays open. Valid packets of
the same body pass unchanged. A non-event packet that is not UTF-8 carries no resident text and no
ack id; it is left out (and logged), as Engine.IO has no packet to stand in for it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from chat_server.conversations.payloads import INVALID_PAYLOAD

SEPARATOR = b"\x1e"  # Engine.IO v4 record separator between packets of one polling payload
# Engine.IO message (4) + Socket.IO event (2), optional "/namespace," and ack id, then the JSON array.
_EVENT = re.compile(rb"^42(/[^,\x1e]*,)?([0-9]*)(.*)$", re.DOTALL)
log = logging.getLogger("chat311.polling")
MESSAGE = "the message is not valid UTF-8 text"


def _replacement(packet: bytes) -> bytes | None:
    """None for a packet that is not an event (no resident text, no ack to answer): it is left out."""
    match = _EVENT.match(packet)
    if match is None:
        log.warning("dropped a non-UTF-8 Engine.IO packet that is not an event (%d bytes)", len(packet))
        return None
    namespace, ack, body = match.groups()
    readable = body.decode("utf-8", "replace")
    error = {"code": "invalid_utf8", "message": MESSAGE, "raw": readable}
    return b"42" + (namespace or b"") + ack + json.dumps([INVALID_PAYLOAD, error]).encode()


def repair(body: bytes) -> bytes:
    """The body with every non-UTF-8 packet turned into an `invalid_utf8` error event."""
    try:
        body.decode("utf-8")
        return body
    except UnicodeDecodeError:
        pass
    packets = []
    for packet in body.split(SEPARATOR):
        try:
            packet.decode("utf-8")
            packets.append(packet)
        except UnicodeDecodeError:
            replaced = _replacement(packet)
            if replaced is not None:
                packets.append(replaced)
    return SEPARATOR.join(packets)


class _RepairedInput:
    """Engine.IO reads a POST body with `await environ['wsgi.input'].read(length)`."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    async def read(self, length: int = -1) -> bytes:
        return repair(await self.stream.read(length))


def install(eio: Any) -> None:
    """Wrap the Engine.IO server's request translation so polling bodies go through `repair`."""
    translate: Callable[..., dict[str, Any]] = eio._async["translate_request"]

    def translate_request(*args: Any, **kwargs: Any) -> dict[str, Any]:
        environ = translate(*args, **kwargs)
        if environ.get("REQUEST_METHOD") == "POST":
            environ["wsgi.input"] = _RepairedInput(environ["wsgi.input"])
        return environ

    eio._async = {**eio._async, "translate_request": translate_request}
