"""A chat report that duplicates an open ticket: tell the resident, then follow / add / file anyway.

`form_completed` comes here first. When `TicketService.find_duplicate` finds an open ticket, the
report is parked on the conversation (`pending_report`, JSON) and the resident is asked what to do;
their answer is taken before the bot sees it (a `ConversationService` turn handler):
- follow it: the conversation is recorded as a follower (conversation, channel, language);
- add my details: the description (redacted) becomes a public note and the photo is attached,
  and they follow it;
- file anyway: the parked report is filed as usual;
- don't file (or "cancel", "no", "olvídalo"): the parked report is dropped and nothing is filed.
Anything else is asked once more. A second message that is none of the four puts the report on hold
(`duplicate_on_hold`, the buttons again) and goes on to the bot, which answers it: nothing is filed
without a choice (the problem is already reported), and the resident is never stuck in the question.
While on hold only the buttons, or their titles typed, answer it; everything else is the bot's.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from chat_server.conversations.store import Conversation, Message
from chat_server.texts import button_for, text
from chat_server.tickets.catalogue import Service, TicketValidationError
from chat_server.tickets.service import TicketService, format_date, status_words
from chat_server.tickets.store import OPEN, Ticket

log = logging.getLogger("chat311.tickets")

FOLLOW, ADD, FILE, DROP = "/duplicate_follow", "/duplicate_add", "/duplicate_file", "/duplicate_drop"
_WORDS = {FOLLOW: ("follow", "follow it", "seguir", "seguirla", "seguirlo"),
          ADD: ("add", "add my details", "agregar", "añadir"),
          FILE: ("file anyway", "file", "new", "file a new one", "nuevo", "registrar", "registrar otro"),
          DROP: ("dont file", "don't file", "do not file", "cancel", "never mind", "nevermind", "no", "no thanks",
                 "no registrar", "cancelar", "no gracias", "olvidalo", "olvídalo", "ya no", "nada")}


# the question's buttons, in the order they are offered (copy key → payload)
_BUTTONS = {"duplicate_follow_button": FOLLOW, "duplicate_add_button": ADD, "duplicate_file_button": FILE,
            "duplicate_drop_button": DROP}


def button_choice(said: str) -> str | None:
    """A button: its payload, or its title typed (or sent by a client that sends titles), in either language.
    While the report is on hold only these answer the question: a plain "no" then most likely answers the bot."""
    raw = said.strip()
    return raw if raw in _WORDS else button_for(raw, _BUTTONS)


def choice(said: str) -> str | None:
    """Which of the four answers the resident gave (a button, its title, or words), if any."""
    if (button := button_choice(said)) is not None:
        return button
    words = re.sub(r"[^\wáéíóúñü\s]", "", said.strip().lower()).strip()
    return next((payload for payload, options in _WORDS.items() if words in options), None)


class DuplicateFlow:
    def __init__(self, tickets: TicketService) -> None:
        self.tickets = tickets
        self.chats = tickets.chats

    async def file_or_ask(self, conv: Conversation, service: Service, data: dict[str, Any], language: str) -> None:
        """File a completed chat report, unless it is already reported: then ask first."""
        existing = await self.tickets.find_duplicate(service.service_code, data)
        if existing is None:
            await self.file(conv, service, data, language)
            return
        pending = json.dumps({"service_code": service.service_code, "data": data, "language": language,
                              "duplicate": existing.id}, ensure_ascii=False, default=str)
        await self.chats.store.update(conv.id, pending_report=pending)
        await self.ask(conv, existing, language)

    async def ask(self, conv: Conversation, existing: Ticket, language: str, key: str = "duplicate_found") -> None:
        service = self.tickets.catalogue.get(existing.service_code)
        status = status_words(existing.status, existing.sub_status, language)
        tz = self.tickets.terms.timezone
        # where the other one is: "1 Main St" in another town read as the same problem (probe AB)
        place = text("duplicate_place", language, address=existing.public_place) if existing.public_place else ""
        body = text(key, language, ticket_id=existing.id,
                    service=service.name(language) if service else existing.service_code,
                    date=format_date(existing.requested_at, language, tz), status=status, place=place)
        if existing.expected_at and existing.status == OPEN:  # "when will it be fixed?" is the usual next question
            body += text("status_expected", language, date=format_date(existing.expected_at, language, tz))
        buttons = [{"title": text(key, language), "payload": payload} for key, payload in _BUTTONS.items()]
        await self.chats.say(conv, "bot", body, language, quick_replies=buttons)

    async def file(self, conv: Conversation, service: Service, data: dict[str, Any], language: str) -> None:
        try:
            await self.tickets.create_for_conversation(conv, service.service_code, data, source="chat")
        except TicketValidationError as exc:
            log.warning("bot form did not validate", extra={"conv": conv.id, "service_code": service.service_code,
                                                            "error": exc.description})
            await self.chats.say(conv, "bot", self.tickets.problem_text(exc, service, language), language)
        except Exception:
            log.exception("ticket creation failed", extra={"conv": conv.id, "service_code": service.service_code})
            await self.chats.say(conv, "bot", text("ticket_failed", language), language)

    async def handle(self, conv: Conversation, message: Message) -> bool:
        """Turn handler: True when the message answered the duplicate question."""
        raw = conv.get("pending_report")
        if not raw or message.sender != "resident":
            return False
        pending = json.loads(raw)
        language = str(pending.get("language") or conv.language)
        existing = await self.tickets.get(str(pending["duplicate"]))
        service = self.tickets.catalogue.get(str(pending["service_code"]))
        on_hold = bool(pending.get("on_hold"))
        answer = button_choice(message.text) if on_hold else choice(message.text)
        if service is None:
            await self.chats.store.update(conv.id, pending_report="")
            return False
        if answer is None and on_hold:
            return False  # the bot answers; the report waits for a button
        if answer is None and existing is not None:
            again = not pending.get("asked_again")
            await self.chats.store.update(conv.id, pending_report=json.dumps(
                {**pending, "asked_again": True, "on_hold": not again}))
            await self.ask(conv, existing, language, "duplicate_found" if again else "duplicate_on_hold")
            return again  # on hold: the bot answers the message too
        await self.chats.store.update(conv.id, pending_report="")
        conv.fields["pending_report"] = ""
        if answer == DROP:
            await self.chats.say(conv, "bot", text("duplicate_dropped", language), language)
            return True
        if existing is None or answer == FILE or answer is None:
            await self.file(conv, service, dict(pending["data"]), language)
            return answer is not None  # a message that was no answer still gets the bot's reply
        elif answer == FOLLOW:
            await self.tickets.follow(existing, conv, language)
            await self._following(conv, existing, "duplicate_following", language)
        else:
            try:
                await self.tickets.add_details(existing, conv, dict(pending["data"]), language)
            except TicketValidationError as exc:
                await self.chats.say(conv, "bot", self.tickets.problem_text(exc, service, language),
                                                 language)
                return True
            await self._following(conv, existing, "duplicate_added", language)
        return True

    async def _following(self, conv: Conversation, ticket: Ticket, key: str, language: str) -> None:
        """Say that the resident now follows `ticket`, with its status link."""
        custom = await self.tickets.tell_followed(conv, ticket, language)
        await self.chats.say(conv, "bot", text(key, language, ticket_id=ticket.id), language, custom=custom)
