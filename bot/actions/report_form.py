"""The one report form (`report_form`) for every service in the catalogue.

The intent that starts it (report_<service>) picks the service; its steps are the location, the
service's attributes from the catalogue (required ones must be answered, optional ones offer "Skip"),
a description, a photo and optional contact details, then a summary that files only on "Submit".
Adding a service is a catalogue edit — nothing here names one.

Rasa's part: the domain declares `report_form` with the single required slot `form_answer` (a
from_text slot filled on every turn the form is active, except emergency/request_human messages,
which the form rejects so the interruption rules run). This validation action does the rest on every
turn: it reads the answer, fills the real slots, picks the next missing step (`requested_slot`) and
asks its question itself, with the catalogue's prompt and quick replies in the resident's language.
"""

from __future__ import annotations

import re
from typing import Any

from chat311_labels import KB_LABEL_SLOT
from chat311_this_contact import names_this_contact
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import parsing
from actions.catalogue import Service, service_for_label
from actions.kb_client import client_from_env
from actions.kb_replies import answer_message, chosen_report, entity, menu_message
from actions.language import ON_THE_WEB, Writing, language_of, turn_metadata, writing_of
from actions.texts import TEXTS, t

FORM = "report_form"
# the step asked after a bare street name: which block or cross street (not a slot, like "confirm")
BLOCK = "location_block"
WRITTEN_WORDS = 8  # a first message this long is offered as the description
SUBMIT_ACTION = "action_submit_report"  # runs when a report ends, filed or not
SKIPPED = "skipped"
CONTACT_SLOTS = ("contact_name", "phone", "email")
# every slot the form writes; cleared when a report ends or a new one starts
FORM_SLOTS = ("service", "location", "attributes", "description", "photo", *CONTACT_SLOTS, "confirmed",
              "form_answer")
FORM_INTERRUPTIONS = ("emergency", "request_human")
SLOT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "location": ("address", "location", "street", "place", "where", "direccion", "ubicacion", "calle", "lugar"),
    "description": ("description", "details", "descripcion", "detalles"),
    "photo": ("photo", "picture", "image", "foto", "imagen"),
    "contact_name": ("name", "contact", "nombre", "contacto"),
    "phone": ("phone", "number", "cell", "telefono", "celular", "numero"),
    "email": ("email", "e-mail", "mail", "correo"),
}
_SUBMIT_WORD = (r"(submit|send|send it|submit it|file it|yes|yes please|yep|yeah|ok|okay|looks good|correct|confirm|"
                r"that's right|thats right|enviar|envialo|envíalo|enviarlo|mandalo|mándalo|si|sí|si por favor|"
                r"confirmar|correcto|esta bien|está bien|de acuerdo)")
# "Submit", and "yes submit", "sí, mándalo", "ok send it please"
_SUBMIT_RE = re.compile(r"^\s*" + _SUBMIT_WORD + r"([\s,.!]+" + _SUBMIT_WORD + r")*"
                        r"([\s,.!]+(please|por favor|porfa))?\s*[.!]*\s*$", re.IGNORECASE)
_CHANGE_RE = re.compile(r"^\s*(change|change something|edit|fix|modify|cambiar|cambiar algo|cambia|corregir|"
                        r"editar|modificar)\s*[.!]*\s*$", re.IGNORECASE)


# --------------------------------------------------------------------------- what the form holds

def form_service(tracker: Tracker) -> Service | None:  # type: ignore[valid-type]
    return service_for_label(tracker.get_slot("service"))


def steps(service: Any) -> list[str]:
    """The form's questions for a service, in order."""
    location = ["location"] if service.location_required else []
    return [*location, *(a.code for a in service.attributes), "description", "photo", *CONTACT_SLOTS]


def _counts_days(attr: Any) -> bool:
    """A number attribute that is a duration ("how many days"): only those are read from the first
    message, where "next week" in "pick up my grill next week" is a date, not a count of items."""
    return bool({"days", "dias", "días"} & set(attr.keywords))


def _attribute(service: Any, code: str) -> Any:
    return next((a for a in service.attributes if a.code == code), None)


def _values(tracker: Tracker) -> dict[str, Any]:
    """Current answers by step name (attributes flattened in)."""
    values = {name: tracker.get_slot(name) for name in ("location", "description", "photo", *CONTACT_SLOTS)}
    values.update(tracker.get_slot("attributes") or {})
    return values


def _slot_events(changes: dict[str, Any], tracker: Tracker, service: Any) -> list[EventType]:
    """SlotSets for step changes; attribute answers go into the one `attributes` dict slot."""
    attrs = dict(tracker.get_slot("attributes") or {})
    events: list[EventType] = []
    touched = False
    for name, value in changes.items():
        if _attribute(service, name) is not None:
            touched = True
            if value is None:
                attrs.pop(name, None)
            else:
                attrs[name] = value
        else:
            events.append(SlotSet(name, value))
    if touched:
        events.append(SlotSet("attributes", attrs))
    return events


def display(service: Any, step: str, value: Any, lang: str) -> str:
    attr = _attribute(service, step)
    if value == SKIPPED:
        return t("not_given", lang)
    if value == parsing.UNKNOWN:
        return t("unknown", lang)
    if attr is not None and attr.values:
        names = {v.key: v.name(lang) for v in attr.values}
        return ", ".join(names.get(v, str(v)) for v in (value if isinstance(value, list) else [value]))
    if step == "photo":
        return t("photo_attached", lang)
    if step == "location" and isinstance(coords := parsing.parse_coordinates(str(value)), tuple):
        return t("location_shared", lang, lat=f"{coords[0]:.5f}", long=f"{coords[1]:.5f}")
    return str(value)


