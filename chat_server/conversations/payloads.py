"""Decoding untrusted JSON from residents' clients into a clear error instead of a crash or silence.

Python's json module raises RecursionError on deep nesting, accepts lone surrogates (`"\\ud800"`)
that later fail when stored, and parses whatever size it is given. `decode` checks size first
(cheap), then syntax, depth and text, and raises `PayloadError(code, message)`:

  too_large     more than `max_bytes` bytes
  invalid_utf8  bytes that are not UTF-8
  too_deep      nested deeper than MAX_DEPTH arrays/objects
  invalid_json  not JSON
  invalid_text  a string holds a lone UTF-16 surrogate (not a character)

`SocketIOJson` is the same rule as python-socketio's `json` module: a packet that fails becomes
the event `INVALID_PAYLOAD` with the error as its data, so the packet's ack id survives and the
namespace answers it like any other bad event (resident_ns.py) while the connection stays open.
`packet_class` hands it to one server only. python-socketio's `json=` argument would instead set it
on the library's global Packet classes (socketio's and engineio's), so every Socket.IO client and
Redis manager in the process would drop packets over the limit too.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from socketio import packet

from chat_server.refusal import Refusal

MAX_DEPTH = 32
# Random per process, so a client cannot send this event itself with an error of its choosing.
INVALID_PAYLOAD = f"__invalid_payload_{secrets.token_hex(8)}"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class PayloadError(Refusal, ValueError):
    def __init__(self, code: str, message: str, raw: str = "") -> None:
        super().__init__(code, message)
        self.raw = raw  # the text as received (for the emergency check before the rejection)


def refused_payload(data: object) -> PayloadError:
    """The refusal an INVALID_PAYLOAD event carries (its data as `loads` below made it), for any namespace."""
    error = data if isinstance(data, dict) else {}
    raw = error.get("raw")
    return PayloadError(str(error.get("code", "invalid_json")), str(error.get("message", "unreadable message")),
                        raw if isinstance(raw, str) else "")


def _too_deep(value: object) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _has_lone_surrogate(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def decode(raw: str | bytes, max_bytes: int) -> Any:
    if len(raw) > max_bytes:  # str length ≤ its UTF-8 size: a cheap first cut
        raise PayloadError("too_large", f"the message is larger than {max_bytes} bytes",
                           raw if isinstance(raw, str) else "")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError("invalid_utf8", "the message is not valid UTF-8 text") from exc
    elif len(raw.encode("utf-8", "surrogatepass")) > max_bytes:
        raise PayloadError("too_large", f"the message is larger than {max_bytes} bytes", raw)
    try:
        value = json.loads(raw)
    except RecursionError as exc:
        raise PayloadError("too_deep", f"the message is nested deeper than {MAX_DEPTH} levels", raw) from exc
    except ValueError as exc:
        raise PayloadError("invalid_json", "the message is not valid JSON", raw) from exc
    if _too_deep(value):
        raise PayloadError("too_deep", f"the message is nested deeper than {MAX_DEPTH} levels", raw)
    if (_SURROGATE_ESCAPE.search(raw) or _SURROGATE.search(raw)) and _has_lone_surrogate(value):
        raise PayloadError("invalid_text", "the message contains an invalid character (a lone UTF-16 surrogate)",
                           raw)
    return value


class SocketIOJson:
    """A `json` module for python-socketio whose `loads` turns undecodable packets into INVALID_PAYLOAD."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    @staticmethod
    def dumps(value: Any, **kwargs: Any) -> str:
        return json.dumps(value, **kwargs)

    def loads(self, raw: str | bytes, **kwargs: Any) -> Any:
        try:
            return decode(raw, self.max_bytes)
        except PayloadError as exc:
            return [INVALID_PAYLOAD, {**exc.as_dict(), "raw": exc.raw}]


def packet_class(max_bytes: int) -> type[packet.Packet]:
    """The server's own Packet class (python-socketio's `serializer=`), decoding with the limit."""
    return type("LimitedPacket", (packet.Packet,), {"json": SocketIOJson(max_bytes)})
