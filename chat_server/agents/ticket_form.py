"""What the console shows about a report and how its ticket form is built: pure, no I/O.

The panel turns the bot's slots into words from the catalogue (service, each attribute's question
and answer, location, photo, contact) and leaves everything else out (Rasa's
`session_started_metadata`, `requested_slot`, language, ...). The form is the catalogue itself:
one field per attribute, typed by its datatype, so agents can file every service and the server
validates their answers exactly as it validates Open311 POSTs.
"""

from __future__ import annotations

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


def collected(slots: dict[str, Any], service: Service | None, media_url: str | None) -> dict[str, Any]:
    """The structured panel of what the bot collected (values as keys for the form, words to read)."""
    attributes = []
    if service is not None:
        for attr in service.attributes:
            value = slots.get(attr.code)
            if value in (None, "", []):
                continue
            keys = [_key(v) for v in value] if isinstance(value, list) else [_key(value)]
            attributes.append({"code": attr.code, "question": attr.description("en"),
                               "value": keys if attr.datatype == "multivaluelist" else keys[0],
                               "words": _words(attr, keys)})
    location = str(slots.get("location") or "").strip() or None
    place: dict[str, Any] = {}
    if location and (match := _LAT_LONG.match(location)):
        place = {"lat": float(match.group(1)), "long": float(match.group(2))}
    elif location:
        place = {"address": location}
    contact = {k: str(slots[s]) for k, s in (("name", "contact_name"), ("phone", "phone"), ("email", "email"))
               if slots.get(s) not in (None, "")}
    return {
        "service_code": service.service_code if service else None,
        "service_name": service.name("en") if service else None,
        "attributes": attributes, "location": location, **place,
        "description": str(slots.get("description") or "") or None,
        "photo": media_url or None, "contact": contact,
    }