def report_data(tracker: Tracker, service: Any) -> dict[str, Any]:
    """The collected answers in form_complete's `data` shape (only what is known; skipped values left out).
    Also the structured `form` an agent gets when the resident asks for a person mid-form."""
    values = _values(tracker)
    data: dict[str, Any] = {}
    if values.get("location"):
        data.update(parsing.location_fields(values["location"]))
    if values.get("description") and values["description"] != SKIPPED:
        data["description"] = values["description"]
    attributes: dict[str, Any] = {}
    for attr in service.attributes:
        value = values.get(attr.code)
        if value is None or value == SKIPPED:
            continue
        attributes[attr.code] = [value] if attr.datatype == "multivaluelist" and not isinstance(value, list) \
            else value
    data["attributes"] = attributes
    if values.get("photo") and values["photo"] != SKIPPED:
        data["media_url"] = values["photo"]
    name = values.get("contact_name")
    if name and name != SKIPPED:
        data["first_name"], last = parsing.split_name(name)
        if last:
            data["last_name"] = last
    for key in ("phone", "email"):
        if values.get(key) and values[key] != SKIPPED:
            data[key] = values[key]
    return data


def form_snapshot(tracker: Tracker) -> dict[str, Any] | None:
    """What a half-filled report holds, for the agent a resident is handed to (None outside a report)."""
    service = form_service(tracker)
    if service is None:
        return None
    return {"label": service.label, "service_code": service.service_code, "data": report_data(tracker, service)}


# --------------------------------------------------------------------------- asking

def _buttons(titles: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"title": title, "payload": payload} for title, payload in titles]


def ask(dispatcher: CollectingDispatcher, service: Any, step: str, lang: str, tracker_values: dict[str, Any],
        written: str = "", writing: Writing = ON_THE_WEB) -> None:
    """Ask the question for `step`, with quick replies where there is a fixed set of answers. `written`: the
    resident's own account from the message that started the report, offered as the description. `writing`:
    SMS or e-mail, where the widget's 📍 and 📷 buttons do not exist, and the contact they already give."""
    by_text = writing.by_text
    attr = _attribute(service, step)
    if attr is not None:
        options = [(v.name(lang), v.name(lang)) for v in attr.values]
        if not attr.required:
            options.append((t("skip", lang), t("skip", lang).lower()))
        elif attr.format == "plate":
            options.append((t("unknown", lang), t("unknown", lang).lower()))
        dispatcher.utter_message(text=attr.prompt(lang), buttons=_buttons(options) or None)
        return
    if step == "location":
        question = service.location_prompt(lang) or t("location_question", lang, service=service.name(lang).lower())
        dispatcher.utter_message(text=t(_by_text("ask_location", by_text), lang, question=question))
    elif step == BLOCK:
        dispatcher.utter_message(text=t("ask_block", lang, street=tracker_values.get("location") or ""),
                                 buttons=_buttons([(t("skip", lang), t("skip", lang).lower())]))
    elif step == "confirm":
        dispatcher.utter_message(text=t("summary", lang, lines=summary(service, tracker_values, lang)),
                                 buttons=_buttons([(t(k, lang), t(k, lang)) for k in ("submit", "change", "cancel")]))
    elif step == "change":
        prefix = t("change_prefix", lang)
        fields = [s for s in steps(service) if s not in ("phone", "email")]
        dispatcher.utter_message(text=t("ask_change", lang), buttons=_buttons(
            [(field_name(service, s, lang), f"{prefix} {field_name(service, s, lang).lower()}") for s in fields]))
    elif (known := writing.known(step)) is not None:
        # By SMS "What phone number can we reach you at?" asked for the number the text came from (probe R)
        skip = t("skip", lang)
        dispatcher.utter_message(text=t(f"ask_{step}_known", lang, contact=known),
                                 buttons=_buttons([(t(f"this_{step}", lang), known), (skip, skip.lower())]))
    elif step == "description" and written:
        # asked again, under the "this is public" warning: the resident chooses to publish what they wrote
        offer = t("description_written", lang, written=written)
        dispatcher.utter_message(text=f'{t("ask_description", lang)} {offer}',
                                 buttons=_buttons([(t("use_written", lang), t("use_written", lang))]))
    else:
        skip = [(t("skip", lang), t("skip", lang).lower())] if step in ("photo", *CONTACT_SLOTS) else []
        dispatcher.utter_message(text=t(_by_text(f"ask_{step}", by_text), lang), buttons=_buttons(skip) or None)


def _by_text(key: str, by_text: bool) -> str:
    """The wording for SMS and e-mail where there is one (`<key>_by_text`: no button to press there)."""
    return f"{key}_by_text" if by_text and f"{key}_by_text" in TEXTS else key


