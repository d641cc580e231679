"""Take the specifics out of a question before it is searched (pure): street addresses, place names,
e-mail addresses and phone numbers.

Residents say where a problem is in the same message as what it is: "what day is my pickup at
4500 Park Rd", "street flooding on Little Sugar Creek". The name carries no topic but weighs on
both scores: in the embedding it pulled "cuál es mi día de recolección para 4500 Park Rd" from
1.29 to 0.68, below the menu threshold, and "Park" alone pulls the search towards the parks
articles. So an address or a named place is dropped, keeping a generic noun that is itself a topic
(creek, park, lake). A lower-case street name with no house number ("pothole on tryon street") is
left alone: nothing tells it apart from ordinary words. Contact details say nothing about the topic
either ("how do i pay my water bill, my email is …" fell from an answer to a menu). Nor do the
pleasantries a resident puts before a question ("thanks!! when is …", "ok thanks, what day …").
"""

from __future__ import annotations

import re

# Street types that end an address; none of them is a topic on its own.
STREET_TYPES = (r"rd|road|st|street|ave|avenue|blvd|boulevard|dr|drive|ln|lane|ct|court|pkwy|parkway|hwy|"
                 r"highway|cir|circle|pl|place|trl|trail|ter|terrace|way|expy|expressway|fwy|freeway")
# Generic place nouns after a proper name: the name goes, the noun stays (it can be what the question is about).
_KEPT_NOUNS = r"creek|park|lake|river|greenway|branch"
SPANISH_STREETS = r"calle|avenida|av|bulevar|carretera|camino"

# Capitalised words that start a sentence or a question rather than a name.
_NOT_NAMES = (r"a|an|the|my|our|your|this|that|there|is|are|can|do|does|how|what|when|where|which|who|why|i|"
              r"in|on|at|near|by|to|el|la|los|las|mi|mis|nuestra|nuestro|en|por|cerca|hay|donde|dónde|cuándo")
_NAME = rf"(?!(?i:{_NOT_NAMES})\b)[A-Z][\w'’.-]*"
_WORD = r"[\w'’.-]+"
# "4500 Park Rd", "12 e. 4th street": a house number makes any words before a street type an address.
_NUMBERED = re.compile(rf"\b\d{{1,6}}[a-z]?\s+(?:{_WORD}\s+){{0,3}}?(?:{STREET_TYPES})\b\.?", re.IGNORECASE)
# "Brookshire Blvd", "Little Sugar Creek": capitalised words before a street type or a kept noun.
_NAMED = re.compile(rf"\b(?:{_NAME}\s+){{1,3}}(?i:({STREET_TYPES})|({_KEPT_NOUNS}))\b\.?")
# "la calle Tryon", "avenida Central 1200": the Spanish name follows the street word, which stays.
_SPANISH = re.compile(rf"\b((?i:{SPANISH_STREETS}))\.?\s+(?:de\s+)?(?:{_NAME}|\d{{1,6}})(?:\s+(?:{_NAME}|\d{{1,6}}))*")


# "my email is …", "mi teléfono es …": the words that hand over a contact go with it ("email" pulls
# towards the paperless-billing article).
_LEAD_IN = (r"(?:(?:my|mi)\s+(?:e-?mail(?:\s+address)?|phone(?:\s+number)?|number|cell|correo(?:\s+electr[oó]nico)?|"
            r"tel[eé]fono|n[uú]mero|celular)\s+(?:is|es)\s+)?")
_EMAIL = re.compile(_LEAD_IN + r"[^\s@]+@[^\s@]+\.[a-z]{2,}", re.IGNORECASE)
_PHONE = re.compile(_LEAD_IN + r"(?<!\w)(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?!\w)", re.IGNORECASE)


def _named(match: re.Match[str]) -> str:
    return match.group(2) or ""


def without_specifics(text: str) -> str:
    """`text` without addresses, named places, e-mail addresses and phone numbers (case matters: call
    it before lower-casing)."""
    text = _PHONE.sub(" ", _EMAIL.sub(" ", text))
    text = _NUMBERED.sub(" ", text)
    text = _SPANISH.sub(r"\1", text)
    return _NAMED.sub(_named, text)


# "thanks!! when is yard waste picked up", "ok thanks, what day is recycling", "hi! …", "great, and where do I
# vote", "gracias, y ¿cuándo pasa la basura?": words that only carry the chat along pulled the question from an
# answer to a menu or the fallback. They go only when a question of its own follows them.
_LEAD_WORD = (r"(?:thank\s+you(?:\s+(?:so\s+much|again))*|thanks?(?:\s+(?:you|so\s+much|a\s+lot|again))*|thx|ty|"
              r"ok(?:ay)?|k|great|cool|perfect|awesome|nice|got\s+it|good\s+(?:morning|afternoon|evening)|good|"
              r"alright|all\s+right|oh|ah|yes|yeah|yep|sure|hi|hello|hey|hiya|also|and|"
              r"one\s+more(?:\s+(?:thing|question))?|another\s+question|hola|buenos\s+d[ií]as|"
              r"buenas\s+(?:tardes|noches)|buenas|muchas\s+gracias|gracias|bueno|vale|perfecto|listo|ok[eé]|s[ií]|y|"
              r"tambi[eé]n|otra\s+(?:cosa|pregunta)|una\s+pregunta\s+m[aá]s)")
_PLEASANTRIES = re.compile(rf"^[\W_]*(?:{_LEAD_WORD}(?:[\s,.!:;¡¿-]+|$))+", re.IGNORECASE)
QUESTION_AFTER_LEAD_IN = 3  # words left for the lead-in to go: "thanks, and you?" keeps its words


def without_lead_in(text: str) -> str:
    """`text` without pleasantries before its question."""
    rest = _PLEASANTRIES.sub("", text, count=1)
    return rest if len(rest.split()) >= QUESTION_AFTER_LEAD_IN else text
