"""chat_server's metadata on a bot turn: the resident's language (en or es), and whether they are texting."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

LANGUAGES = ("en", "es")


def turn_metadata(tracker: Tracker) -> dict[str, Any]:
    """What chat_server sends with the latest message: language, channel, media_url, ticket_id."""
    metadata = (tracker.latest_message or {}).get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def language_of(tracker: Tracker) -> str:
    """chat_server's metadata on the latest message, else the `language` slot, else en."""
    lang = turn_metadata(tracker).get("language")
    if lang in LANGUAGES:
        return lang
    slot = tracker.get_slot("language")
    return slot if slot in LANGUAGES else "en"


def texting(tracker: Tracker) -> bool:
    """SMS and e-mail: buttons are a numbered list, and there is no 📍 or 📷 button to press."""
    return turn_metadata(tracker).get("channel") in ("sms", "email")