def written_account(tracker: Tracker) -> str:
    """The message that started this report, when it tells the story ("there's a huge pothole on Providence
    Rd by the Harris Teeter, it's been there two weeks") rather than only naming the problem: residents
    who wrote it expect not to type it again. Buttons and short requests ("report a pothole") are not.
    Else the last story told in answer to one of the service's own questions: "about 2 feet wide in the right
    lane, cars swerving" answered "where in the road?" (travel lane), and the description was asked for with
    no word of it (probe AG). Questions asked in the middle of the report are no story."""
    started, told, last_user, requested = "", "", "", None
    for event in tracker.events:
        kind = event.get("event")
        if kind == "session_started" or (kind == "action" and event.get("name") == SUBMIT_ACTION):
            started = told = ""  # a report ended (filed, cancelled or dropped): its story is not the next one's
        elif kind == "slot" and event.get("name") == "requested_slot":
            requested = event.get("value")
        elif kind == "user":
            last_user = str(event.get("text") or "")
            if requested not in _NOT_THE_SERVICES_QUESTIONS and not parsing.is_question(last_user) \
                    and (story := _account(last_user)):
                told = story
        elif kind == "active_loop" and event.get("name") == FORM and not last_user.startswith("/"):
            started, told = last_user, ""  # a report started by a button (its resume too) keeps the story it had
    return _account(started) or told


# The steps whose answers are no story: the form's own (where, what, photo, contact, summary) and none.
_NOT_THE_SERVICES_QUESTIONS = {None, "location", BLOCK, "description", "photo", *CONTACT_SLOTS, "confirm", "change"}


# A story that names its teller or how to reach them is not offered: the description is public.
_PERSONAL = re.compile(r"\d{3}\D{0,2}\d{3}\D{0,2}\d{4}|@|\b(?i:my name is|this is|me llamo|mi nombre es|soy)\s+[A-Z]")


def _account(text: str) -> str:
    text = text.strip()
    place = parsing.find_address_in_text(text) or ""
    story = text.replace(place, " ") if place else text  # "hay un bache en la calle Rozzelles Ferry" tells no story
    if text.startswith("/") or len(story.split()) < WRITTEN_WORDS or _PERSONAL.search(text):
        return ""
    return parsing.validate_description(text) or ""


def field_name(service: Any, step: str, lang: str) -> str:
    attr = _attribute(service, step)
    return attr.name(lang) if attr is not None else t(step, lang)


def summary(service: Any, values: dict[str, Any], lang: str) -> str:
    lines = [f"• {t('service', lang)}: {service.name(lang)}"]
    for step in steps(service):
        if step in ("phone", "email"):
            continue
        value = values.get(step)
        if step == "contact_name":
            contact = [values.get(k) for k in CONTACT_SLOTS if values.get(k) not in (None, SKIPPED)]
            shown = ", ".join(contact) if contact else t("anonymous", lang)
            if contact and not any(values.get(k) not in (None, SKIPPED) for k in ("phone", "email")):
                # a name alone reads as "we'll follow up", but nobody can (probe AJ)
                shown = f"{shown} ({t('name_only', lang)})"
        elif value is None:
            continue
        elif step == "photo" and value == SKIPPED:
            shown = t("none", lang)
        else:
            shown = display(service, step, value, lang)
        lines.append(f"• {field_name(service, step, lang)}: {shown}")
    return "\n".join(lines)


def _paused(tracker: Tracker, service: Any, text: str) -> bool:
    """A half-filled report of this service, left when the resident asked for a person, taken up again by
    its button ("Continue my report", chat_server/agents/callback.py). A submitted or cancelled report
    leaves no answers behind, and a typed request starts afresh."""
    paused = form_service(tracker)
    if not text.startswith("/") or paused is None or paused.service_code != service.service_code:
        return False
    values = _values(tracker)
    return any(values.get(step) is not None for step in steps(service))


def next_step(service: Any, values: dict[str, Any]) -> str:
    return next((s for s in steps(service) if values.get(s) is None), "confirm")


# --------------------------------------------------------------------------- the form's validation action

