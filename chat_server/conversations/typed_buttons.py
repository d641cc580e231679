"""A button's title typed instead of tapped is that button: pure, no I/O.

SMS and e-mail show buttons as a numbered list, and residents answer with the words as often as with the
number; widget residents type "no" to "Was this helpful?". Sent to the bot as typed, "More details" was
not understood, and "yes" / "no" were a general "Great! What else…", so the article's feedback was never
counted. Only the message the resident answers (the one just before theirs) counts, and only an exact
title, compared without case, accents or punctuation: "más detalles", "Si", "no." — not a sentence that
happens to contain one. The one exception is the answer to "Was this helpful?" in words: "no that didn't
help", "no me sirvió", "yes it helped" are its No and Yes ("no that didn't help" got "Okay, no problem" and
the article's feedback was lost).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from chat_server.sanitize import fold

# Longer than any button title: a message this long is the resident's own words, not a title.
MAX_TITLE_CHARS = 80

FEEDBACK_INTENT = "/kb_feedback"
# Folded (sanitize.fold: lower case, no accents or punctuation). "no that didn't help", "not helpful",
# "no me sirvio", "eso no me ayudo para nada"; and "yes it helped", "si me sirvio, gracias".
_NOT_HELPFUL = re.compile(
    r"^(?:(?:no|nope|nah)\s+)?(?:(?:that|it|this|eso|esto)\s+)?(?:"
    r"(?:did|does|was|is)\s*n\W?t\s+(?:help|work|answer)\w*|(?:did|does|was|is)\s+not\s+(?:help|work|answer)\w*|"
    r"not\s+(?:helpful|useful|really)|no\s+(?:me\s+)?(?:sirv|ayud)\w*|no\s+(?:fue|es)\s+util|no\s+era\s+eso)"
    r"(?:\s+(?:me|at all|much|mucho|nada|para nada))*$")
_HELPFUL = re.compile(
    r"^(?:(?:yes|yeah|yep|yup|si)\s+)?(?:(?:that|it|this|eso|esto)\s+)?(?:(?:really\s+)?help(?:ed|s|ful)|"
    r"(?:me\s+)?(?:sirvio|ayudo)|(?:fue|es)\s+util)(?:\s+(?:a lot|mucho|thanks?|thank you|gracias))*$")


def typed_button(said: str, quick_replies: Iterable[dict[str, Any]]) -> str | None:
    """The payload of the offered button whose title `said` is, or None."""
    if len(said) > MAX_TITLE_CHARS:
        return None
    folded = fold(said)
    if not folded:
        return None
    offered = list(quick_replies)
    titled = next((str(q["payload"]) for q in offered
                   if q.get("payload") and fold(str(q.get("title") or "")) == folded), None)
    if titled is not None:
        return titled
    helpful = False if _NOT_HELPFUL.match(folded) else True if _HELPFUL.match(folded) else None
    if helpful is None:
        return None
    return next((str(q["payload"]) for q in offered if _feedback(str(q.get("payload") or "")) is helpful), None)


def _feedback(payload: str) -> bool | None:
    """Whether a /kb_feedback{…} payload says helpful; None for any other payload."""
    if not payload.startswith(FEEDBACK_INTENT + "{"):
        return None
    try:
        helpful = json.loads(payload[len(FEEDBACK_INTENT):]).get("helpful")
    except (ValueError, AttributeError):
        return None
    return helpful if isinstance(helpful, bool) else None
