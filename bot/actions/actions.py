"""Custom actions for the chat311 bot (rasa_sdk 3.6).

Contract with chat_server: see bot/README.md ("Custom payloads").
"""

from __future__ import annotations

import abc
import logging
import re
from typing import Any

from chat311_labels import KB_LABEL_SLOT
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import parsing
from actions.services import CONTACT_SLOTS, SERVICES, SLOT_KEYWORDS, Attribute, Service, service_for_form
from actions.texts import t

logger = logging.getLogger(__name__)

LANGUAGES = ("en", "es")
SKIPPED = "skipped"
# labels that say nothing about what the resident needs; escalation reports the last label *not* in here
NOT_MEANINGFUL = {
    "nlu_fallback", "greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "request_human",
    "share_location", "kb_feedback", "kb_none", None, "",
}
# intents the forms never swallow as an answer (the rules handle them, then the form resumes)
FORM_INTERRUPTIONS = ("emergency", "request_human")


def language_of(tracker: Tracker) -> str:
    """The resident's language: chat_server's metadata on the latest message, else the slot, else en."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    lang = metadata.get("language")
    if lang in LANGUAGES:
        return lang
    slot = tracker.get_slot("language")
    return slot if slot in LANGUAGES else "en"


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
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            turns.append({"label": intent, "in_form": bool(loop), "fallback": False})
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


def reset_form_events(tracker: Tracker) -> list[EventType]:
    """Clear every form slot that holds a value, and requested_slot."""
    names = {"requested_slot", "location", "description", *CONTACT_SLOTS, "ticket_id"}
    for service in SERVICES.values():
        names.update(a.code for a in service.attributes)
    return [SlotSet(name, None) for name in sorted(names) if tracker.get_slot(name) is not None]


def escalate(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str) -> None:
    lang = language_of(tracker)
    dispatcher.utter_message(text=t("escalate", lang))
    dispatcher.utter_message(json_message={
        "event": "escalate", "reason": reason, "label": last_meaningful_label(tracker), "language": lang,
    })


# --------------------------------------------------------------------------- language slot

class ActionSetLanguage(Action):
    """Runs on every user turn (Rasa's action_extract_slots calls it): language slot ← metadata.language."""

    def name(self) -> str:
        return "action_validate_slot_mappings"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        metadata = (tracker.latest_message or {}).get("metadata") or {}
        lang = metadata.get("language")
        if lang in LANGUAGES and lang != tracker.get_slot("language"):
            return [SlotSet("language", lang)]
        return []


# --------------------------------------------------------------------------- conversation actions

class ActionEscalate(Action):
    def name(self) -> str:
        return "action_escalate"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        escalate(dispatcher, tracker, "request_human")
        return reset_form_events(tracker) if tracker.active_loop.get("name") else []


def fallback_reply(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Rephrase prompt; the second fallback in a row escalates to a person."""
    lang = language_of(tracker)
    streak = 1  # this turn; plus the directly preceding turns the bot also answered with a fallback
    for turn in reversed(user_turns(tracker)[:-1]):
        if not turn["fallback"]:
            break
        streak += 1
    if streak >= 2:
        escalate(dispatcher, tracker, "repeated_fallback")
        return
    buttons = {
        "en": [("Report a pothole", "/report_pothole"), ("Missed trash pickup", "/report_missed_pickup"),
               ("Talk to a person", "/request_human")],
        "es": [("Reportar un bache", "/report_pothole"), ("Basura no recogida", "/report_missed_pickup"),
               ("Hablar con una persona", "/request_human")],
    }[lang]
    dispatcher.utter_message(text=t("fallback", lang),
                             buttons=[{"title": title, "payload": payload} for title, payload in buttons])


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
            ticket = parsing.find_ticket_id(text) or tracker.get_slot("ticket_id")
            return [SlotSet("ticket_id", ticket)] if ticket else []
        if parsing.is_cancel(text):
            dispatcher.utter_message(text=t("status_cancelled", lang))
            return [SlotSet("ticket_id", None), SlotSet("requested_slot", None)]
        if "ticket_id" not in tracker.slots_to_validate():
            return []  # an interruption (emergency, request_human): let the form reject
        ticket = parsing.find_ticket_id(text)
        if not ticket:
            dispatcher.utter_message(text=t("ticket_invalid", lang))
        return [SlotSet("ticket_id", ticket)]


# --------------------------------------------------------------------------- report forms

def _display(service: Service, slot: str, value: Any, lang: str) -> str:
    attr = next((a for a in service.attributes if a.code == slot), None)
    if attr and attr.values:
        titles = {v.code: (v.es if lang == "es" else v.en) for v in attr.values}
        values = value if isinstance(value, list) else [value]
        return ", ".join(titles.get(v, str(v)) for v in values)
    return str(value)


class ValidateReportForm(FormValidationAction, abc.ABC):
    """Validation for one report_* form. Subclasses only set `label`.

    Besides per-slot validation, on every turn it handles:
      - activation: pre-fills the location / attributes named in the triggering message;
      - "cancel" / "cancelar" / "stop": clears the form and ends it (action_submit_report then does nothing);
      - corrections ("actually it's on 5th street", "change the address", "cambiar el teléfono").
    """

    label: str = ""

    @property
    def service(self) -> Service:
        return SERVICES[self.label]

    def name(self) -> str:
        return f"validate_{self.service.form}"

    @abc.abstractmethod
    def _abstract_marker(self) -> None:  # keeps the base class out of the action registry
        ...

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        text = ((tracker.latest_message or {}).get("text") or "").strip()
        requested = tracker.get_slot("requested_slot")
        if (tracker.active_loop or {}).get("name") != self.service.form or requested is None:
            return self._prefill(dispatcher, tracker, text, lang)
        if parsing.is_cancel(text):
            dispatcher.utter_message(text=t("cancelled", lang))
            return [SlotSet(name, None) for name in self.service.required_slots] + [
                SlotSet("requested_slot", None)]
        correction = parsing.parse_correction(text)
        if requested not in tracker.slots_to_validate():
            # An interruption intent (emergency, request_human…): the form rejects, rules take over —
            # unless NLU took a correction ("actually it's on 5th street") for a request for a person.
            intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
            if intent != "request_human" or not correction or parsing.asks_for_person(text):
                return []
            return self._correct(dispatcher, tracker, correction, requested, lang) or []
        if text.startswith("/share_location") and requested != "location":
            value, error = parsing.validate_location(text)
            if value is None:
                dispatcher.utter_message(text=t(error or "location_missing", lang, value=""))
                return [SlotSet(requested, None)]
            dispatcher.utter_message(text=t("correction_done", lang, value=value["location"]))
            return [SlotSet(requested, None), *[SlotSet(k, v) for k, v in value.items()]]
        if correction is not None:
            events = self._correct(dispatcher, tracker, correction, requested, lang)
            if events is not None:
                return events
        slot_values = self._validate(requested, text, tracker, dispatcher, lang)
        return [SlotSet(k, v) for k, v in slot_values.items()]

    # ------------------------------------------------------------ helpers

    def _prefill(self, dispatcher: CollectingDispatcher, tracker: Tracker, text: str,
                 lang: str) -> list[EventType]:
        """At activation: take what the triggering message already says (address, coordinates, attributes)."""
        # start clean: values left over from an expired session must not count as answers
        events: list[EventType] = [SlotSet(name, None) for name in self.service.required_slots
                                   if tracker.get_slot(name) is not None]
        if text.startswith("/"):
            return events
        address = parsing.find_address_in_text(text)
        coords = parsing.parse_coordinates(text)
        noted: list[str] = []
        if isinstance(coords, tuple):
            value = f"{coords[0]:.6f},{coords[1]:.6f}"
            events.append(SlotSet("location", value))
            noted.append(value)
        elif address:
            events.append(SlotSet("location", address))
            noted.append(address)
        for attr in self.service.attributes:
            if attr.kind in ("enum", "multi") and {v.code for v in attr.values} != {"yes", "no"}:
                codes = parsing.match_values(attr, text)
                if len(codes) == 1 or (codes and attr.kind == "multi"):
                    value = codes if attr.kind == "multi" else codes[0]
                    events.append(SlotSet(attr.code, value))
                    noted.append(_display(self.service, attr.code, value, lang))
            elif attr.kind == "number" and re.search(r"\b(days?|weeks?|months?|d[ií]as?|semanas?|mes(es)?)\b",
                                                     parsing.fold(text)):
                value = parsing.validate_number(text)
                if value is not None:
                    events.append(SlotSet(attr.code, value))
        if noted:
            dispatcher.utter_message(text=t("location_prefilled", lang, value="; ".join(noted))
                                     if address or isinstance(coords, tuple) else
                                     ("Entendido: " if lang == "es" else "Got it: ") + "; ".join(noted) + ".")
        return events

    def _validate(self, slot: str, text: str, tracker: Tracker, dispatcher: CollectingDispatcher,
                  lang: str) -> dict[str, Any]:
        """Validate an answer for `slot`; on failure re-prompt (the form then asks again) and return None."""
        service = self.service
        if slot == "location":
            value, error = parsing.validate_location(text)
            if value is None:
                dispatcher.utter_message(text=t(error or "location_missing", lang, value=text[:80]))
                return {"location": None}
            return value
        if slot == "description":
            if parsing.is_skip(text):
                return {"description": service.name_es if lang == "es" else service.name_en}
            value = parsing.validate_description(text)
            if value is None:
                dispatcher.utter_message(text=t("description_invalid", lang))
            return {"description": value}
        if slot == "contact_name":
            if parsing.is_skip(text):
                return {name: SKIPPED for name in CONTACT_SLOTS}
            value = parsing.validate_name(text)
            if value is None:
                dispatcher.utter_message(text=t("name_invalid", lang))
            return {"contact_name": value}
        if slot in ("phone", "email"):
            if parsing.is_skip(text):
                return {slot: SKIPPED}
            value = parsing.validate_phone(text) if slot == "phone" else parsing.validate_email(text)
            if value is None:
                dispatcher.utter_message(text=t(f"{slot}_invalid", lang))
            return {slot: value}
        attr = next((a for a in service.attributes if a.code == slot), None)
        if attr is None:
            return {}
        if not attr.required and (parsing.is_skip(text) or parsing.is_unknown(text)):
            return {slot: SKIPPED}
        value, ok = parsing.validate_attribute(attr, text)
        if not ok:
            self._reprompt_attribute(dispatcher, attr, lang)
            return {slot: None}
        return {slot: value}

    @staticmethod
    def _reprompt_attribute(dispatcher: CollectingDispatcher, attr: Attribute, lang: str) -> None:
        if attr.kind in ("enum", "multi"):
            options = ", ".join(v.es if lang == "es" else v.en for v in attr.values)
            dispatcher.utter_message(text=t("enum_invalid" if attr.kind == "enum" else "multi_invalid", lang,
                                            options=options))
        elif attr.kind == "number":
            dispatcher.utter_message(text=t("number_invalid", lang))
        else:
            dispatcher.utter_message(text=t(f"{attr.validator}_invalid", lang))

    def _correction_target(self, rest: str) -> tuple[str | None, str]:
        """Which slot a correction names, and the new value text (may be '')."""
        folded = parsing.fold(rest)
        keywords: list[tuple[str, str]] = []
        for slot in self.service.required_slots:
            attr = next((a for a in self.service.attributes if a.code == slot), None)
            words = attr.keywords if attr else SLOT_KEYWORDS.get(slot, ())
            keywords += [(parsing.fold(w), slot) for w in words]
        for word, slot in sorted(keywords, key=lambda kw: -len(kw[0])):
            m = re.search(r"(?<![a-z0-9])" + re.escape(word) + r"(?![a-z0-9])", folded)
            if m:
                after = re.sub(r"^\s*(?:to|is|should be|a|por|es|:)\s+", "", rest[m.end():].strip(" :,."),
                               flags=re.IGNORECASE).strip()
                if slot == "location" and parsing.looks_like_address(parsing.strip_filler(rest)):
                    return slot, parsing.strip_filler(rest)
                return slot, after
        for attr in self.service.attributes:
            if attr.values and parsing.match_values(attr, rest):
                return attr.code, rest
        if parsing.looks_like_address(parsing.strip_filler(rest)):
            return "location", parsing.strip_filler(rest)
        if parsing.validate_email(rest):
            return "email", rest
        if parsing.validate_phone(rest):
            return "phone", rest
        return None, rest

    def _correct(self, dispatcher: CollectingDispatcher, tracker: Tracker, rest: str, requested: str,
                 lang: str) -> list[EventType] | None:
        target, value_text = self._correction_target(rest)
        if target is None or target == requested:
            # "actually, large" while we're asking the size: treat the rest as the answer
            if not rest:
                return None
            values = self._validate(requested, parsing.strip_filler(rest) or rest, tracker, dispatcher, lang)
            return [SlotSet(k, v) for k, v in values.items()]
        # undo the from_text fill of the slot we asked for; the form re-asks it afterwards
        events: list[EventType] = [SlotSet(requested, None)]
        if value_text:
            silent = CollectingDispatcher()
            values = self._validate(target, value_text, tracker, silent, lang)
            if values.get(target) is not None:
                events += [SlotSet(k, v) for k, v in values.items()]
                shown = _display(self.service, target, values[target], lang)
                dispatcher.utter_message(text=t("correction_done", lang, value=shown))
                return events
        # no (valid) new value: clear the slot; the form asks for it next (slots are asked in order)
        dispatcher.utter_message(text=t("correction_ask", lang))
        events.append(SlotSet(target, None))
        if target == "contact_name":
            events += [SlotSet("phone", None), SlotSet("email", None)]
        return events


def _make_validator(label: str) -> type:
    cls_name = "Validate" + "".join(part.title() for part in label.split("_")) + "Form"
    return type(cls_name, (ValidateReportForm,), {"label": label, "_abstract_marker": lambda self: None,
                                                  "__module__": __name__})


for _label in SERVICES:
    globals()[f"_Validate_{_label}"] = _make_validator(_label)


class ActionSubmitReport(Action):
    """After a report form ends: send form_complete to chat_server (which files the Open311 ticket)."""

    def name(self) -> str:
        return "action_submit_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        form = next((e.get("name") for e in reversed(tracker.events)
                     if e.get("event") == "active_loop" and e.get("name")), None)
        service = service_for_form(form or "")
        reset = reset_form_events(tracker)
        if service is None:
            return reset
        slots = tracker.slots
        missing = [s for s in service.required_slots if slots.get(s) is None]
        if missing:  # cancelled (or interrupted): nothing to file
            return reset
        data: dict[str, Any] = parsing.location_fields(slots["location"])
        data["description"] = slots["description"]
        attributes: dict[str, Any] = {}
        for attr in service.attributes:
            value = slots.get(attr.code)
            if value is None or value == SKIPPED:
                continue
            if attr.kind == "multi" and not isinstance(value, list):
                value = [value]
            attributes[attr.code] = value
        data["attributes"] = attributes
        name = slots.get("contact_name")
        if name and name != SKIPPED:
            data["first_name"], last = parsing.split_name(name)
            if last:
                data["last_name"] = last
        for key in ("phone", "email"):
            if slots.get(key) and slots[key] != SKIPPED:
                data[key] = slots[key]
        dispatcher.utter_message(text=t("form_submitting", lang,
                                        service=(service.name_es if lang == "es" else service.name_en).lower()))
        dispatcher.utter_message(json_message={
            "event": "form_complete", "label": service.label, "language": lang, "data": data,
        })
        return reset