class ValidateReportForm(FormValidationAction):
    """Every turn of `report_form`: take the answer (or a correction, a shared location, Submit/Change/
    Cancel), then ask the next missing question or show the summary."""

    def __init__(self) -> None:
        self.kb = client_from_env()

    def name(self) -> str:
        return f"validate_{FORM}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        message = tracker.latest_message or {}
        text = (message.get("text") or "").strip()
        intent = (message.get("intent") or {}).get("name")
        requested = tracker.get_slot("requested_slot")
        if (tracker.active_loop or {}).get("name") != FORM or requested is None:
            answered = await self._answered_instead(dispatcher, tracker, text, lang)
            return answered if answered is not None else self._start(dispatcher, tracker, text, intent, lang)
        service = form_service(tracker)
        if service is None:  # cannot happen through the rules; end the loop rather than ask nonsense
            return [SlotSet("requested_slot", None)]
        if _answered_since_user(tracker):
            # back from an interruption (the 911 answer): ask the pending question again
            ask(dispatcher, service, requested, lang, _values(tracker), writing=writing_of(tracker))
            return [SlotSet("requested_slot", requested)]
        correction = parsing.parse_correction(text)
        # an interruption: the form rejects and the rules take over — unless NLU took a correction
        # ("actually it's on 5th street") for a request for a person
        if intent in FORM_INTERRUPTIONS and (intent != "request_human" or not correction
                                             or parsing.asks_for_person(text)):
            return []
        if intent in ("kb_article", "kb_none"):
            return await self._menu_picked(dispatcher, tracker, service, requested, intent, lang)
        if parsing.is_cancel(text):
            dispatcher.utter_message(text=t("cancelled", lang))
            return [SlotSet(name, None) for name in FORM_SLOTS] + [SlotSet("requested_slot", None)]
        if (other := _other_service(service, text, message.get("intent_ranking") or [], correction)) is not None:
            # "actually it's a streetlight, not a pothole": the pothole form went on, and filed the words as its
            # description (probe N). The place stays unless the message gives another.
            dispatcher.utter_message(text=t("form_switched", lang, service=other.name(lang)))
            kept = {"location": tracker.get_slot("location")} if tracker.get_slot("location") else {}
            return self._start(dispatcher, tracker, text, other.label, lang, kept)
        if correction is None and (second := _another_problem(service, requested, text, message)) is not None:
            # "also the streetlight on my corner is not working" answered "is it happening now?" and was lost;
            # "there's a huge pothole on my street" became the noise report's street (probe V)
            dispatcher.utter_message(text=t("form_another_problem", lang, service=second.name(lang)))
            ask(dispatcher, service, requested, lang, _values(tracker), writing=writing_of(tracker))
            return [SlotSet("form_answer", None), SlotSet("requested_slot", requested)]
        if self._question_instead(service, requested, text, intent, correction, lang):
            # "wait, what day is trash pickup?" was refused as an answer ("Please choose one of: Travel lane, …")
            decision = await self.kb.ask({"text": text, "language": lang, "intent": intent,
                                          "conversation_id": tracker.sender_id})
            answered = bool(decision and decision.get("kind") == "answer" and decision.get("article"))
            if decision and decision.get("kind") == "menu" and decision.get("options"):
                # unsure, it was refused ("No puedo responder eso en medio de este reporte"), and Spanish questions
                # get menus where English ones get answers (probe W): the options, and the way back to the report
                dispatcher.utter_message(**menu_message(decision["options"], lang, in_report=True))
                return [SlotSet(KB_LABEL_SLOT, decision.get("label")), SlotSet("form_answer", None),
                        SlotSet("requested_slot", requested)]
            if answered or parsing.opens_with_question(correction or text):
                # one the knowledge base cannot answer outright is not taken as the answer either ("¿dónde voto?"
                # got "Perdón, no le entendí" again and again, with no word of the way out; probe V)
                dispatcher.utter_message(text=f"{decision['article']['answer']}\n\n{t('form_back', lang)}"
                                         if answered and decision else t("form_question_later", lang))
                ask(dispatcher, service, requested, lang, _values(tracker), writing=writing_of(tracker))
                return [SlotSet(KB_LABEL_SLOT, decision.get("label") if answered and decision else None),
                        SlotSet("form_answer", None), SlotSet("requested_slot", requested)]
        media = turn_metadata(tracker).get("media_url")
        if media and requested not in ("photo", "change") and _just_a_photo(text) \
                and (requested in (BLOCK, "confirm")
                     or not self._validate(service, requested, text, CollectingDispatcher(), lang)):
            # a photo sent at a button question was answered "Sorry, I didn't catch that", though it was kept for
            # the report (probe V): it is the report's photo, said so, and the question is asked again
            dispatcher.utter_message(text=t("photo_kept", lang))
            ask(dispatcher, service, requested, lang, {**_values(tracker), "photo": str(media)},
                writing=writing_of(tracker))
            return [*_slot_events({"photo": str(media)}, tracker, service), SlotSet("form_answer", None),
                    SlotSet("requested_slot", requested)]
        changes = self._answer(dispatcher, tracker, service, requested, text, correction, lang)
        if changes is None:  # Submit
            return [SlotSet("confirmed", True), SlotSet("form_answer", None), SlotSet("requested_slot", None)]
        if media and requested != "photo" and not tracker.get_slot("photo"):
            # a photo sent with another answer ("the light has been out a week, photo attached") is the report's
            # photo: it was stored, then "Do you have a photo?" and "I didn't get a photo" (probe J)
            changes.setdefault("photo", str(media))
        step = changes.pop("requested_slot", None)
        values = {**_values(tracker), **changes}
        step = step or next_step(service, values)
        ask(dispatcher, service, step, lang, values, written_account(tracker) if step == "description" else "",
            writing_of(tracker))
        return [*_slot_events(changes, tracker, service), SlotSet("form_answer", None),
                SlotSet("requested_slot", step)]

    # ------------------------------------------------------------ activation

    async def _answered_instead(self, dispatcher: CollectingDispatcher, tracker: Tracker, text: str,
                                lang: str) -> list[EventType] | None:
        """Before a typed message starts a form, the knowledge base may answer it instead: Rasa was unsure
        of the report and the answer is about something else, or it asks about the service itself
        (chat_server/knowledge/labels.py `for_intent`). The form then ends at once, having asked nothing;
        None: start the form."""
        message = tracker.latest_message or {}
        guess = chosen_report(message)
        if not text or text.startswith("/") or guess is None:
            return None
        decision = await self.kb.ask({"text": text, "language": lang, "intent": guess["intent"],
                                      "report_guess": guess, "conversation_id": tracker.sender_id})
        if not decision or decision.get("kind") != "answer" or not decision.get("article"):
            return None  # the form goes ahead (also when the knowledge base cannot be reached)
        dispatcher.utter_message(**answer_message(decision["article"], lang))
        return [SlotSet(KB_LABEL_SLOT, decision.get("label")), SlotSet("requested_slot", None)]

    async def _menu_picked(self, dispatcher: CollectingDispatcher, tracker: Tracker, service: Any, requested: str,
                           intent: str, lang: str) -> list[EventType]:
        """A button of the menu offered for a question asked in the middle of the report: the article picked, or
        "Back to my report"; then the report's question again."""
        article_id = entity(tracker, "article_id") if intent == "kb_article" else None
        decision = await self.kb.ask({"article_id": str(article_id), "language": lang}) if article_id else None
        article = (decision or {}).get("article") if (decision or {}).get("kind") == "answer" else None
        dispatcher.utter_message(text=f"{article['answer']}\n\n{t('form_back', lang)}" if article
                                 else t("form_back", lang))
        ask(dispatcher, service, requested, lang, _values(tracker), writing=writing_of(tracker))
        return [SlotSet(KB_LABEL_SLOT, decision.get("label") if article and decision else None),
                SlotSet("form_answer", None), SlotSet("requested_slot", requested)]

    def _question_instead(self, service: Any, requested: str, text: str, intent: str | None,
                          correction: str | None, lang: str) -> bool:
        """Whether a message in the middle of the form is a question of its own rather than an answer to its step.
        At the description only a message that opens as a question counts ("espera, ¿cuánto tardan en
        arreglarla?" was filed as the public description): "it's huge, can you send someone?" is a description.
        "Wait, actually, how do I pay my water bill?" reads as a correction, but its rest is a question."""
        if requested == "change" or text.startswith("/") or intent not in ("faq", "nlu_fallback") \
                or not parsing.is_question(text):
            return False
        if correction is not None and not parsing.opens_with_question(correction):
            return False
        if requested == BLOCK:
            # "wait, how do I pay my water bill?" at "where on Central Ave?" was filed as the location (probe V)
            return parsing.find_address_in_text(text) is None
        if requested == "description":
            return parsing.opens_with_question(text)
        return requested == "confirm" or not self._validate(service, requested, text, CollectingDispatcher(), lang)

    def _start(self, dispatcher: CollectingDispatcher, tracker: Tracker, text: str, intent: str | None,
               lang: str, kept: dict[str, Any] | None = None) -> list[EventType]:
        """At activation: pick the service and take what the triggering message already says (and `kept`: what a
        report the resident switched from already had)."""
        service = service_for_label(intent) or form_service(tracker)
        if service is not None and _paused(tracker, service, text):
            values = _values(tracker)
            dispatcher.utter_message(text=t("resumed", lang))
            step = next_step(service, values)
            if step != "location" and parsing.names_only_a_street(str(values.get("location") or "")):
                step = BLOCK  # the question it stopped at may have been "where on …?"
            ask(dispatcher, service, step, lang, values, written_account(tracker) if step == "description" else "",
                writing_of(tracker))
            return [SlotSet("requested_slot", step)]
        # start clean: values of an earlier or abandoned report must not count as answers
        events: list[EventType] = [SlotSet(name, None) for name in FORM_SLOTS if tracker.get_slot(name) is not None]
        if service is None:
            return [*events, SlotSet("requested_slot", None)]
        events.append(SlotSet("service", service.label))
        told = answered_question_before(tracker) if text.startswith("/") else text
        changes = {**(kept or {}), **(self._prefill(service, told) if told else {})}
        media = turn_metadata(tracker).get("media_url")
        if media:
            changes["photo"] = str(media)
        for step, value in shared_before(tracker).items():
            changes.setdefault(step, value)
        noted = [display(service, k, v, lang) for k, v in changes.items() if k not in ("location", "photo")]
        if "photo" in changes:  # it will be public: the resident hears it is in the report
            noted.append(t("photo_noted", lang))
        if "location" in changes:
            noted.insert(0, display(service, "location", changes["location"], lang))
        if noted:
            dispatcher.utter_message(text=t("prefilled", lang, value="; ".join(noted)))
        attrs = {k: v for k, v in changes.items() if _attribute(service, k) is not None}
        plain = {k: v for k, v in changes.items() if k not in attrs}
        events += [SlotSet(k, v) for k, v in plain.items()]
        if attrs:
            events.append(SlotSet("attributes", attrs))
        step = next_step(service, {**{s: None for s in steps(service)}, **changes})
        if parsing.names_only_a_street(str(changes.get("location") or "")):
            step = BLOCK
        ask(dispatcher, service, step, lang, changes, _account(text) if step == "description" else "",
            writing_of(tracker))
        return [*events, SlotSet("requested_slot", step)]

    @staticmethod
    def _prefill(service: Any, text: str) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        coords = parsing.parse_coordinates(text)
        address = parsing.find_address_in_text(text)
        rest = text
        if isinstance(coords, tuple):
            changes["location"] = f"{coords[0]:.6f},{coords[1]:.6f}"
        elif address:
            changes["location"] = address
            rest = text.replace(address, " ")  # "5th St" must not also answer "which street?"
        for attr in service.attributes:
            if attr.values and not parsing.is_yes_no(attr):
                keys = parsing.match_values(attr, rest)
                if len(keys) == 1 or (keys and attr.datatype == "multivaluelist"):
                    changes[attr.code] = keys if attr.datatype == "multivaluelist" else keys[0]
            elif attr.datatype == "number" and _counts_days(attr) and re.search(
                    r"\b(days?|weeks?|months?|d[ií]as?|semanas?|mes(es)?)\b", parsing.fold(rest)):
                value = parsing.validate_number(rest)
                if value is not None:
                    changes[attr.code] = value
        changes.update(parsing.find_contact_in_text(text))
        return changes

    # ------------------------------------------------------------ one answer

    def _answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, service: Any, requested: str,
                text: str, correction: str | None, lang: str) -> dict[str, Any] | None:
        """Changes to the form for this message ({} when nothing valid); None means Submit."""
        if text.startswith("/share_location"):
            value, error = parsing.validate_location(text)
            if value is None:
                dispatcher.utter_message(text=t(error or "location_missing", lang, value=""))
                return {}
            if requested != "location":
                dispatcher.utter_message(text=t("correction_done", lang,
                                                value=display(service, "location", value["location"], lang)))
            return {"location": value["location"]}
        if requested == BLOCK:  # "which block or cross street?" after a bare street name
            return {"location": parsing.refine_location(tracker.get_slot("location") or "", text, lang)}
        if requested == "confirm":
            if _SUBMIT_RE.match(text):
                return None
            if _CHANGE_RE.match(text):
                return {"requested_slot": "change"}
        if correction is not None or requested == "change":
            target, value_text = self._correction_target(service, correction if correction is not None else text)
            if target is not None and target != requested:
                return self._correct(dispatcher, tracker, service, target, value_text, lang)
            if requested == "confirm":
                dispatcher.utter_message(text=t("confirm_invalid", lang))
            if requested in ("confirm", "change"):
                return {"requested_slot": requested}
            if correction:  # "actually, large" while we're asking the size: the rest is the answer
                text = parsing.strip_filler(correction) or correction
        if requested == "confirm":
            dispatcher.utter_message(text=t("confirm_invalid", lang))
            return {}
        if requested == "photo":
            media = turn_metadata(tracker).get("media_url")
            if media and not parsing.is_skip(text):
                return {"photo": str(media)}
            if parsing.is_skip(text) or parsing.is_unknown(text):
                return {"photo": SKIPPED}
            dispatcher.utter_message(text=t(_by_text("photo_invalid", writing_of(tracker).by_text), lang))
            return {}
        if requested == "description" and parsing.fold(text) == parsing.fold(t("use_written", lang)):
            written = written_account(tracker)
            if written:
                return {"description": written}
            # an old button, or a story left out because it named someone: the button's words are no description
            dispatcher.utter_message(text=t("nothing_written", lang))
            return {}
        attr = _attribute(service, requested)
        if attr is not None and attr.values and not tracker.get_slot("description") \
                and not self._validate(service, requested, text, CollectingDispatcher(), lang, writing_of(tracker)) \
                and (detail := _account(text)):
            # "its about 2 feet wide and deep, near the bus stop" at "where in the road is it?" was refused, and
            # the resident had to type it again at the description (probe W): it is the description, said so, and
            # the choice is asked again
            dispatcher.utter_message(text=t("detail_noted", lang, value=detail))
            return {"description": detail}
        changes = self._validate(service, requested, text, dispatcher, lang, writing_of(tracker))
        if requested == "contact_name":  # "skip" the name keeps a phone or e-mail given with the first message
            values = _values(tracker)
            changes = {k: v for k, v in changes.items() if k == "contact_name" or values.get(k) is None}
        return changes

    def _validate(self, service: Any, step: str, text: str, dispatcher: CollectingDispatcher,
                  lang: str, writing: Writing = ON_THE_WEB) -> dict[str, Any]:
        """Validate an answer for `step`; on failure say why (the question is asked again) and return {}."""
        by_text = writing.by_text
        if step == "location":
            value, error = parsing.validate_location(text)
            if value is None:
                dispatcher.utter_message(text=t(_by_text(error or "location_missing", by_text), lang, value=text[:80]))
                return {}
            if parsing.names_only_a_street(value["location"]):
                return {"location": value["location"], "requested_slot": BLOCK}
            return {"location": value["location"]}
        if step == "description":
            if parsing.is_skip(text):  # Open311's description is optional: no made-up one on the public page
                return {"description": SKIPPED}
            value = parsing.validate_description(text)
            if value is None:
                dispatcher.utter_message(text=t("description_invalid", lang))
                return {}
            return {"description": value}
        if step == "contact_name":
            if parsing.is_skip(text):
                return {name: SKIPPED for name in CONTACT_SLOTS}
            if parsing.is_yes(text):  # "yes" to "would you like follow-up?": the name is still to come
                dispatcher.utter_message(text=t("name_after_yes", lang))
                return {}
            value = parsing.validate_name(text)
            if value is None:
                # "my name is John Carter, 704-555-1212": the name and the number at once (it was refused)
                found = parsing.name_with_contact(text)
                if found:
                    return found
                dispatcher.utter_message(text=t("name_invalid", lang))
                return {}
            return {"contact_name": value}
        if step in ("phone", "email"):
            if parsing.is_skip(text):
                return {step: SKIPPED}
            value = parsing.validate_phone(text) if step == "phone" else parsing.validate_email(text)
            if value is None and step == "phone" and (email := parsing.validate_email(text)) is not None:
                # an e-mail given for the phone was refused and dropped, then asked for again (probe V)
                return {"email": email, "phone": SKIPPED}
            known = writing.known(step)
            if value is None and known is not None and (parsing.is_yes(text) or names_this_contact(text)):
                value = known  # "yes", "same number", "a este mismo número"
            if value is None:
                dispatcher.utter_message(text=t(f"{step}_invalid", lang))
                return {}
            return {step: value}
        attr = _attribute(service, step)
        if attr is None:
            return {}
        value, ok = parsing.validate_attribute(attr, text)
        if not ok and not attr.required and (parsing.is_skip(text) or parsing.is_unknown(text)):
            return {step: SKIPPED}  # after the values: "no" answers "is it offensive?", it does not skip it
        if not ok and attr.values and (parsing.is_skip(text) or parsing.is_unknown(text)):
            # a required choice: say why it cannot be skipped, and the way out, instead of "didn't catch that"
            options = ", ".join(v.name(lang) for v in attr.values)
            dispatcher.utter_message(text=t("choice_required", lang, options=options))
            return {}
        if not ok and attr.values and (address := parsing.find_address_in_text(text)) is not None:
            # "1200 North Tryon Street" at "where in the road is it?": the exact address the first answer lacked.
            # Only a street address: "it's about 2 feet wide, near the bus stop" replaced "1200 block Main St"
            # (probe V).
            moved, _ = parsing.validate_location(address)
            if moved is not None:
                dispatcher.utter_message(text=t("correction_done", lang,
                                                value=display(service, "location", moved["location"], lang)))
                return {"location": moved["location"]}
        if not ok:
            self._reprompt_attribute(dispatcher, attr, lang)
            return {}
        chosen = value if isinstance(value, list) else [value]
        for note in (v.notes.get(lang) or v.notes.get("en") for v in attr.values if v.key in chosen and v.notes):
            dispatcher.utter_message(text=note)
        return {step: value}

    @staticmethod
    def _reprompt_attribute(dispatcher: CollectingDispatcher, attr: Any, lang: str) -> None:
        if attr.values:
            options = ", ".join(v.name(lang) for v in attr.values)
            key = "multi_invalid" if attr.datatype == "multivaluelist" else "enum_invalid"
            dispatcher.utter_message(text=t(key, lang, options=options))
        elif attr.datatype == "number":
            dispatcher.utter_message(text=t("number_invalid", lang))
        elif attr.format:
            dispatcher.utter_message(text=t(f"{attr.format}_invalid", lang))

    # ------------------------------------------------------------ corrections

    @staticmethod
    def _correction_target(service: Any, rest: str) -> tuple[str | None, str]:
        """Which step a correction names, and the new value text (may be '')."""
        folded = parsing.fold(rest)
        keywords: list[tuple[str, str]] = []
        for step in steps(service):
            attr = _attribute(service, step)
            if attr is not None:
                words = (*attr.keywords, *attr.names.values(), attr.code.replace("_", " "))
            else:
                words = (*SLOT_KEYWORDS.get(step, ()), *(t(step, lang) for lang in ("en", "es")
                                                          if step in ("location", "description", "photo",
                                                                      "contact_name")))
            keywords += [(parsing.fold(w), step) for w in words]
        for word, step in sorted(keywords, key=lambda kw: -len(kw[0])):
            m = re.search(r"(?<![a-z0-9])" + re.escape(word) + r"(?![a-z0-9])", folded)
            if m:
                if step == "location" and parsing.looks_like_address(parsing.strip_filler(rest)):
                    return step, parsing.strip_filler(rest)
                after = re.sub(r"^\s*(?:to|is|should be|a|por|es|:)\s+", "", rest[m.end():].strip(" :,."),
                               flags=re.IGNORECASE).strip()
                return step, after
        # An address before a value's synonym: in "perdón, no hablo bien inglés. Está en la pared de la escuela en
        # 1500 Central Ave" the school is a landmark, and the address was lost to "Updated: Public property" (probe AG).
        if parsing.looks_like_address(parsing.strip_filler(rest)):
            return "location", parsing.strip_filler(rest)
        for attr in service.attributes:
            if attr.values and parsing.match_values(attr, rest):
                return attr.code, rest
        if parsing.validate_email(rest):
            return "email", rest
        if parsing.validate_phone(rest):
            return "phone", rest
        return None, rest

    def _correct(self, dispatcher: CollectingDispatcher, tracker: Tracker, service: Any, target: str,
                 value_text: str, lang: str) -> dict[str, Any]:
        """Replace the named step's value ("Updated: …"), or clear it so it is asked next."""
        if value_text and target != "photo":
            values = self._validate(service, target, value_text, CollectingDispatcher(), lang)
            if values.get(target) is not None:
                dispatcher.utter_message(text=t("correction_done", lang,
                                                value=display(service, target, values[target], lang)))
                return values
        dispatcher.utter_message(text=t("correction_ask", lang))
        cleared: dict[str, Any] = {target: None}
        if target == "contact_name":
            cleared.update(phone=None, email=None)
        cleared["requested_slot"] = target
        return cleared


