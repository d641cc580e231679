"""The conversation core: every channel's resident messages go through `handle_resident_message`.

It stores the message, keeps the sticky language, runs the emergency guard, relays to the
bot while the conversation is in the bot's hands, and turns the bot's custom payloads into
events for routing and tickets. Delivery back to the resident goes through the channel
registry (web = Socket.IO room of the session; SMS, API, e-mail register their own).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chat_server.conversations.bot_client import BotClient, BotReply, BotUnavailable
from chat_server.conversations.store import (
    BOT,
    CLOSED,
    QUEUED,
    TICKETED,
    Conversation,
    ConversationStore,
    Message,
)
from chat_server.conversations.turns import FairTurns
from chat_server.conversations.typed_buttons import MAX_TITLE_CHARS, typed_button
from chat_server.events import EventBus
from chat_server.labels import SMALL_TALK
from chat_server.language import StickyLanguage, asked_language, other_language, other_script
from chat_server.redaction import mask_payment_cards, redact
from chat_server.safety import asks_about_emergencies, crisis_line, emergency_language, emergency_reply
from chat_server.texts import text

log = logging.getLogger("chat311.conversations")

# Custom payload `event` names from the bot (bot/README.md) → internal event kinds (events.py).
BOT_EVENTS = {
    "escalate": "escalation_requested",
    "form_complete": "form_completed",
    "status_lookup": "status_lookup",
    "emergency": "emergency",
    "kb_feedback": "kb_feedback",
    "kb_menu_rejected": "kb_menu_rejected",
}


# The label a turn gets in the reports when the report form took the message as its answer.
FORM_ANSWER = "form_answer"


def residents_words(text: str) -> str:
    """What the resident wrote, "" for a button's payload (/follow_ticket{"ticket_id": …}): the widget's words are
    read for no language (probe AI: a retired article's button got "this chat understands English and Spanish")."""
    return "" if parse_command(text) else text


class DuplicateInFlight(Exception):
    """The same client message id is being processed right now (a resend raced the original)."""


class MeaningNet(Protocol):
    """What a message means, where the guard's wordings found nothing (safety_semantic.SemanticNet)."""

    def reads_emergency(self, text: str) -> bool: ...


class Channel(Protocol):
    """How a conversation's messages and status events reach the resident on one channel."""

    name: str
    supports_buttons: bool

    async def deliver(self, conv: Conversation, message: Message) -> None: ...

    async def notify(self, conv: Conversation, event: str, data: dict[str, Any]) -> None: ...


def session_room(session: str) -> str:
    return f"sess:{session}"


def plain_room(session: str) -> str:
    """Room of Rasa-protocol clients (rasa-webchat) of a session; they get Rasa's exact payloads."""
    return f"rasa:{session}"


@dataclass
class Incoming:
    """A resident message as any channel hands it over."""

    text: str
    ui_language: str | None = None
    client_msg_id: str | None = None
    attachment: dict[str, Any] | None = None
    extra_metadata: dict[str, Any] | None = None
    # Resolved as soon as the message is stored, before the bot's turn: lets a channel acknowledge
    # receipt at once (the widget sends its next message — maybe an emergency — only after that).
    recorded: asyncio.Future[Outcome] | None = None
    # Whose share of the bot this turn uses (turns.py): the web's IP; None = the session.
    source: str | None = None
    # What the bot is sent instead of `text`, set by a before-bot-turn hook: a typed "continue my report"
    # goes to the bot as that report's intent (agents/callback.py). The stored message stays as typed.
    bot_text: str | None = None
    # Set by a before-bot-turn hook that answered the message itself (an incident's notice to a resident
    # asking about it): the bot's "Sorry, I didn't understand" after that answer only confuses (probe AG).
    answered: bool = False


@dataclass
class Outcome:
    message: Message
    duplicate: bool = False


MessageListener = Callable[[Conversation, Message], Awaitable[None]]
# Runs before the bot answers a resident (e.g. an incident notice goes first); features register these.
TurnHook = Callable[[Conversation, Incoming], Awaitable[None]]
# Answers a resident message instead of the bot (True = handled): a question the server itself
# asked is waiting for its answer (callback consent, what to do about a duplicate report).
TurnHandler = Callable[[Conversation, Message], Awaitable[bool]]
CommandHandler = Callable[[Conversation, dict[str, Any]], Awaitable[None]]
COMMAND_RE = re.compile(r"^/([a-z_]{1,40})(\{.{0,500}\})?$", re.DOTALL)


# What the bot is sent for a message the emergency guard answered (the bot's `emergency` intent).
EMERGENCY_PAYLOAD = "/emergency"
PHOTO_ONLY = "(photo)"  # what a channel writes for a message that is only a photo (e-mail)
# Conversation field "<url> <turns left>": a photo sent with no words goes to the bot with the next few turns, so a
# report started then keeps it ("share my location", then "a pothole").
PHOTO_ALONE, PHOTO_ALONE_TURNS = "photo_alone", 3


def parse_command(body: str) -> tuple[str, dict[str, Any]] | None:
    """A button payload in Rasa's `/name{json}` form → (name, arguments); None for anything else."""
    match = COMMAND_RE.match(body.strip())
    if match is None:
        return None
    try:
        args = json.loads(match.group(2)) if match.group(2) else {}
    except ValueError:
        return None
    return (match.group(1), args) if isinstance(args, dict) else None


class ConversationService:
    def __init__(
        self,
        store: ConversationStore,
        bus: EventBus,
        bot: BotClient,
        sio: Any,
        language: StickyLanguage,
        slow_notice_s: float,
        turns: FairTurns,
    ) -> None:
        self.store = store
        self.bus = bus
        self.bot = bot
        self.sio = sio
        self.language = language
        self.slow_notice_s = slow_notice_s
        self.turns = turns
        self.channels: dict[str, Channel] = {}
        self.message_listeners: list[MessageListener] = []
        self.before_bot_turn: list[TurnHook] = []
        self.turn_handlers: list[TurnHandler] = []
        self.commands: dict[str, CommandHandler] = {}
        # set once the knowledge base's sentence model is loaded (knowledge/feature.py); None meanwhile or without it
        self.emergency_net: MeaningNet | None = None
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # delivery -------------------------------------------------------------
    def register_channel(self, channel: Channel) -> None:
        self.channels[channel.name] = channel

    def register_command(self, name: str, handler: CommandHandler) -> None:
        """A button payload `/name{...}` the server answers itself instead of the bot (e.g. following a
        ticket): the emergency guard still runs first; the bot never sees the payload."""
        self.commands[name] = handler

    async def deliver(self, conv: Conversation, message: Message) -> None:
        """Send a stored message to every tab of the session, the channel, and the listeners."""
        if message.extra.get("visibility") != "internal":
            await self.sio.emit(message.event_name, message.to_client(), room=session_room(conv.session))
            plain = message.to_rasa_client()
            if plain and conv.channel == "web" and await self.store.has_plain_clients(conv.session):
                await self.sio.emit("bot_uttered", plain, room=plain_room(conv.session))
            channel = self.channels.get(conv.channel)
            if channel is not None and message.sender != "resident":
                try:
                    await channel.deliver(conv, message)
                except Exception:
                    log.exception("channel delivery failed", extra={"conv": conv.id, "channel": conv.channel})
        for listener in list(self.message_listeners):
            try:
                await listener(conv, message)
            except Exception:
                log.exception("message listener failed", extra={"conv": conv.id})

    async def notify(self, conv: Conversation, event: str, data: dict[str, Any]) -> None:
        """A protocol extension event (queue_update, agent_joined, ticket_created, ...) to the resident."""
        await self.sio.emit(event, data, room=session_room(conv.session))
        channel = self.channels.get(conv.channel)
        if channel is not None:
            try:
                await channel.notify(conv, event, data)
            except Exception:
                log.exception("channel notify failed", extra={"conv": conv.id, "event": event})

    async def say(self, conv: Conversation, sender: str, body: str, language: str | None = None,
                  **extra: Any) -> Message:
        message = await self.store.append(conv, sender, body, language, **extra)
        await self.deliver(conv, message)
        return message

    async def say_system(self, conv: Conversation, key: str, **fmt: Any) -> Message:
        """A system message from the bilingual texts table, in the conversation's language."""
        extra = fmt.pop("extra", {})
        return await self.say(conv, "system", text(key, conv.language, **fmt), **extra)

    # conversations --------------------------------------------------------
    def lock(self, conversation_id: str) -> asyncio.Lock:
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[conversation_id] = lock
        return lock

    async def open_conversation(self, session: str, channel: str, language: str | None, **extra: str) -> Conversation:
        """The session's current conversation, or a new one if there is none or it is closed.

        A new one without a `language` (SMS and e-mail have no UI language) starts in English until its
        first words settle it (`_language_fields`)."""
        conv = await self.store.current_conversation(session)
        if conv is None or conv.state == CLOSED:
            if language is None:
                language, extra = "en", {**extra, "language_unsettled": "1"}
            conv = await self.store.create(session, channel, language, **extra)
            await self.bus.publish("conversation_created", conv.id, channel=channel, language=language)
        return conv

    async def close(self, conv: Conversation, reason: str, expected: tuple[str, ...] | None = None,
                    **fields: str) -> bool:
        if not await self.store.set_state(conv.id, CLOSED, expected, closed_reason=reason, **fields):
            return False
        conv.state = CLOSED
        await self.notify(conv, "conversation_closed", {"reason": reason})
        await self.bus.publish("conversation_closed", conv.id, reason=reason, **fields)
        return True

    # the resident's turn --------------------------------------------------
    async def handle_resident_message(self, session: str, channel: str, incoming: Incoming) -> Outcome:
        conv = await self.open_conversation(session, channel, incoming.ui_language)
        card_shared = (masked := mask_payment_cards(incoming.text)) != incoming.text
        if card_shared:  # stored, shown and sent to the bot masked; the resident is told why
            incoming = dataclasses.replace(incoming, text=masked)
        lock = self.lock(conv.id)
        if lock.locked() and emergency_language(incoming.text) is not None:
            # Safety first: an emergency must not wait behind a bot turn in flight (up to
            # rasa.timeout_s): store it and answer "call 911" now; the guard's answer is complete,
            # so this message does not also go to the bot.
            outcome = await self._record(conv, incoming)
            if not outcome.duplicate:
                await self.answer_emergency(conv, incoming.text)
            return outcome
        source = incoming.source or session
        waited = lock.locked()
        # A message for the bot counts in its source's backlog while it waits behind this conversation's
        # turn too (turns.py); one for an agent never reaches the bot's gate and counts nowhere.
        bot_bound = conv.state in (BOT, TICKETED)
        with self.turns.handling(source) if bot_bound else contextlib.nullcontext():
            async with lock:
                if waited:  # an earlier turn of this conversation ran meanwhile and may have moved it on
                    conv = await self.store.get(conv.id) or conv
                # In the queue nothing waits on it, and what the message means decides the queue's own answer
                # ("your message is kept" is no answer to an emergency): read while the message is stored.
                queued_meaning = self._read_meaning(incoming.text) if conv.state == QUEUED else None
                outcome = await self._record(conv, incoming, queued_meaning)
                if outcome.duplicate:
                    return outcome
                guard_fired = await self.answer_emergency(conv, incoming.text) is not None
                # read alongside the bot's turn (it costs a bot turn nothing), answered before the bot's reply
                meaning = queued_meaning or (self._read_meaning(incoming.text) if not guard_fired and conv.state in (
                    BOT, TICKETED) else None)
                mid_form_hit = False
                if meaning is not None and conv.state in (BOT, TICKETED) and conv.get("active_loop"):
                    # Mid-form the words would be taken as the answer ("not recognised as a location" after the 911
                    # line): read first, a hit is answered as the guard's is and the form asks its question again.
                    mid_form_hit, meaning = await self._answer_by_meaning(conv, meaning), None
                    guard_fired = mid_form_hit
                if card_shared:
                    await self.say_system(conv, "card_warning")
                command = parse_command(incoming.text) if self.commands and not guard_fired else None
                if command is not None and command[0] in self.commands:
                    await self.commands[command[0]](conv, command[1])
                elif conv.state in (BOT, TICKETED) and (
                        guard_fired or not await self._handled_by_server(conv, outcome.message)):
                    if command is None and not guard_fired:
                        await self._typed_button(conv, incoming, outcome.message)
                    emergency = mid_form_hit or (guard_fired and not asks_about_emergencies(incoming.text))
                    # After the 911 answer, no incident notice or "continue your report" (a water main break's
                    # notice followed "my neighbor's house is on fire", probe AG).
                    for hook in [] if emergency else list(self.before_bot_turn):
                        try:
                            await hook(conv, incoming)
                        except Exception:
                            log.exception("before-bot-turn hook failed", extra={"conv": conv.id})
                    if emergency:
                        # The guard has answered: the bot hears an emergency (its own 911 text is dropped; a form
                        # asks its question again), not the words as an answer or a question: "i want to kill
                        # myself" was "not recognised as a location", "ya no quiero vivir" got "okay, no problem".
                        # A question about emergencies ("what should i do if i ever smell gas") is answered too.
                        incoming.bot_text = EMERGENCY_PAYLOAD
                    async with self.turns.turn(source):
                        await self._bot_turn(conv, incoming, guard_fired, meaning)
                    meaning = None
                if meaning is not None:  # no bot turn (the queue, a server-handled answer): answered now
                    await self._answer_by_meaning(conv, meaning)
                return outcome

    async def _typed_button(self, conv: Conversation, incoming: Incoming, message: Message) -> None:
        """A title of the buttons the resident is answering, typed, goes to the bot as that button's payload."""
        if len(incoming.text) > MAX_TITLE_CHARS:
            return
        answered = await self.store.message_before(conv.id, message.id)
        if answered is not None and answered.sender != "resident":
            incoming.bot_text = typed_button(incoming.text, answered.extra.get("quick_replies") or ()) or None

    async def _handled_by_server(self, conv: Conversation, message: Message) -> bool:
        for handler in list(self.turn_handlers):
            try:
                if await handler(conv, message):
                    return True
            except Exception:
                log.exception("turn handler failed", extra={"conv": conv.id})
        return await self._photo_alone(conv, message)

    async def _photo_alone(self, conv: Conversation, message: Message) -> bool:
        """A photo with no words, outside a report form, is no question for the bot: "Could you rephrase?" answered
        it (many phones send a picture as a message of its own, probe AG). The resident is asked what it shows; a
        report started next keeps the photo."""
        words = message.text.strip() != PHOTO_ONLY and any(c.isalnum() for c in message.text)  # the widget's "📷"
        if words or not isinstance(message.extra.get("attachment"), dict) or conv.get("active_loop"):
            return False
        kept = f'{message.extra["attachment"].get("url") or ""} {PHOTO_ALONE_TURNS}'
        await self.store.update(conv.id, **{PHOTO_ALONE: kept})
        conv.fields[PHOTO_ALONE] = kept
        await self.say_system(conv, "photo_alone")
        return True

    async def _record(self, conv: Conversation, incoming: Incoming,
                      meaning: asyncio.Future[bool] | None = None) -> Outcome:
        """Store the resident's message once (client_msg_id) and show it on every tab and listener.

        The duplicate check, the language and media_url changes and the message itself are one
        Redis round trip (`store.record`): this runs for every message a resident sends. With `meaning`
        (the semantic net's reading), its `resident_message` event says whether the message means an emergency.
        """
        fields = self._language_fields(conv, incoming)
        if incoming.attachment and incoming.attachment.get("url"):
            fields["media_url"] = str(incoming.attachment["url"])
        stored = await self.store.record(conv, "resident", incoming.text, fields.get("language"),
                                         client_msg_id=incoming.client_msg_id, conv_fields=fields,
                                         attachment=incoming.attachment)
        if isinstance(stored, str):  # this client_msg_id was stored before
            existing = await self.store.message(conv.id, stored) if stored != "pending" else None
            if existing is not None:
                return self._recorded(incoming, Outcome(existing, duplicate=True))
            raise DuplicateInFlight(incoming.client_msg_id)
        message = stored
        conv.fields.update(fields)
        new = fields.get("language", conv.language)
        if new != conv.language:
            conv.language = new
            await self.notify(conv, "language", {"language": new})
        await self.deliver(conv, message)
        said = {"means_emergency": True} if meaning is not None and await self._means_emergency(conv, meaning) else {}
        await self.bus.publish("resident_message", conv.id, message_id=message.id, state=conv.state,
                               language=conv.language, channel=conv.channel, **said)
        return self._recorded(incoming, Outcome(message))

    @staticmethod
    def _recorded(incoming: Incoming, outcome: Outcome) -> Outcome:
        if incoming.recorded is not None and not incoming.recorded.done():
            incoming.recorded.set_result(outcome)
        return outcome

    def _language_fields(self, conv: Conversation, incoming: Incoming) -> dict[str, str]:
        """The conversation fields this message changes: its sticky language (and the widget's UI language)."""
        ui = incoming.ui_language
        said = residents_words(incoming.text)
        if ui and ui != conv.get("ui_language"):
            # An explicit language choice in the widget (or the first message's UI language) wins.
            new = ui if conv.get("ui_language") else self.language.update(None, said, ui)
            return {"ui_language": ui, "language": new}
        if conv.get("language_unsettled") and said.strip():
            # The first words of a conversation no UI language chose: judged as a widget's first message is
            # (an SMS "hola" was answered in English: a short message cannot switch a settled language).
            return {"language": self.language.update(None, said, conv.language), "language_unsettled": ""}
        if (asked := asked_language(said)) is not None:
            # "mejor hablo en español, mi inglés no es muy bueno" mid-report: the form went on in English (probe N)
            return {"language": asked} if asked != conv.language else {}
        if conv.get("active_loop"):
            # Mid-form answers are addresses, names and short values ("on the corner of Monroe Rd and Sharon
            # Amity" from a Spanglish speaker): a report started in one language finishes in it.
            return {}
        new = self.language.update(conv.language, said)
        return {"language": new} if new != conv.language else {}

    async def answer_emergency(self, conv: Conversation, body: str) -> Message | None:
        """The guard: "call 911" in the resident's language if `body` describes an emergency."""
        found = emergency_language(body)
        if found is None:
            return None
        language = "es" if found == "es" else conv.language
        return await self._say_emergency(conv, emergency_reply(language, body), language, "guard")

    async def _say_emergency(self, conv: Conversation, words: str, language: str, source: str) -> Message:
        """The 911 answer as the widget shows it (an alert: the `emergency` event), counted as an emergency."""
        message = await self.say(conv, "system", words, language, custom={"event": "emergency"})
        await self.bus.publish("emergency", conv.id, language=language, source=source)
        return message

    async def unreachable_emergency(self, session: str, channel: str, body: str, language: str, reason: str,
                                    callback: str) -> Conversation:
        """An emergency from a resident nothing may be sent to (an SMS number that replied STOP: the carrier refuses
        every text): kept in their conversation, which staff are alerted to (`unreachable`), with `callback`, the
        number to call them on. No bot turn, no reply: both would be texts."""
        conv = await self.open_conversation(session, channel, language)
        await self.store.update(conv.id, unreachable=reason, callback=callback)
        conv.fields.update(unreachable=reason, callback=callback)
        await self.store.append(conv, "resident", body, language)
        await self.bus.publish("emergency", conv.id, language=language, source="unreachable")
        return conv

    def _read_meaning(self, body: str) -> asyncio.Future[bool] | None:
        """The net under the wordings, where no person reads the message yet (the bot, the queue): whether `body`
        means an emergency, read in a worker thread; None without the net or for a button's payload."""
        net = self.emergency_net
        if net is None or not body.strip() or parse_command(body) is not None:
            return None
        return asyncio.ensure_future(asyncio.to_thread(net.reads_emergency, body))

    async def _answer_by_meaning(self, conv: Conversation, meaning: asyncio.Future[bool]) -> bool:
        """An emergency said in a way no wording knows gets the 911 answer, with the crisis line, as nothing says
        which kind it is. The message still goes on as typed (to the bot, or it waits for the agent), so a false
        alarm costs one line."""
        if not await self._means_emergency(conv, meaning):
            return False
        await self._say_emergency(conv, f"{emergency_reply(conv.language)} {crisis_line(conv.language)}",
                                  conv.language, "meaning")
        return True

    @staticmethod
    async def _means_emergency(conv: Conversation | None, meaning: asyncio.Future[bool]) -> bool:
        try:
            return await meaning
        except Exception:  # the model failed on this text: the wordings and the bot's own net remain
            log.exception("emergency semantic net failed", extra={"conv": conv.id if conv else None})
            return False

    async def describes_emergency(self, body: str) -> bool:
        """The wordings, then the net: whether `body` describes an emergency, for a channel deciding whether a text
        may wait (the SMS join). A net that fails on the text leaves the wordings' verdict."""
        if emergency_language(body) is not None:
            return True
        meaning = self._read_meaning(body)
        return meaning is not None and await self._means_emergency(None, meaning)

    async def _bot_turn(self, conv: Conversation, incoming: Incoming, guard_fired: bool,
                        meaning: asyncio.Future[bool] | None = None) -> None:
        metadata = {"language": conv.language, "channel": conv.channel, **(incoming.extra_metadata or {})}
        if incoming.attachment and incoming.attachment.get("url"):
            # This message's photo only: the conversation's last photo went with every later turn, so a
            # parking-ticket picture sent with a question became a later pothole report's public photo.
            metadata["media_url"] = str(incoming.attachment["url"])
        elif conv.get(PHOTO_ALONE):
            # ... or a photo sent on its own ("what does it show?"), until a report takes it, for a few turns
            url, _, turns = conv.get(PHOTO_ALONE).partition(" ")
            metadata["media_url"] = url
            left = int(turns or 1) - 1
            kept = f"{url} {left}" if left > 0 else ""
            await self.store.update(conv.id, **{PHOTO_ALONE: kept})
            conv.fields[PHOTO_ALONE] = kept
        # "what's the status?" right after filing, or "when will it be fixed?" after a status answer, needs no
        # request number
        if (ticket_id := conv.get("ticket_id") or conv.get("asked_ticket")):
            metadata["ticket_id"] = ticket_id
        await self.notify(conv, "typing", {"sender": "bot", "on": True})
        slow = asyncio.create_task(self._slow_notice(conv))
        reply: BotReply | BotUnavailable
        try:
            reply = await self.bot.send(conv.id, incoming.bot_text or incoming.text, metadata)
        except BotUnavailable as exc:
            reply = exc
        if meaning is not None:
            guard_fired = await self._answer_by_meaning(conv, meaning)
        if isinstance(reply, BotReply) and not reply.messages and not guard_fired:
            # A custom action that failed (the action server crashed): Rasa logs it, answers nothing, and the
            # resident heard nothing at all (probe X). Every turn of a resident has an answer.
            reply = BotUnavailable("error", "the bot's turn came back empty (a custom action failed)")
        slow.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await slow
        try:
            if isinstance(reply, BotUnavailable):
                await self._bot_unavailable(conv, incoming, reply)
            else:
                # read for a language, a retired article's button got "this chat understands English and Spanish"
                await self._apply_reply(conv, reply, guard_fired, residents_words(incoming.text), incoming.answered)
        finally:
            # Off only after every reply of the turn is stored and sent (docs/protocol.md: replies come
            # between typing on/off), so a client may take typing-off as the end of the bot's turn.
            await self.notify(conv, "typing", {"sender": "bot", "on": False})

    async def _slow_notice(self, conv: Conversation) -> None:
        await asyncio.sleep(self.slow_notice_s)
        await self.say_system(conv, "bot_slow")

    async def _apply_reply(self, conv: Conversation, reply: BotReply, guard_fired: bool, said: str = "",
                           answered: bool = False) -> None:
        """Store and send the bot's reply to the resident's message `said` (`answered` already by a hook)."""
        language = reply.language if reply.language in ("en", "es") else conv.language
        fields: dict[str, str] = {}
        if reply.label:
            fields["label"] = reply.label
            fields["label_confidence"] = f"{reply.confidence or 0:.3f}"
            if reply.label not in SMALL_TALK and not conv.get("topic_said"):
                fields["topic_said"] = "1"  # a request left for a specialist need not ask what it is about
        if reply.slots:
            fields["slots"] = json.dumps(reply.slots, ensure_ascii=False, default=str)
        fields["active_loop"] = reply.active_loop or ""
        if reply.active_loop and conv.get(PHOTO_ALONE):
            fields[PHOTO_ALONE] = ""  # the report has it
        await self.store.update(conv.id, **fields)
        conv.fields.update(fields)
        if reply.form_answer:
            # "Bike lane", "skip", "Submit": an answer to the report form's question, not a question the bot
            # failed to understand, whatever Rasa's label (the fallbacks report and the content inbox were
            # mostly these).
            await self.bus.publish("bot_answered", conv.id, label=FORM_ANSWER, confidence=None, language=language)
        elif reply.label == "nlu_fallback":
            await self.bus.publish("fallback", conv.id, confidence=reply.confidence,
                                   text=redact(await self._last_resident_text(conv)), language=language)
            await self._tell_languages(conv, other_language(said))
        elif reply.label:
            await self.bus.publish("bot_answered", conv.id, label=reply.label, confidence=reply.confidence,
                                   language=language)
            # another script is no English or Spanish whatever the bot made of it
            await self._tell_languages(conv, other_script(said))
        # After the guard's answer, the bot's "I didn't understand" would only confuse; a form's next question
        # (the form took the message as its answer, whatever Rasa's label) must still be asked.
        # A question about emergencies the bot did not understand is told so, like any other question (the 911 line
        # alone answered "la casa que se quemó el año pasado sigue llena de basura", probe AD).
        # So is it after an incident's notice answered the message.
        silenced = reply.label == "nlu_fallback" and not reply.active_loop and (
            (guard_fired and not asks_about_emergencies(said)) or answered)
        held = _text_before(reply.messages, "escalate")
        # The bot's own 911 text (sent just before its `emergency` event): the guard already said it, first.
        repeated = _text_before(reply.messages, "emergency") if guard_fired else {}
        # ... and when the bot read an emergency the guard did not, its text is the 911 answer: said as the guard's
        # is (an alert, not a plain bubble) and with the crisis line, since what kind it is is not known (probe AC).
        alarm = {} if guard_fired else _text_before(reply.messages, "emergency")
        for index, item in enumerate(reply.messages):
            if index + 1 in held:
                continue  # said by routing only once an agent is known to be available
            if index + 1 in repeated:
                continue
            if index + 1 in alarm:
                await self.say(conv, "system", f"{alarm[index + 1]} {crisis_line(language)}", language,
                               custom={"event": "emergency"})
                continue
            custom = item.get("custom")
            if isinstance(custom, dict) and custom.get("event") in BOT_EVENTS:
                kind = BOT_EVENTS[custom["event"]]
                if (kind == "emergency" and guard_fired) or (silenced and custom.get("reason") == "repeated_fallback"):
                    continue  # after the 911 answer, no "leave a request for tomorrow" because Rasa was lost
                data = {k: v for k, v in custom.items() if k != "event"}
                data.setdefault("language", language)
                if isinstance(data.get("question"), str):  # kb_feedback / kb_menu_rejected: the resident's words
                    data["question"] = redact(data["question"])
                if index in held:
                    data["announcement"] = held[index]
                await self.publish_conversation_event(conv, kind, data)
                continue
            body = item.get("text") or ""
            if silenced:
                continue
            buttons = item.get("buttons") or item.get("quick_replies")
            quick = [{"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                     for b in buttons if isinstance(b, dict)] if isinstance(buttons, list) else None
            attachment = {"type": "image", "url": item["image"]} if item.get("image") else item.get("attachment")
            if not (body or quick or attachment or custom):
                continue
            # form_active: a report is half-filled, so a client can ask before "End chat" throws it away
            await self.say(conv, "bot", body, language, quick_replies=quick or None, attachment=attachment,
                           custom=custom if isinstance(custom, dict) else None,
                           form_active=True if reply.active_loop else None)

    async def _tell_languages(self, conv: Conversation, other: bool) -> None:
        """Once per conversation, before the bot's reply to a message in a language we do not serve: which ones we
        do, and that 311 by phone has interpreters (probe V: French, Chinese, Vietnamese got English only)."""
        if not other or conv.get("told_languages"):
            return
        await self.store.update(conv.id, told_languages="1")
        conv.fields["told_languages"] = "1"
        await self.say_system(conv, "other_language")

    async def publish_conversation_event(self, conv: Conversation, kind: str, data: dict[str, Any]) -> None:
        """Publish a bot-originated event; an escalation nobody can take is answered, never dropped."""
        await self.bus.publish(kind, conv.id, **data)
        if kind == "escalation_requested" and not self.bus.has_subscribers(kind):
            await self.say_system(conv, "no_escalation")

    async def _last_resident_text(self, conv: Conversation) -> str:
        for message in reversed(await self.store.messages(conv.id)):
            if message.sender == "resident":
                return message.text
        return ""

    async def _bot_unavailable(self, conv: Conversation, incoming: Incoming, exc: BotUnavailable) -> None:
        log.warning("bot unavailable", extra={"conv": conv.id, "reason": exc.reason})
        await self.bus.publish("bot_unavailable", conv.id, error=exc.reason)
        if (incoming.bot_text or incoming.text).strip().startswith("/request_human"):
            await self.publish_conversation_event(conv, "escalation_requested", {
                "reason": "bot_unavailable", "label": conv.get("label") or None, "language": conv.language})
            return
        if not incoming.text.strip().startswith("/") and not conv.get("topic_said"):
            await self.store.update(conv.id, topic_said="1")  # not understood, but said: no need to ask
            conv.fields["topic_said"] = "1"
        await self.say_system(conv, "bot_unavailable", extra={"quick_replies": [
            {"title": text("talk_to_person", conv.language), "payload": "/request_human"},
        ]})


def _text_before(messages: list[dict[str, Any]], event: str) -> dict[int, str]:
    """Bot texts said with a custom `event` (Rasa sends a response's text just before its custom payload), by
    the payload's index. `escalate`: "someone will be with you shortly" — the bot cannot know whether the
    line is open or anyone is free, so routing decides whether that promise is said at all. `emergency`:
    the bot's 911 text, left out when the guard has answered."""
    held: dict[int, str] = {}
    for index in range(1, len(messages)):
        custom = messages[index].get("custom")
        before = messages[index - 1]
        if (isinstance(custom, dict) and custom.get("event") == event and before.get("text")
                and not before.get("custom") and not before.get("buttons") and not before.get("quick_replies")):
            held[index] = str(before["text"])
    return held
