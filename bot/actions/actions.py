"""Custom actions for the chat311 bot (rasa_sdk 3.6).

Contract with chat_server: see bot/README.md ("Custom payloads").
"""

from __future__ import annotations

import logging
from typing import Any

from chat311_labels import KB_LABEL_SLOT, resolve_label
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import parsing
from actions.kb_client import client_from_env
from actions.kb_replies import answer_message, last_question
from actions.language import LANGUAGES, language_of, turn_metadata
from actions.report_form import form_snapshot
from actions.texts import t

logger = logging.getLogger(__name__)

# labels that say nothing about what the resident needs; escalation reports the last label *not* in here
NOT_MEANINGFUL = {
    "nlu_fallback", "greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "request_human",
    "share_location", "kb_feedback", "kb_none", None, "",
}


TALK_TO_A_PERSON = {"en": "Talk to a person", "es": "Hablar con una persona"}


def user_turns(tracker: Tracker) -> list[dict]:
    """One entry per user message: its label (the intent, or the knowledge base's faq/<topic> or
    nlu_fallback), whether a form was active (the message was an answer to a form question), and
    whether the bot handled it with a fallback."""
    turns: list[dict] = []
    loop: str | None = None
    for event in tracker.events:
        kind = event.get("event")
        if kind == "active_loop":
            loop = event.get("name")
        elif kind == "user":
            turns.append({"label": resolve_label(event.get("parse_data"))[0], "in_form": bool(loop), "fallback": False})
        elif kind == "slot" and event.get("name") == KB_LABEL_SLOT and turns:
            turns[-1]["label"] = event.get("value")
            turns[-1]["fallback"] = event.get("value") == "nlu_fallback"
        elif kind == "action" and event.get("name") == "action_fallback" and turns:
            turns[-1]["fallback"] = True
    return turns


def last_meaningful_label(tracker: Tracker) -> str | None:
    """The last label that says what the resident needs (form answers and small talk don't count)."""
    for turn in reversed(user_turns(tracker)):
        if not turn["in_form"] and turn["label"] not in NOT_MEANINGFUL:
            return turn["label"]
    return None


def escalate(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str) -> None:
    lang = language_of(tracker)
    dispatcher.utter_message(text=t("escalate", lang))
    payload: dict[str, Any] = {
        "event": "escalate", "reason": reason, "label": last_meaningful_label(tracker), "language": lang,
    }
    form = form_snapshot(tracker) if (tracker.active_loop or {}).get("name") else None
    if form is not None:  # mid-report: the agent gets every answer so far, the resident repeats nothing
        payload["form"] = form
    dispatcher.utter_message(json_message=payload)


# --------------------------------------------------------------------------- language slot

class ActionSetLanguage(Action):
    """Runs on every user turn (Rasa's action_extract_slots calls it): language slot ← metadata.language."""

    def name(self) -> str:
        return "action_validate_slot_mappings"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        metadata = turn_metadata(tracker)
        lang = metadata.get("language")
        if lang in LANGUAGES and lang != tracker.get_slot("language"):
            return [SlotSet("language", lang)]
        return []


# --------------------------------------------------------------------------- conversation actions

# Below this, Rasa's hand-off for a message that names no person is a guess worth checking with the knowledge base.
UNSURE_HANDOFF = 0.8


class ActionEscalate(Action):
    def __init__(self) -> None:
        self.kb = client_from_env()

    def name(self) -> str:
        return "action_escalate"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        answered = await self._answered_instead(dispatcher, tracker)
        if answered is not None:
            return answered
        escalate(dispatcher, tracker, "request_human")
        return []  # a half-filled report stays in the slots (and in the escalate payload) for the agent

    async def _answered_instead(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType] | None:
        """A question Rasa was unsure was a hand-off, and that names no person, is answered when the knowledge base
        is sure of the answer, with "Talk to a person" beside it: "i need help with rent please" got "Live agents
        are not available right now" instead of the rental-help article it gets without "please" (probe AI)."""
        message = tracker.latest_message or {}
        text = str(message.get("text") or "").strip()
        confidence = float((message.get("intent") or {}).get("confidence") or 0.0)
        if not text or text.startswith("/") or confidence >= UNSURE_HANDOFF or parsing.asks_for_person(text) \
                or (tracker.active_loop or {}).get("name"):
            return None
        lang = language_of(tracker)
        decision = await self.kb.ask({"text": text, "language": lang, "intent": "faq",
                                      "conversation_id": tracker.sender_id})
        if not decision or decision.get("kind") != "answer" or not decision.get("article"):
            return None
        reply = answer_message(decision["article"], lang)
        reply["buttons"].append({"title": TALK_TO_A_PERSON[lang], "payload": "/request_human"})
        dispatcher.utter_message(**reply)
        return [SlotSet(KB_LABEL_SLOT, decision.get("label"))]


