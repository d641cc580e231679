"""Leaving a request when nobody can take the chat: ask first, ask how to call back, file once.

Used when the line is closed (or closing), when no agent with the right skills is online, and when
a queued resident chooses "Leave my question instead". The resident's answers are taken before the
bot sees them (a `ConversationService` turn handler) while `callback_step` is set on the
conversation; anything that is not an answer to the consent question hands the turn back to the
bot, so a request is filed only after a clear yes. The ticket's idempotency key is the
conversation, so asking again can never file a second one.

A resident who has only asked for a person ("talk to someone", then "yes") is asked what it is about
before the way to call back, so the specialist's request says more than "talk to a person"; the
conversation service marks a conversation `topic_said` once the bot has seen anything but small talk.

A resident who asked for a person in the middle of a report (`paused_report`: the report's intent) is offered
to finish it instead; a yes to that, or "continue my report" typed, sends the bot that intent
(`resume_report`, the `resume` hook), and the bot picks up the answers it kept.

Conversation fields: callback_step (consent | question | contact | phone | email | resume), callback_method (the way
to call back chosen with the yes: "yes please call me"), callback_question (the question was answered),
callback_source,
callback_since (ms; the transcript is what the resident said, leaving out their answers to the offer's
questions after that time), callback_ticket, paused_report (set by the escalation service: the intent of the
report the bot left half-filled), resume_report (a yes to finishing it; the `resume` hook acts on it).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from chat_server.agents import callback_replies as replies
from chat_server.agents.callback_replies import Method
from chat_server.conversations.service import ConversationService, Incoming
from chat_server.conversations.store import Conversation, Message
from chat_server.texts import text
from chat_server.tickets.service import TicketService

log = logging.getLogger("chat311.routing")

CONSENT, QUESTION, CONTACT, PHONE, EMAIL, RESUME = "consent", "question", "contact", "phone", "email", "resume"
_ASK = {QUESTION: "callback_ask_question", CONTACT: "callback_how", PHONE: "callback_ask_phone",
        EMAIL: "callback_ask_email"}
# Which step each of the offer's buttons answers (a button pressed after its offer lapsed resumes there).
_BUTTON_STEPS = {replies.CONSENT_YES: CONSENT, replies.CONSENT_NO: CONSENT, replies.SKIP: QUESTION,
                 replies.BY_PHONE: CONTACT, replies.BY_EMAIL: CONTACT, replies.NO_CALLBACK: CONTACT}


def resident_summary(messages: list[Message], limit: int = 1500) -> str:
    """What the resident said (payload buttons left out), for tickets filed without an agent."""
    lines = [m.text.strip() for m in messages if m.sender == "resident" and m.text.strip()
             and not m.text.strip().startswith("/")]
    body = "\n".join(lines) or "Resident asked to talk to a person."
    return body if len(body) <= limit else body[: limit - 1] + "…"


class CallbackFlow:
    def __init__(self, chats: ConversationService, tickets: TicketService | None) -> None:
        self.chats = chats
        self.tickets = tickets

    def _buttons(self, conv: Conversation, *pairs: tuple[str, str]) -> dict[str, Any]:
        return {"quick_replies": [{"title": text(key, conv.language), "payload": payload} for key, payload in pairs]}

    async def _set(self, conv: Conversation, **fields: str) -> None:
        await self.chats.store.update(conv.id, **fields)
        conv.fields.update(fields)

    async def offer(self, conv: Conversation, source: str, intro_key: str, **fmt: Any) -> None:
        """Say why nobody can chat now and ask whether to leave a request (nothing is filed yet)."""
        if self.tickets is None:
            await self.chats.say_system(conv, "no_escalation")
            return
        if conv.get("callback_ticket"):
            await self.chats.say_system(conv, "callback_already", ticket_id=conv.get("callback_ticket"))
            return
        await self._set(conv, callback_step=CONSENT, callback_source=source,
                        callback_since=str(int(time.time() * 1000)))
        buttons = [("callback_yes_button", replies.CONSENT_YES), ("callback_no_button", replies.CONSENT_NO)]
        paused = self._paused_report(conv)
        if paused:
            intro = text(intro_key, conv.language, **fmt) + text("callback_or_continue", conv.language)
            await self.chats.say(conv, "system", intro, **self._buttons(conv, *buttons, paused))
            return
        await self.chats.say_system(conv, intro_key, **fmt, extra=self._buttons(conv, *buttons))

    @staticmethod
    def _paused_report(conv: Conversation) -> tuple[str, str] | None:
        """The "Continue my report" button when the resident asked for a person in the middle of a report:
        its payload starts that report again, and the bot picks up the answers it kept."""
        label = conv.get("paused_report")
        return ("callback_continue_button", f"/{label}") if label else None

    async def ask_contact(self, conv: Conversation, source: str) -> None:
        """The resident already chose to leave a request: only the way to call back is missing."""
        if conv.get("callback_ticket"):
            await self.chats.say_system(conv, "callback_already", ticket_id=conv.get("callback_ticket"))
            return
        await self._set(conv, callback_source=source, callback_since=str(int(time.time() * 1000)))
        await self._ask_first(conv)

    async def _ask_first(self, conv: Conversation) -> None:
        await self._ask(conv, self._how(conv) if await self._has_topic(conv) else QUESTION)

    @staticmethod
    def _how(conv: Conversation) -> str:
        """How to call back: the way already chosen ("yes please call me" → the number), else the question."""
        return conv.get("callback_method") or CONTACT

    async def _has_topic(self, conv: Conversation) -> bool:
        """Whether the resident has said what the request is about: the bot understood more than small talk,
        they answered the offer's question, or one of their messages names more than a person."""
        if conv.get("topic_said") or conv.get("callback_question"):
            return True
        return any(m.sender == "resident" and not replies.answers_the_offer(m.text) and replies.names_a_topic(m.text)
                   for m in await self.chats.store.messages(conv.id))

    async def _known_contact(self, conv: Conversation, step: str) -> str | None:
        """The number (by SMS) or address (by e-mail) the resident writes from, when `step` asks for that kind.
        By SMS, "the number I am texting from" lost the request: it was no number, so the offer lapsed."""
        address = await self.chats.store.session_field(conv.session, "address") or ""
        if step == PHONE:
            return replies.phone_number(address)
        return replies.email_address(address) if step == EMAIL else None

    async def _ask(self, conv: Conversation, step: str) -> None:
        await self._set(conv, callback_step=step)
        known = await self._known_contact(conv, step)
        if known is not None:
            await self.chats.say_system(conv, f"{_ASK[step]}_known", contact=known, extra=self._buttons(
                conv, (f"callback_this_{step}_button", replies.THIS_CONTACT), ("callback_none_button",
                                                                              replies.NO_CALLBACK)))
            return
        pairs = [("callback_none_button", replies.NO_CALLBACK)]
        if step == QUESTION:
            pairs = [("callback_skip_button", replies.SKIP)]
        elif step == CONTACT:
            pairs = [("callback_phone_button", replies.BY_PHONE), ("callback_email_button", replies.BY_EMAIL), *pairs]
        await self.chats.say_system(conv, _ASK[step], extra=self._buttons(conv, *pairs))

    async def handle(self, conv: Conversation, message: Message) -> bool:
        """Turn handler: True when the message answered a callback question."""
        if message.sender != "resident":
            return False
        step = conv.get("callback_step")
        if not step:
            step = self._stale_button_step(conv, message.text)
            if step and conv.get("callback_ticket"):
                await self.chats.say_system(conv, "callback_already", ticket_id=conv.get("callback_ticket"))
                return True
        if not step:
            return False
        if step == RESUME:
            return await self._resume_answer(conv, message.text)
        if step == CONSENT:
            return await self._consent(conv, message.text)
        if replies.withdraws(message.text):
            await self._set(conv, callback_step="")
            await self.chats.say_system(conv, "callback_declined")
            return True
        answer = replies.contact(message.text)
        if answer is None and step in (PHONE, EMAIL) and replies.means_this_contact(message.text):
            known = await self._known_contact(conv, step)
            if known is not None:
                await self._file(conv, {step: known})
                return True
        if step == QUESTION:
            if answer is not None and answer.value is not None:
                await self._file(conv, {answer.method.value: answer.value})  # straight to a number or address
                return True
            if not replies.skips_the_question(message.text):
                await self._take_question(conv)
            await self._ask(conv, self._how(conv))
            return True
        if answer is None and step in (PHONE, EMAIL) and replies.moves_on(message.text):
            await self._set(conv, callback_step="")  # a new question, not a number: the bot takes it
            return False
        if answer is None and step == CONTACT:
            # Told "I can leave your question", residents often type the question here: it joins the request
            # (a stray "x" is no question: only asked again).
            if replies.names_a_topic(message.text):
                await self.chats.say_system(conv, "callback_noted")
            await self._ask(conv, step)
        elif answer is None or (answer.value is None and answer.method.value == step):
            await self._ask(conv, step)  # not understood: ask the same question again
        elif answer.method is Method.NONE and not await self._has_topic(conv):
            # No question and no way to reach them: a specialist could do nothing with it.
            await self._set(conv, callback_step="")
            await self.chats.say_system(conv, "callback_nothing")
        elif answer.method is Method.NONE:
            await self._file(conv, {})
        elif answer.value is None:
            await self._ask(conv, answer.method.value)
        else:
            await self._file(conv, {answer.method.value: answer.value})
        return True

    async def _resume_answer(self, conv: Conversation, text: str) -> bool:
        """The answer to "your report is not filed yet; shall we finish it?"."""
        await self._set(conv, callback_step="")
        if replies.consent(text) is True or replies.continues_report(text):
            await self._set(conv, resume_report="1")
            return False  # the bot takes the turn; `resume` sends it the report
        if replies.consent(text) is False or replies.withdraws(text):
            # the answers stay with the bot: "actually, let's continue" still brings the report back
            await self.chats.say_system(conv, "report_dropped")
            return True
        return False  # something else: the bot answers it, and the report stays where it was

    async def resume(self, conv: Conversation, incoming: Incoming) -> None:
        """Before the bot's turn: a yes to finishing the paused report, or "continue my report" typed, is sent
        to the bot as the report's intent (its button already is). The offer is used up either way."""
        label = conv.get("paused_report")
        if not label:
            return
        wanted = conv.get("resume_report") or replies.continues_report(incoming.text)
        if wanted or incoming.text.strip() == f"/{label}":
            await self._set(conv, paused_report="", resume_report="")
        if wanted:
            incoming.bot_text = f"/{label}"

    async def _consent(self, conv: Conversation, text: str) -> bool:
        if conv.get("paused_report") and replies.continues_report(text):  # "yes, continue": the report, not a request
            await self._set(conv, callback_step="")
            return False
        agreed = replies.consent(text)
        lead = replies.leading_consent(text) if agreed is None else None
        if agreed is None and lead is None:
            # they moved on (or chose to finish their report): the bot takes it, nothing is filed
            await self._set(conv, callback_step="")
            return False
        if agreed is False:
            paused = self._paused_report(conv)
            await self._set(conv, callback_step=RESUME if paused else "")
            if paused:
                await self.chats.say_system(conv, "callback_declined_report", extra=self._buttons(conv, paused))
            else:
                await self.chats.say_system(conv, "callback_declined")
            return True
        rest = lead[1] if lead is not None else ""
        answer = replies.contact(rest) if rest else None
        if answer is not None and answer.value is not None:  # "yes call me at 704-555-3321"
            await self._file(conv, {answer.method.value: answer.value})
        elif answer is not None and answer.method is not Method.NONE:  # "yes please call me"
            await self._set(conv, callback_method=answer.method.value)
            await self._ask_first(conv)
        elif rest and replies.names_a_topic(rest):  # "sí, es sobre mi recibo del agua"
            await self._take_question(conv)
            await self._ask(conv, CONTACT)
        else:
            await self._ask_first(conv)
        return True

    async def _take_question(self, conv: Conversation) -> None:
        """What the resident typed answers "what is it about?" (it joins the transcript by itself)."""
        await self._set(conv, callback_question="1")
        await self.chats.say_system(conv, "callback_noted")

    @staticmethod
    def _stale_button_step(conv: Conversation, text: str) -> str:
        """The step an earlier offer's button answers, pressed after that offer lapsed (the resident talked
        about something else meanwhile): the offer picks up there. "" when it is no such button."""
        return _BUTTON_STEPS.get(text.strip(), "") if conv.get("callback_source") else ""

    async def _file(self, conv: Conversation, contact: dict[str, str]) -> None:
        tickets = self.tickets
        assert tickets is not None  # offer() checked
        since = int(conv.get("callback_since") or 0) or None
        said = [m for m in await self.chats.store.messages(conv.id)
                if since is None or m.ts < since or not replies.answers_the_offer(m.text)]
        data = {"transcript": resident_summary(said), "idempotency_key": f"callback:{conv.id}", **contact}
        try:
            # The resident's own words are private: the transcript, never the public description.
            ticket = await tickets.create_for_conversation(conv, "GENERAL", data,
                                                           source=conv.get("callback_source") or "after_hours")
        except Exception:
            log.exception("callback request failed", extra={"conv": conv.id})
            await self._set(conv, callback_step="")
            await self.chats.say_system(conv, "no_escalation")
            return
        await self._set(conv, callback_step="", callback_ticket=ticket.id)
        if conv.get("paused_report"):  # the half-filled report is not a second request: say where it went
            await self._set(conv, paused_report="")
            await self.chats.say_system(conv, "callback_report_included")
        if not contact:  # "a specialist will follow up": with no number or address, only where they can see it
            await self.chats.say_system(conv, "callback_no_contact", ticket_id=ticket.id)
