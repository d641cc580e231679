"""The one rule every channel follows before refusing a resident's message: look for an emergency first.

A message refused for its length, its rate, its shape or anything else may still say "my house is
on fire". Before a channel sends its rejection it calls `answer_unseen`, which answers "call
911" in the resident's language (stored in the conversation and delivered like the guard's
answer) when the text describes an emergency; the channel's rejection follows.

Refused messages are exactly what a flood consists of, so these answers are bounded: at most
`per_window` per sender per window. The first emergency of a window is always answered; the
same sender's later ones in that window already have the answer on screen.
"""

from __future__ import annotations

import re
import time

from chat_server.conversations.service import ConversationService
from chat_server.conversations.store import Message
from chat_server.safety import emergency_language, emergency_reply

_PRUNE_AT = 10_000  # senders remembered before past windows are forgotten
# The guard's wordings are short; scanning a refused megabyte would make refusals expensive.
SCAN_CHARS = 20_000


# A JSON string escape: a surrogate pair, another \\uXXXX, or a one-letter escape.
_ESCAPE = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})|\\u([0-9a-f]{4})|\\([nrtbf\"\\/])",
                     re.IGNORECASE)
_ONE_LETTER = {"n": "\n", "r": "\r", "t": "\t", "b": " ", "f": " "}


def _unescape(match: re.Match[str]) -> str:
    high, low, single, letter = match.groups()
    if high:
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00))
    if single:
        code = int(single, 16)
        return " " if 0xD800 <= code <= 0xDFFF else chr(code)
    return _ONE_LETTER.get(letter, letter)


def readable(raw: str) -> str:
    """Refused raw JSON as the resident typed it. Clients escape what is not ASCII (python-socketio, Python's and
    PHP's JSON do by default), so "mi casa se est\\u00e1 quemando" in a payload too large to decode went unseen
    by the guard (probe X)."""
    return _ESCAPE.sub(_unescape, raw) if "\\" in raw else raw


def scanned(body: str) -> str:
    """What the guard reads of a refused text: its start and its end. All of a refused megabyte would make
    refusals expensive; the start alone missed "…my house is on fire" at the end of a long paste (probe X)."""
    return body if len(body) <= 2 * SCAN_CHARS else f"{body[:SCAN_CHARS]}\n{body[-SCAN_CHARS:]}"


def words_in(payload: object, limit: int = SCAN_CHARS) -> str:
    """Every string in a payload of any shape, joined: a message sent as a list, an object or under the wrong
    key is refused as malformed, but "my house is on fire" in it still gets its 911 answer (probe U)."""
    found: list[str] = []
    size = 0
    stack = [payload]
    while stack and size < limit:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
            size += len(item) + 1
        elif isinstance(item, dict):
            stack.extend(reversed([v for k, v in item.items() if k != "session_id"]))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
    return " ".join(found)[:limit]


class WindowGate:
    """At most `per_window` passes per key per fixed window, in this process's memory."""

    def __init__(self, per_window: int, window_s: float) -> None:
        self.per_window = max(1, per_window)
        self.window_s = max(window_s, 0.001)
        self._seen: dict[str, tuple[int, int]] = {}

    def allow(self, key: str) -> bool:
        window = int(time.monotonic() // self.window_s)
        current, count = self._seen.get(key, (window, 0))
        if current != window:
            count = 0
        if count >= self.per_window:
            return False
        if len(self._seen) >= _PRUNE_AT:
            self._seen = {k: v for k, v in self._seen.items() if v[0] == window}
        self._seen[key] = (window, count + 1)
        return True


class EmergencyFirst:
    def __init__(self, service: ConversationService, gate: WindowGate) -> None:
        self.service = service
        self.gate = gate

    def reply_for(self, body: str, language: str | None, sender: str) -> str | None:
        """The 911 answer for a refused `body` that nobody can be answered in a conversation for
        (e.g. no session yet), or None: no emergency, or this sender's answers are used up."""
        text = scanned(body)
        found = emergency_language(text)
        if found is None or not self.gate.allow(sender):
            return None
        return emergency_reply("es" if found == "es" else language or "en", text)

    async def answer_unseen(self, session: str, channel: str, body: str,
                               language: str | None = None) -> Message | None:
        """Answer an emergency in text the guard will not see (a refused message, the part cut off a long one, an
        e-mail's subject), in the session's conversation; None if it describes none."""
        text = scanned(body)
        if emergency_language(text) is None or not self.gate.allow(f"{channel}|{session}"):
            return None
        conv = await self.service.open_conversation(session, channel, language)
        return await self.service.answer_emergency(conv, text)

    async def before_truncation(self, session: str, channel: str, body: str, limit: int) -> Message | None:
        """SMS and e-mail keep the first `limit` characters of a long message; the guard then sees only
        those. An emergency described past that point is answered here, before the rest is cut."""
        if len(body) > limit and emergency_language(body[:limit]) is None:
            return await self.answer_unseen(session, channel, body)
        return None
