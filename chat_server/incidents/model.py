"""Incident notices: validation, matching and the public shape — pure logic, no I/O.

A storm or an outage sends a surge of residents asking the same thing. Staff post one notice
(title + short message in English and Spanish, the phrases it covers, a time window); every
channel shows it and the bot answers a message that matches its phrases with the notice first.
Times are epoch seconds: the store, the poll loop and the tests compare instants, never wall
clocks.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeGuard

from chat_server.field_error import FieldError
from chat_server.sanitize import clean_text, fold

LANGUAGES = ("en", "es")
MAX_TITLE = 120
MAX_MESSAGE = 600
MAX_PHRASES = 40
MAX_PHRASE = 60
MAX_DURATION_S = 14 * 86400
MAX_LEAD_S = 30 * 86400  # how far ahead a notice can be scheduled
_URL = re.compile(r"^https?://[^\s<>\"']{3,300}$")


def _plural_pattern(phrase: str) -> str:
    """A folded phrase as a regex of whole words, each with an optional plural ending (s, es)."""
    return " " + " ".join(re.escape(word) + "(?:e?s)?" for word in phrase.split()) + " "
_ID = re.compile(r"^inc-[a-z0-9]{8,16}$")


class IncidentError(FieldError):
    """A refused incident; `field` names what to fix (shown next to that field on the page)."""


@dataclass(frozen=True)
class Incident:
    id: str
    title: dict[str, str]
    message: dict[str, str]
    phrases: tuple[str, ...]
    starts_at: float
    ends_at: float
    url: str = ""
    extend_hours: bool = False
    created_by: str = ""
    created_at: float = 0.0
    ended_at: float | None = None  # set when staff end it early
    ended_by: str = ""
    updated_at: float = 0.0  # staff corrected it after posting (0: never); the web banner shows it again
    updated_by: str = ""
    _folded: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.effective_end

    @property
    def effective_end(self) -> float:
        return min(self.ends_at, self.ended_at) if self.ended_at is not None else self.ends_at

    def matches(self, text: str) -> bool:
        """Whether a resident's message is about this incident: one of its phrases, as whole words, each word also
        in the plural ("gas leaks", "fugas de gas" for "gas leak", "fuga de gas"; probe Y)."""
        folded = f" {fold(text)} "
        return any(re.search(_plural_pattern(phrase), folded) for phrase in self._folded)

    def public(self, language: str) -> dict[str, Any]:
        """The Socket.IO `incident` payload: what a resident may see, in their language."""
        lang = language if language in LANGUAGES else "en"
        return {"id": self.id, "title": self.title[lang], "message": self.message[lang], "url": self.url or None,
                "ends_at": self.effective_end, "updated_at": self.updated_at or None}

    def notice_text(self, language: str) -> str:
        lang = language if language in LANGUAGES else "en"
        body = f"{self.title[lang]}: {self.message[lang]}"
        return f"{body} {self.url}" if self.url and self.url not in body else body

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "message": self.message, "phrases": list(self.phrases),
                "starts_at": self.starts_at, "ends_at": self.ends_at, "url": self.url,
                "extend_hours": self.extend_hours, "created_by": self.created_by, "created_at": self.created_at,
                "ended_at": self.ended_at, "ended_by": self.ended_by, "updated_at": self.updated_at or None,
                "updated_by": self.updated_by}


def with_index(incident: Incident) -> Incident:
    return replace(incident, _folded=tuple(p for p in (fold(x) for x in incident.phrases) if p))


def from_dict(data: Mapping[str, Any]) -> Incident:
    """An incident read back from the store (trusted: it was validated when posted)."""
    return with_index(Incident(
        id=str(data["id"]), title=dict(data["title"]), message=dict(data["message"]),
        phrases=tuple(data.get("phrases") or ()), starts_at=float(data["starts_at"]), ends_at=float(data["ends_at"]),
        url=str(data.get("url") or ""), extend_hours=bool(data.get("extend_hours")),
        created_by=str(data.get("created_by") or ""), created_at=float(data.get("created_at") or 0),
        ended_at=float(data["ended_at"]) if data.get("ended_at") is not None else None,
        ended_by=str(data.get("ended_by") or ""),
        updated_at=float(data.get("updated_at") or 0), updated_by=str(data.get("updated_by") or ""),
    ))


def _bilingual(data: Mapping[str, Any], name: str, limit: int) -> dict[str, str]:
    value = data.get(name)
    if not isinstance(value, Mapping):
        raise IncidentError(name, "give it in English and Spanish ({en, es})")
    out = {}
    for lang in LANGUAGES:
        text = value.get(lang)
        # Invisible (zero-width, bidi-override) and control characters are dropped: a title of only those
        # showed "City notice: " with nothing after it, and an override can make a notice read backwards.
        text = " ".join(clean_text(text).split()) if isinstance(text, str) else ""
        if not text:
            label = "English" if lang == "en" else "Spanish"
            raise IncidentError(f"{name}.{lang}", f"the {label} text is missing (every notice is bilingual)")
        if len(text) > limit:
            raise IncidentError(f"{name}.{lang}", f"at most {limit} characters (this has {len(text)})")
        out[lang] = text
    return out


def _phrases(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = re.split(r"[\n,;]", value)
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise IncidentError("phrases", "a list of words or phrases residents use, e.g. outage, tree down")
    cleaned = (" ".join(clean_text(p).split()) for p in value)
    phrases = tuple(dict.fromkeys(p for p in cleaned if p))
    if not phrases:
        raise IncidentError("phrases", "name at least one word or phrase this notice answers")
    if len(phrases) > MAX_PHRASES:
        raise IncidentError("phrases", f"at most {MAX_PHRASES} phrases")
    for phrase in phrases:
        if len(phrase) > MAX_PHRASE:
            raise IncidentError("phrases", f"{phrase[:20]!r}…: at most {MAX_PHRASE} characters per phrase")
        if len(fold(phrase)) < 3:
            raise IncidentError("phrases", f"{phrase!r} is too short to match safely (3 letters or more)")
    return phrases


def _instant(data: Mapping[str, Any], name: str) -> float:
    value = data.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise IncidentError(name, "a time is required")
    if not math.isfinite(value):  # JSON's NaN / Infinity: stored, they broke the staff page's JSON for everyone
        raise IncidentError(name, "a time is required (epoch seconds, a finite number)")
    return float(value)


def validate(data: object, now: float, existing: Iterable[Incident], by: str) -> Incident:
    """A new incident from staff input, or IncidentError naming the field to fix.

    Refused: missing translations, an end not after the start or already past, a window longer
    than two weeks or starting more than 30 days ahead, and an overlap in time with another live
    incident sharing a phrase (a resident's message would then get two competing notices).
    """
    fields = _mapping(data)
    wording = _wording(fields)
    starts_at, ends_at = _window(fields, _instant(fields, "starts_at") if fields.get("starts_at") is not None else now,
                                 now)
    incident = with_index(Incident(
        id=f"inc-{secrets.token_hex(5)}", **wording, starts_at=starts_at, ends_at=ends_at,
        extend_hours=bool(fields.get("extend_hours")), created_by=by, created_at=now,
    ))
    _refuse_overlap(incident, existing, now)
    return incident


def revise(incident: Incident, data: object, now: float, existing: Iterable[Incident], by: str) -> Incident:
    """A posted incident with staff's corrections ("crews now expect to finish at 8 pm"), or IncidentError.

    The same rules as a new notice. It keeps its id, so its figures and the residents who already
    got it stay counted. A notice that has begun keeps its start (residents have seen it since then), and
    whether it keeps the line open is not changed here: that is an hours decision, taken by ending it and
    posting again. An ended notice is history and is not edited. `base_updated_at`, when given, is the
    correction the editor started from: two supervisors correcting one notice at once do not overwrite each
    other silently.
    """
    fields = _mapping(data)
    if incident.effective_end <= now:
        raise IncidentError("id", "this incident has already ended; post a new notice instead")
    base = fields.get("base_updated_at")
    if base is not None and base != (incident.updated_at or 0):
        raise IncidentError("incident", f"{incident.updated_by or 'someone'} corrected this notice since you opened "
                                        "it; reload it and make your change again")
    if bool(fields.get("extend_hours", incident.extend_hours)) != incident.extend_hours:
        raise IncidentError("extend_hours", "whether the line is kept open cannot be changed on a posted notice; "
                                            "end it and post it again")
    wording = _wording(fields)
    starts_at = incident.starts_at
    if incident.starts_at > now:
        starts_at = _instant(fields, "starts_at") if fields.get("starts_at") is not None else now
    elif fields.get("starts_at") is not None and abs(_instant(fields, "starts_at") - incident.starts_at) > 60:
        raise IncidentError("starts_at", "this notice has already begun; its start cannot change")
    starts_at, ends_at = _window(fields, starts_at, now)
    revised = with_index(replace(incident, **wording, starts_at=starts_at, ends_at=ends_at, updated_by=by,
                                 updated_at=now))
    _refuse_overlap(revised, (other for other in existing if other.id != incident.id), now)
    return revised


def _mapping(data: object) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise IncidentError("incident", "expected an object")
    return data


def _wording(data: Mapping[str, Any]) -> dict[str, Any]:
    """What residents read and the phrases that bring it up."""
    title = _bilingual(data, "title", MAX_TITLE)
    message = _bilingual(data, "message", MAX_MESSAGE)
    url = str(data.get("url") or "").strip()
    if url and not _URL.match(url):
        raise IncidentError("url", "a link starts with https:// or http:// and has no spaces, quotes or < >"
                            if url.lower().startswith(("https://", "http://")) else
                            "a link must start with https:// or http://")
    return {"title": title, "message": message, "url": url, "phrases": _phrases(data.get("phrases"))}


def _window(data: Mapping[str, Any], starts_at: float, now: float) -> tuple[float, float]:
    ends_at = _instant(data, "ends_at")
    if ends_at <= now:
        raise IncidentError("ends_at", "the end is already in the past")
    if ends_at <= starts_at:
        raise IncidentError("ends_at", "the end must be after the start")
    if starts_at - now > MAX_LEAD_S:
        raise IncidentError("starts_at", "a notice can be scheduled at most 30 days ahead")
    if ends_at - starts_at > MAX_DURATION_S:
        raise IncidentError("ends_at", "an incident lasts at most 14 days; post a new one to extend it")
    return starts_at, ends_at


def _refuse_overlap(incident: Incident, existing: Iterable[Incident], now: float) -> None:
    mine = set(incident._folded)
    for other in existing:
        overlap_in_time = other.starts_at < incident.ends_at and incident.starts_at < other.effective_end
        shared = mine & set(other._folded)
        if other.effective_end > now and overlap_in_time and shared:
            raise IncidentError("phrases", f"{sorted(shared)[0]!r} is already covered by “{other.title['en']}” "
                                           "at that time; end that incident or use other phrases")


def valid_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(_ID.match(value))


def current(incidents: Iterable[Incident], now: float) -> list[Incident]:
    """Active incidents, newest start first (the first one is the banner everyone sees)."""
    return sorted((i for i in incidents if i.active(now)), key=lambda i: (-i.starts_at, i.id))


def next_change(incidents: Iterable[Incident], now: float) -> float | None:
    """The next instant a scheduled incident starts or a live one ends (the poll loop wakes then)."""
    times = [t for i in incidents for t in (i.starts_at, i.effective_end) if t > now]
    return min(times) if times else None
