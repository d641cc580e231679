"""chat_server's metadata on a bot turn: the resident's language (en or es), and how they write to us."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa_sdk import Tracker

from actions import parsing

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


@dataclass(frozen=True)
class Writing:
    """How the resident writes to us on this turn."""

    # SMS, e-mail and apps: no widget, so no 📍 or 📷 button to name (an app's own screens are not ours to describe)
    by_text: bool = False
    phone: str | None = None  # the number an SMS comes from: the report form offers it rather than asking
    email: str | None = None  # the address an e-mail comes from

    def known(self, step: str) -> str | None:
        """The contact this channel already has for the form's `phone` or `email` step."""
        return {"phone": self.phone, "email": self.email}.get(step)


ON_THE_WEB = Writing()  # the widget: its 📍 and 📷 buttons, and no contact known


def writing_of(tracker: Tracker) -> Writing:
    metadata = turn_metadata(tracker)
    channel, contact = metadata.get("channel"), str(metadata.get("contact") or "")
    return Writing(by_text=channel in ("sms", "email", "api"),
                   phone=parsing.validate_phone(contact) if channel == "sms" else None,
                   email=parsing.validate_email(contact) if channel == "email" else None)