# "…, not a pothole", "no es un bache", "instead", "en vez de": the resident says the report is about something else
_NOT_THIS = re.compile(r"\bnot\s+(?:an?|the)\b|\binstead\b|\bno\s+es\s+(?:un|una|el|la)\b|\ben\s+(?:vez|lugar)\s+de\b",
                       re.IGNORECASE)


SWITCH_MIN_CONFIDENCE = 0.2
SWITCH_SURE = 0.8


def _other_service(service: Any, text: str, ranking: list[dict[str, Any]], correction: str | None) -> Service | None:
    """The service a mid-form message switches the report to, or None.

    It must be worded as a correction ("actually…", "wait no, I meant…") or say what the report is not ("…, not a
    pothole"), and name another service: Rasa's best guess, or among its first three when the message names both
    and leaves them tied. A correction of one of this report's own answers ("wait, I meant it's in the crosswalk")
    stays one, unless the message says what the report is not and Rasa is sure of the other service."""
    denies = bool(_NOT_THIS.search(text))
    if text.startswith("/") or (correction is None and not denies):
        return None
    guesses = [(service_for_label(str(g.get("name") or "")) if str(g.get("name") or "").startswith("report_")
                else None, float(g.get("confidence") or 0)) for g in ranking[:3]]
    others = [(other, confidence) for other, confidence in guesses
              if other is not None and other.label != service.label and confidence >= SWITCH_MIN_CONFIDENCE]
    if not others:
        return None
    first = guesses[0][0] if guesses else None
    top, sure = first is not None and first.label == others[0][0].label, others[0][1] >= SWITCH_SURE
    if denies and top and sure:
        return others[0][0]
    if ValidateReportForm._correction_target(service, correction if correction is not None else text)[0]:
        return None
    return others[0][0] if denies or (top and sure) else None


