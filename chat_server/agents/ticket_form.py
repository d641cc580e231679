"""What the console shows about a report and how its ticket form is built: pure, no I/O.

The panel turns the bot's slots into words from the catalogue (service, each attribute's question
and answer, location, photo, contact) and leaves everything else out (Rasa's
`session_started_metadata`, `requested_slot`, language, ...). The form is the catalogue itself:
one field per attribute, typed by its datatype, so agents can file every service and the server
validates their answers exactly as it validates Open311 POSTs.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chat_server.tickets.catalogue import Catalogue, Service, ServiceAttribute

_LAT_LONG = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")
# Form field type per catalogue datatype (lists are <select>s; multivaluelist allows several).
FIELD_TYPES = {"string": "text", "text": "textarea", "number": "number", "datetime": "date",
               "singlevaluelist": "select", "multivaluelist": "select"}


def _field(attr: ServiceAttribute) -> dict[str, Any]:
    return {"code": attr.code, "label": attr.description("en"), "datatype": attr.datatype,
            "field": FIELD_TYPES.get(attr.datatype, "text"), "required": attr.required,
            "multiple": attr.datatype == "multivaluelist",
            "values": [{"key": v.key, "name": v.name("en")} for v in attr.values]}


def form_services(catalogue: Catalogue) -> list[dict[str, Any]]:
    """Every service with its attribute fields, for the console's ticket form."""
    return [{"service_code": s.service_code, "name": s.name("en"), "group": s.group,
             "location_required": s.location_required, "fields": [_field(a) for a in s.attributes if a.variable]}
            for s in catalogue]


def _key(item: Any) -> str:
    """A slot value as a catalogue key (the bot keeps yes/no answers as booleans)."""
    return ("yes" if item else "no") if isinstance(item, bool) else str(item)


def _words(attr: ServiceAttribute, keys: list[str]) -> str:
    return ", ".join(known.name("en") if (known := attr.value(k)) else k for k in keys)


# What the bot's report form stores for a question the resident skipped (bot/actions/report_form.py).
SKIPPED = "skipped"


def given(value: Any) -> bool:
    """Did the resident answer? (Not for a skipped question.)"""
    return value not in (None, "", [], SKIPPED)


def bot_slots(raw: str | None) -> dict[str, Any]:
    """The bot's slots as the conversation stores them (JSON); {} when missing or unreadable."""
    try:
        slots = json.loads(raw or "{}")
    except ValueError:
        return {}
    return slots if isinstance(slots, dict) else {}


def report_service(slots: dict[str, Any], catalogue: Catalogue, *labels: str | None) -> Service | None:
    """The service of the resident's report: the bot's `service` slot (the report's label, e.g.
    report_pothole), else the first of the conversation's labels that names one."""
    for label in (slots.get("service"), *labels):
        if label and (service := catalogue.by_label(str(label))) is not None:
            return service
    return None


def collected(slots: dict[str, Any], service: Service | None, media_url: str | None) -> dict[str, Any]:
    """The structured panel of what the bot collected (values as keys for the form, words to read). The
    bot keeps the service's answers in one `attributes` slot; skipped questions are left out."""
    answers = slots.get("attributes")
    if not isinstance(answers, dict):
        answers = {}
    attributes = []
    if service is not None:
        for attr in service.attributes:
            value = answers.get(attr.code)
            if not given(value):
                continue
            keys = [_key(v) for v in value] if isinstance(value, list) else [_key(value)]
            attributes.append({"code": attr.code, "question": attr.description("en"),
                               "value": keys if attr.datatype == "multivaluelist" else keys[0],
                               "words": _words(attr, keys)})
    location = str(slots["location"]).strip() or None if given(slots.get("location")) else None
    place: dict[str, Any] = {}
    if location and (match := _LAT_LONG.match(location)):
        place = {"lat": float(match.group(1)), "long": float(match.group(2))}
    elif location:
        place = {"address": location}
    contact = {k: str(slots[s]) for k, s in (("name", "contact_name"), ("phone", "phone"), ("email", "email"))
               if given(slots.get(s))}
    return {
        "service_code": service.service_code if service else None,
        "service_name": service.name("en") if service else None,
        "attributes": attributes, "location": location, **place,
        "description": str(slots["description"]) if given(slots.get("description")) else None,
        "photo": media_url or None, "contact": contact,
    }