def fallback_reply(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Rephrase prompt; the second fallback in a row escalates to a person."""
    lang = language_of(tracker)
    streak = 1  # this turn; plus the directly preceding turns the bot also answered with a fallback
    for turn in reversed(user_turns(tracker)[:-1]):
        if not turn["fallback"]:
            break
        streak += 1
    if streak >= 2:
        # said first, so that the offer or the queue that follows is not a non sequitur
        dispatcher.utter_message(text=t("fallback_again", lang))
        escalate(dispatcher, tracker, "repeated_fallback")
        return
    none_of_these = ((tracker.latest_message or {}).get("intent") or {}).get("name") == "kb_none"
    buttons = {
        "en": [("Report a pothole", "/report_pothole"), ("Missed trash pickup", "/report_missed_pickup"),
               (TALK_TO_A_PERSON["en"], "/request_human")],
        "es": [("Reportar un bache", "/report_pothole"), ("Basura no recogida", "/report_missed_pickup"),
               (TALK_TO_A_PERSON["es"], "/request_human")],
    }[lang]
    dispatcher.utter_message(text=t("kb_none_reply" if none_of_these else "fallback", lang),
                             buttons=[{"title": title, "payload": payload} for title, payload in buttons])
    if none_of_these:
        # a resident who turned down every article offered: the clearest miss content staff can get (probe AI)
        dispatcher.utter_message(json_message={"event": "kb_menu_rejected", "question": last_question(tracker),
                                               "language": lang})


class ActionFallback(Action):
    """No rule applies (Rasa's core fallback) or "None of these" after a menu: the fallback reply."""

    def name(self) -> str:
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        fallback_reply(dispatcher, tracker)
        return []


class ActionStatusLookup(Action):
    def name(self) -> str:
        return "action_status_lookup"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        ticket = tracker.get_slot("ticket_id")
        if ticket:
            dispatcher.utter_message(json_message={
                "event": "status_lookup", "ticket_id": ticket, "language": language_of(tracker),
            })
        return [SlotSet("ticket_id", None)] if ticket else []


class ValidateStatusForm(FormValidationAction):
    def name(self) -> str:
        return "validate_status_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        text = (tracker.latest_message or {}).get("text") or ""
        if (tracker.active_loop or {}).get("name") != "status_form":  # activation: the id may be in the message
            # ... or be the request filed in this very conversation (chat_server sends its number along)
            filed = turn_metadata(tracker).get("ticket_id")
            ticket = parsing.find_ticket_id(text) or tracker.get_slot("ticket_id") or parsing.find_ticket_id(
                str(filed or ""))
            return [SlotSet("ticket_id", ticket)] if ticket else []
        if parsing.is_cancel(text):
            dispatcher.utter_message(text=t("status_cancelled", lang))
            return [SlotSet("ticket_id", None), SlotSet("requested_slot", None)]
        if "ticket_id" not in tracker.slots_to_validate():
            return []  # an interruption (emergency, request_human): let the form reject
        ticket = parsing.answered_ticket_id(text)
        if not ticket and (parsing.has_no_number(text) or t("ticket_invalid", lang) in _said_before(tracker)):
            # no number to give, or a second answer without one: say where it is and who can look it up
            dispatcher.utter_message(text=t("status_no_number", lang),
                                     buttons=[{"title": TALK_TO_A_PERSON[lang], "payload": "/request_human"}])
            return [SlotSet("ticket_id", None), SlotSet("requested_slot", None)]
        if not ticket:
            dispatcher.utter_message(text=t("ticket_invalid", lang))
        return [SlotSet("ticket_id", ticket)]


def _said_before(tracker: Tracker) -> list[str]:
    """What the bot said between the resident's previous message and their latest one."""
    said: list[str] = []
    users = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            users += 1
            if users == 2:
                break
        elif users == 1 and event.get("event") == "bot" and event.get("text"):
            said.append(str(event["text"]))
    return said