def _another_problem(service: Any, requested: str, text: str, message: dict[str, Any]) -> Service | None:
    """The other service a mid-form message reports, said as a problem of its own (not a correction of this
    report, which `_other_service` takes): Rasa is sure of it, the message names that problem in the catalogue's
    words for it (Rasa reads "Beatties Ford Rd and LaSalle St" as a traffic signal report) and gives no street
    address for this one. The description, which may well mention other things, and the summary are left alone."""
    if requested in ("description", "confirm", "change", "photo") or text.startswith("/"):
        return None
    intent = message.get("intent") or {}
    other = service_for_label(str(intent.get("name") or ""))
    if other is None or other.label == service.label or float(intent.get("confidence") or 0) < SWITCH_SURE:
        return None
    folded = parsing.fold(text)
    words = [parsing.fold(w) for w in other.keywords if parsing.fold(w) not in (*parsing.STREET_WORDS, "calle")]
    if not any(re.search(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])", folded) for w in words if w):
        return None
    return other if parsing.find_address_in_text(text) is None else None


def answered_question_before(tracker: Tracker) -> str:
    """The resident's typed message just before a button, when the knowledge base answered it: "Report it" under
    the noise answer to "mis vecinos tienen musica a todo volumen cada noche en 2200 Remount Rd" asked where and
    what kind of noise again (probe AJ). "" otherwise."""
    users, answered = 0, False
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "slot" and event.get("name") == KB_LABEL_SLOT and str(event.get("value") or "").startswith("faq/"):
            answered = users == 1  # set in the turn of the message before the button
        elif kind in ("session_started", "active_loop") and users:
            return ""
        elif kind == "user":
            users += 1
            if users == 2:
                text = str(event.get("text") or "").strip()
                return text if answered and not text.startswith("/") else ""
    return ""


