"""The resident's language for a bot turn (en or es), and whether they are texting (no buttons to press)."""

from __future__ import annotations

from rasa_sdk import Tracker

LANGUAGES = ("en", "es")


def language_of(tracker: Tracker) -> str:
    """chat_server's metadata on the latest message, else the `language` slot, else en."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    lang = metadata.get("language")
    if lang in LANGUAGES:
        return lang
    slot = tracker.get_slot("language")
    return slot if slot in LANGUAGES else "en"


def texting(tracker: Tracker) -> bool:
    """SMS and e-mail: buttons are a numbered list, and there is no 📍 or 📷 button to press."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    return metadata.get("channel") in ("sms", "email")
