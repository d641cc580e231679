"""A button's title typed instead of tapped is that button: pure, no I/O.

SMS and e-mail show buttons as a numbered list, and residents answer with the words as often as with the
number; widget residents type "no" to "Was this helpful?". Sent to the bot as typed, "More details" was
not understood, and "yes" / "no" were a general "Great! What else…", so the article's feedback was never
counted. Only the message the resident answers (the one just before theirs) counts, and only an exact
title, compared without case, accents or punctuation: "más detalles", "Si", "no." — not a sentence that
happens to contain one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chat_server.sanitize import fold

# Longer than any button title: a message this long is the resident's own words, not a title.
MAX_TITLE_CHARS = 80


def typed_button(said: str, quick_replies: Iterable[dict[str, Any]]) -> str | None:
    """The payload of the offered button whose title `said` is, or None."""
    if len(said) > MAX_TITLE_CHARS:
        return None
    folded = fold(said)
    if not folded:
        return None
    return next((str(q["payload"]) for q in quick_replies
                 if q.get("payload") and fold(str(q.get("title") or "")) == folded), None)