def shared_before(tracker: Tracker, turns: int = 4) -> dict[str, str]:
    """The location (📍) and photo (📷) a resident shared in the few turns before asking to report.

    Residents often send the picture or their position first and then say what it is; asking for
    them again would be a step backwards. Only this report's run-up counts: the scan stops at the
    previous form's end and at the session start.
    """
    found: dict[str, str] = {}
    users = 0
    for event in reversed(tracker.events):
        kind = event.get("event")
        # (this form's own activation is logged after the message that started it)
        if (users and kind in ("active_loop", "session_started")) or users > turns:
            break
        if kind != "user":
            continue
        users += 1
        if users == 1:  # the message that starts the form: _start reads it itself
            continue
        text = (event.get("text") or "").strip()
        if "location" not in found and text.startswith("/share_location"):
            value, _ = parsing.validate_location(text)
            if value:
                found["location"] = value["location"]
        media = (event.get("metadata") or {}).get("media_url")
        if "photo" not in found and media and _just_a_photo(text):
            found["photo"] = str(media)
    return found


def _just_a_photo(text: str) -> bool:
    """A photo sent on its own ("(photo)", "look at this") is this report's; one sent with a question of its
    own ("how do I pay this parking ticket? pic attached") is about that, and a report's photo is public."""
    return "?" not in text and len(re.findall(r"\w+", text)) <= 4


def _answered_since_user(tracker: Tracker) -> bool:
    """Whether the bot already said something since the resident's last message (an interruption rule
    such as the 911 answer ran, and the form is now resuming)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "bot":
            return True
    return False


class ActionSubmitReport(Action):
    """After the report form ends: send form_complete to chat_server (which files the Open311 ticket) —
    only when the resident chose Submit on the summary."""

    def name(self) -> str:
        return SUBMIT_ACTION

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        service = form_service(tracker)
        reset = [SlotSet(name, None) for name in FORM_SLOTS if tracker.get_slot(name) is not None]
        if service is None or tracker.get_slot("confirmed") is not True:
            return reset  # cancelled or interrupted: nothing to file
        dispatcher.utter_message(text=t("form_submitting", lang, service=service.name(lang).lower()))
        dispatcher.utter_message(json_message={
            "event": "form_complete", "label": service.label, "language": lang,
            "data": report_data(tracker, service),
        })
        return reset
