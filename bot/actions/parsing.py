"""Pure parsing/validation helpers for form answers (English and Spanish). No Rasa imports."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

TICKET_RE = re.compile(r"\b311[-\s]?(\d{4,10})\b")
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
COORD_RE = re.compile(r"(-?\d{1,3}(?:\.\d+)?)\s*[,;\s]\s*(-?\d{1,3}(?:\.\d+)?)")
SHARE_RE = re.compile(r"^/share_location(\{.*\})?\s*$", re.DOTALL)
STREET_WORDS = (
    "st", "street", "rd", "road", "ave", "av", "avenue", "blvd", "boulevard", "dr", "drive", "ln", "lane",
    "way", "ct", "court", "pkwy", "parkway", "hwy", "highway", "pl", "place", "cir", "circle", "ter",
    "terrace", "trl", "trail", "pike", "fwy", "expressway", "sq", "loop", "row", "run", "xing",
    "calle", "avenida", "camino", "carretera", "bulevar", "i-77", "i-85", "i-277", "i-485",
)
PLACE_WORDS = (
    "park", "school", "library", "church", "station", "mall", "center", "centre", "corner", "near",
    "behind", "across", "between", "apartments", "apts", "plaza", "bridge", "uptown", "parque", "escuela",
    "biblioteca", "iglesia", "esquina", "cerca", "frente", "entre", "detras", "detrás", "puente",
)

_CANCEL_CORE = (
    r"(?:cancel+|discard|stop|quit|exit|abort|never\s*mind|nevermind|forget\s+(?:it|about\s+it)|start\s+over|"
    r"i\s+changed\s+my\s+mind|i\s+don'?t\s+want\s+to\s+(?:do|report|continue|finish)(?:\s+(?:this|it))?|"
    r"cancelar|cancela|cancelalo|descartar|descarta|descartalo|descártalo|cancélalo|cancelarlo|detener|detente|parar|para|salir|olvidalo|olvídalo|"
    r"olvida\s+eso|ya\s+no(?:\s+quiero(?:\s+(?:hacer|seguir|continuar|reportar)(?:lo)?)?)?|"
    r"no\s+quiero\s+(?:seguir|continuar)|cambi[eé]\s+de\s+opini[oó]n|dejalo|déjalo)")
# "cancel", "actually nevermind, forget it", "sabes que mejor ya no, olvidalo", "cancela el reporte porfavor":
# talk around the cancel word is allowed, anything that could be an answer is not.
_CANCEL_RE = re.compile(
    r"^\s*(?:(?:actually|ok(?:ay)?|oh|well|sorry|so|bueno|pues|oye|ah|sabes\s+qu[eé]|mejor)[\s,.!]+)*"
    r"(?:please\s+|por\s*favor\s+|porfa\s+)?(?:i\s+want\s+to\s+|i\s+wanna\s+|let'?s\s+|quiero\s+|mejor\s+)?"
    + _CANCEL_CORE + r"(?:[\s,.!]+(?:mejor\s+)?" + _CANCEL_CORE + r")*"
    r"(?:\s+(?:it|this|that|(?:the\s+)?(?:report|request|form)|my\s+report|(?:el\s+)?reporte|la\s+solicitud|el\s+formulario|"
    r"(?:hacer|con)\s+el\s+reporte|eso|esto|todo|anymore|please|pls|plz|por\s*favor|porfa))*\s*[.!]*\s*$",
    re.IGNORECASE,
)
_SKIP_RE = re.compile(
    r"^\s*(skip|skip it|no|nope|nah|no thanks|no thank you|none|n/a|na|pass|rather not|i'?d rather not|"
    r"prefer not to( say)?|i prefer not to|don'?t want to|anonymous|stay anonymous|no name|"
    r"no (photo|pic|picture|email|e-mail|phone)|i don'?t have (one|it|a photo|a picture|an email|a phone)|"
    r"omitir|omite|omitelo|saltar|paso|no gracias|ninguno|ninguna|prefiero no|prefiero no decir|anonimo|"
    r"anónimo|sin nombre|no quiero|nel|no tengo|no lo tengo|no tengo (foto|correo|email|tel[eé]fono))"
    r"([\s,.]+(sorry|thanks|thank you|gracias|lo siento|porfa))*\s*[.!]*\s*$",
    re.IGNORECASE,
)
_UNKNOWN_RE = re.compile(
    r"^\s*(unknown|i don'?t know|dont know|don'?t know|idk|not sure|no idea|can'?t see( it)?|no plate|"
    r"didn'?t see( it)?|none|n/a|skip|no se|no sé|nose|no lo se|no lo sé|no lo vi|desconocido|no la veo|no lo veo|"
    r"no tiene|sin placa|omitir|ni idea)([\s,.]+(no lo vi|no la vi|sorry|lo siento))*\s*[.!]*\s*$",
    re.IGNORECASE,
)
_CORRECTION_RE = re.compile(
    r"^\s*(?:(?:sorry|oops|wait|no|oh)[,!.]?\s+)*"
    r"(?:actually|correction|i meant|i mean|i made a mistake|change|update|fix|edit|correct|"
    r"let me change|can i change|i want to change|i need to change|wrong|"
    r"en realidad|de hecho|corrijo|correcci[oó]n|quise decir|me equivoqu[eé]|cambia|cambiar|corregir|"
    r"quiero cambiar|puedo cambiar|necesito cambiar|perd[oó]n)\b[\s,:]*(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_PERSON_RE = re.compile(
    r"\b(agent|person|human|someone|somebody|representative|rep|operator|staff|supervisor|manager|live chat|"
    r"agente|persona|humano|alguien|representante|operador|supervisora?)\b")
_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fourteen": 14, "fifteen": 15, "twenty": 20,
    "thirty": 30, "a couple": 2, "couple": 2, "a few": 3, "few": 3, "several": 4, "a week": 7, "week": 7,
    "a month": 30, "month": 30, "two weeks": 14, "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4,
    "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "quince": 15, "veinte": 20,
    "treinta": 30, "unos dias": 3, "unos días": 3, "varios": 4, "varias": 4, "una semana": 7, "semana": 7,
    "un mes": 30, "mes": 30, "dos semanas": 14,
}


def fold(text: str) -> str:
    """Lowercase, strip accents, collapse whitespace."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", text.lower()).strip()


def _has_phrase(folded: str, phrase: str) -> bool:
    phrase = fold(phrase)
    return re.search(r"(?<![a-z0-9])" + re.escape(phrase) + r"(?![a-z0-9])", folded) is not None


# "wait, what day is trash pickup?", "oye, ¿a qué hora abren?": a question, after an aside or not. Without its
# accent a Spanish question word is also a wish or a statement ("que le vaya bien", "como le dije"): only
# accented, or with a question mark.
_ASIDE = r"^(?:(?:wait|oh|btw|also|and|quick question|espera|oye|oiga|y|tambien|otra cosa|una pregunta)\W+)*"
# "I want to know where to vote" / "quiero saber dónde votar" ask as much as "where do I vote?" (probe W: at a
# choice, the Spanish one got the choice's "no le entendí")
_QUESTION_RE = re.compile(_ASIDE + r"(?:what|whats|when|where|which|who|why|how|can|could|do|does|is|are|will|"
                          r"should|puedo|se puede|i\s+(?:want|need|would\s+like)\s+to\s+know|"
                          r"(?:quiero|quisiera|necesito)\s+saber|(?:me\s+)?(?:puede|podria)s?\s+decir)\b")
_PREGUNTA_RE = re.compile(r"^\W*(?:[a-záéíóúñ]+\W+){0,2}(?:qué|cuándo|dónde|cómo|cuál|quién|cuánto)\b",
                          re.IGNORECASE)


# Unaccented, a few openings are still only questions: "hasta que hora atienden" (not "hasta que llegue"),
# "como hago para…", "donde queda…", "cuanto cuesta…".
_PREGUNTA_SIN_ACENTO_RE = re.compile(
    r"^\W*(?:[a-z]+\W+){0,2}(?:(?:a|hasta|desde)\s+que\s+hora|cuanto\s+(?:cuesta|cobran|tiempo|tarda)"
    r"|donde\s+(?:queda|quedan|esta|estan|puedo|se\s+puede)|como\s+(?:puedo|hago|le\s+hago|se\s+hace))\b")


def opens_with_question(text: str) -> bool:
    """Begins as a question, after an aside or not ("wait, how long…"); a question mark alone does not count."""
    folded = fold(text or "")
    return bool(_QUESTION_RE.match(folded) or _PREGUNTA_RE.match(text or "") or _PREGUNTA_SIN_ACENTO_RE.match(folded))


def is_question(text: str) -> bool:
    return "?" in (text or "") or opens_with_question(text)


# "and on holidays?", "what about recycling?", "¿y los sábados?": a short question that leans on the one before
_FOLLOW_UP_RE = re.compile(r"^\W*(?:and|what about|how about|and what about|also|y|y que tal|que tal|y si|and if)\b")
FOLLOW_UP_MAX_WORDS = 6


def follows_up(text: str) -> bool:
    return len((text or "").split()) <= FOLLOW_UP_MAX_WORDS and bool(_FOLLOW_UP_RE.match(fold(text)))


def is_cancel(text: str) -> bool:
    return bool(_CANCEL_RE.match(text or ""))


# "I don't have it", "lost the number", "no lo tengo", "no me acuerdo": asked for a request number, the resident has
# none to give; asking again only loops.
_NO_NUMBER_RE = re.compile(
    r"\b(?:(?:i\s+)?(?:don'?t|do\s+not)\s+(?:have|know|remember)|(?:i\s+)?(?:can'?t|cannot|couldn'?t)\s+"
    r"(?:find|remember)|lost\s+(?:it|the|my)|forgot|never\s+got|(?:didn'?t|did\s+not)\s+get|no\s+idea"
    r"|no\s+(?:lo|la)\s+(?:tengo|se|encuentro|recuerdo)|no\s+se\s+(?:cual|el\s+numero)|no\s+tengo\s+"
    r"(?:el\s+|ese\s+|ningun\s+)?numero|no\s+me\s+(?:acuerdo|lo\s+dieron|llego)|(?:lo|la)\s+perdi"
    r"|se\s+me\s+(?:perdio|olvido))\b")
NO_NUMBER_MAX_WORDS = 12


def has_no_number(text: str) -> bool:
    return (len((text or "").split()) <= NO_NUMBER_MAX_WORDS and answered_ticket_id(text) is None
            and bool(_NO_NUMBER_RE.search(fold(text))))


def is_skip(text: str) -> bool:
    return bool(_SKIP_RE.match(text or ""))


def is_unknown(text: str) -> bool:
    return bool(_UNKNOWN_RE.match(text or ""))


def find_ticket_id(text: str) -> str | None:
    m = TICKET_RE.search(text or "")
    return f"311-{m.group(1)}" if m else None


def answered_ticket_id(text: str) -> str | None:
    """The request number given when asked for one: with its "311-", or the bare digits ("1000023", "es el
    1000023") when they are the message's only number (a phone number has more digits or more groups)."""
    found = find_ticket_id(text)
    if found:
        return found
    groups = re.findall(r"\d+", text or "")
    return f"311-{groups[0]}" if len(groups) == 1 and 4 <= len(groups[0]) <= 8 else None


def asks_for_person(text: str) -> bool:
    """Whether the message names a person to talk to (a real hand-off request, not a correction)."""
    return bool(_PERSON_RE.search(fold(text)))


# "oops the address is wrong, it's 5650 Monroe Rd", "la dirección está mal, es …": names what is wrong, then the
# new value (it was refused as an answer to the question asked then, and the report was filed at the old address)
_WRONG_FIELD_RE = re.compile(
    r"^\s*(?:(?:sorry|oops|wait|oh|ay|perd[oó]n)[,!.]?\s+)*(?:the\s+|my\s+|la\s+|mi\s+|el\s+)?"
    r"(?P<field>address|location|street|direcci[oó]n|ubicaci[oó]n|calle)\s+(?:is|was|es|est[aá]|estaba)\s+"
    r"(?:wrong|incorrect|not\s+right|mal|equivocad[ao]|incorrect[ao])\b[\s,.;:!-]*"
    r"(?:(?:it'?s|it\s+is|it\s+should\s+be|should\s+be|the\s+right\s+one\s+is|es|la\s+correcta\s+es|debe\s+ser)\b"
    r"[\s:]*)?(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)


def parse_correction(text: str) -> str | None:
    """If the message is a correction ("actually it's on 5th street"), return the rest (may be "")."""
    if (wrong := _WRONG_FIELD_RE.match(text or "")) is not None:
        return f"{wrong.group('field')} {wrong.group('rest').strip()}".strip()
    m = _CORRECTION_RE.match(text or "")
    if not m:
        return None
    return m.group("rest").strip()


def strip_filler(text: str) -> str:
    """'it's on 5th street' -> '5th street'; 'the address is 12 Elm St' -> '12 Elm St'."""
    out = text.strip().strip(".!")
    pattern = re.compile(
        r"^(?:(?:it'?s|it is|its|is|it was|the|my|address|location|name|phone|email|number|"
        r"description|should be|to|on|at|in|es|está|esta|en|la|el|mi|dirección|direccion|"
        r"nombre|teléfono|telefono|correo|número|numero|descripción|descripcion|era|debe ser|a|:|-)\s+)+",
        re.IGNORECASE,
    )
    prev = None
    while prev != out:
        prev = out
        out = pattern.sub("", out, count=1).strip()
    return out


# ---------------------------------------------------------------- location

def parse_coordinates(text: str) -> tuple[float, float] | str | None:
    """(lat, long) when the text is coordinates; "out_of_range" when they are numbers but invalid."""
    text = (text or "").strip()
    share = SHARE_RE.match(text)
    if share:
        try:
            payload = json.loads(share.group(1) or "{}")
            lat, lon = float(payload["lat"]), float(payload.get("long", payload.get("lon", payload.get("lng"))))
        except (ValueError, KeyError, TypeError):
            return "out_of_range"
        return (lat, lon) if -90 <= lat <= 90 and -180 <= lon <= 180 else "out_of_range"
    m = COORD_RE.fullmatch(re.sub(r"^(?:lat(?:itude)?|coords?|coordinates|coordenadas|gps)[:\s]*", "",
                                  text, flags=re.IGNORECASE).strip("() "))
    if not m or "." not in text:
        return None
    lat, lon = float(m.group(1)), float(m.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return "out_of_range"
    return lat, lon


def looks_like_address(text: str) -> bool:
    folded = fold(text)
    if len(folded) < 4 or len(folded) > 200:
        return False
    words = re.findall(r"[a-z0-9'-]+", folded)
    has_number = any(w[0].isdigit() for w in words)
    has_street = any(w.rstrip(".") in STREET_WORDS for w in words)
    has_place = any(_has_phrase(folded, p) for p in PLACE_WORDS)
    has_cross = bool(re.search(r"\b(and|&|at|y|con|esquina)\b", folded)) and has_street
    return (has_street and (has_number or len(words) >= 2)) or has_cross or (has_place and len(words) >= 2) \
        or bool(_ORDINAL_CROSS_RE.fullmatch(folded.strip(" .")))


# Uptown's numbered streets are named without "St": "5th and Tryon", "Tryon & 36th", "Tryon y la 5".
_ORDINAL = r"(?:\d{1,3}(?:st|nd|rd|th)|(?:la|el) \d{1,3})"
_WORD = r"[a-z][a-z'.-]*"
_ORDINAL_CROSS_RE = re.compile(
    rf"(?:{_ORDINAL} (?:and|&|y|con) {_WORD}(?: {_WORD})?|{_WORD}(?: {_WORD})? (?:and|&|y|con) {_ORDINAL})")


ADDRESS_IN_TEXT_RE = re.compile(
    r"(?<![\d().-])\b(\d{1,6}\s+(?:[NSEW]\.?\s+)?(?:[A-Za-z0-9'.-]+\s+){0,4}?(?:" + "|".join(
        w for w in STREET_WORDS if w.isalpha()) + r")\b\.?)",
    re.IGNORECASE,
)


_NAME = r"[A-Za-z0-9][\w'.-]*"
_STREET = r"(?:" + "|".join(w for w in STREET_WORDS if w.isalpha() and w not in ("calle", "avenida", "camino",
                                                                              "carretera", "bulevar")) + r")\b\.?"
# "at Tryon St and 5th St", "corner of Tryon and 5th", "en la esquina de Tryon y la 5"
INTERSECTION_IN_TEXT_RE = re.compile(
    r"\b(?:at|on|corner of|near|by|en|esquina de|en la esquina de|cerca de|entre)\s+(?:the\s+|la\s+|el\s+)?"
    r"(" + _NAME + r"(?:\s+" + _NAME + r"){0,3}?\s+(?:and|&|y|con)\s+(?:la\s+|el\s+)?" + _NAME
    + r"(?:\s+" + _STREET + r")?)", re.IGNORECASE)
# "on tryon street", "along Providence Rd"
STREET_IN_TEXT_RE = re.compile(
    r"\b(?:on|at|along|near|by|off|en|sobre|cerca de)\s+(?:the\s+|la\s+)?((?:" + _NAME + r"\s+){1,3}?" + _STREET + r")",
    re.IGNORECASE)  # "en clanton rd": Spanish speakers name streets as the signs do
# "en la calle Tryon", "sobre la avenida Central"
# Words after "calle" that start a phrase, not a name ("en la calle en 2200 The Plaza", "la calle enfrente").
_NOT_A_NAME = (r"(?!(?:de|del|que|y|con|cerca|en|a|al|la|el|por|mi|su|frente|enfrente|donde|pero|porque|no|se|sirve|"
               r"funciona|tiene|hay|esta|está|estan|están|es|son|muy|ya|lleva|otra|vez|sin|desde|hace|durante|todo|"
               r"toda|todos|todas|ayer|hoy|anoche|cuando|como)\b)")
CALLE_IN_TEXT_RE = re.compile(
    r"(?<!luz de la )(?<!poste de la )(?<!lampara de la )(?<!lámpara de la )"  # "la luz de la calle": a streetlight
    r"\b((?:calle|avenida|av\.|camino|carretera|bulevar)\s+" + _NOT_A_NAME + _NAME
    + r"(?:\s+(?!esta\b|está\b|hay\b)" + _NOT_A_NAME + _NAME + r")?)", re.IGNORECASE)
# words that end a "street" in a sentence but mostly name something else ("bike lane", "right of way")
_NOT_A_STREET = {"lane", "way", "run", "row", "loop", "place", "pl", "court", "ct", "circle", "trail", "sq"}


# "on Providence Rd by the Harris Teeter, it's been…": the landmark right after a bare street is part of the place
_STOP = (r"(?:and|y|que|it|it's|its|is|was|has|had|for|since|lleva|desde|hace|but|pero|o|or|with|con|that|which|who|"
         r"where|when|almost|just|donde|cuando|casi)\b")
# Words that place something by a landmark: after a street ("Tryon St behind the library") or as the whole
# answer to "which block or cross street?" ("behind the library").
_NEAR = (r"(?:near|by|close to|behind|beside|outside|opposite|across from|in front of|next to|frente al?|"
         r"enfrente del?|cerca del?|detr[aá]s del?|junto al?|al lado del?)")
_LANDMARK_AFTER_RE = re.compile(
    r"\s+(" + _NEAR + r"\s+(?!(?:my|our|his|her|their|mi|mis|su|sus|nuestro|nuestra)\b)"
    r"(?:(?:the|a|la|el|los|las|un|una)\s+)?"
    r"(?:(?!" + _STOP + r")(?:[\w'-]+\.(?=\s+\w)|[\w'-]+(?=[\s,.;!?]|$))\s*){1,4})",
    re.IGNORECASE)


# ... and the landmark right before it ("behind the Food Lion on Beatties Ford rd"), said the same way after it
_LANDMARK_BEFORE_RE = re.compile(
    r"(" + _NEAR + r"\s+(?!(?:my|our|his|her|their|mi|mis|su|sus|nuestro|nuestra)\b)"
    r"(?:(?:the|a|la|el|los|las|un|una)\s+)?(?:(?!" + _STOP + r")[\w'-]+\s+){1,4})$", re.IGNORECASE)


def _with_landmark(text: str, street: re.Match[str]) -> str:
    found = street.group(1).strip().rstrip(".")
    tail = _LANDMARK_AFTER_RE.match(text, street.end(1))
    if tail:
        return f"{found} {tail.group(1).strip()}"
    # the landmark before was dropped, and the form asked "where on Beatties Ford rd?" (probe AJ)
    head = _LANDMARK_BEFORE_RE.search(text[:street.start(0)])
    return f"{found} {head.group(1).strip()}" if head else found


_SPANISH_OF = re.compile(r"^(\d{1,6})\s+de\s+(?:la\s+|el\s+)?", re.IGNORECASE)
# "en la 3500 de la calle Central Ave": the house number before the Spanish street word
NUMBER_OF_CALLE_RE = re.compile(
    r"\b(\d{1,6})\s+(?:de\s+(?:la\s+)?)?(?:calle|avenida|av\.?|camino|carretera|bulevar)\s+("
    + _NOT_A_NAME + _NAME + r"(?:\s+" + _NOT_A_NAME + _NAME + r"){0,2})", re.IGNORECASE)


def find_address_in_text(text: str) -> str | None:
    """A location inside a longer message: "pothole at 1234 Sharon Amity Rd", "on tryon street",
    "light out at Tryon St and 5th St", "bache en la calle Tryon", "en la 3500 de la calle Central Ave"."""
    text = text or ""
    if m := NUMBER_OF_CALLE_RE.search(text):  # before the English form, which stops at "calle"
        return f"{m.group(1)} {m.group(2).rstrip('.,')}"
    m = ADDRESS_IN_TEXT_RE.search(text)
    if m:  # "frente al 2400 de Rozzelles Ferry Rd": crews and geocoders get "2400 Rozzelles Ferry Rd"
        return _SPANISH_OF.sub(r"\1 ", m.group(1).strip().rstrip("."))
    m = INTERSECTION_IN_TEXT_RE.search(text)
    while m:  # each "at/on/near …", also one inside a longer candidate ("on the signal box at Tryon and 36th")
        a_date = m.group(1)[0].isdigit() and re.search(r"\bthe\s+$", text[m.start(0):m.start(1)], re.IGNORECASE)
        if looks_like_address(m.group(1)) and not _is_filler_phrase(m.group(1)) and not a_date \
                and not _joins_a_clause(m.group(1)):  # "on the 15th and…", "near the park and it's dark"
            return m.group(1).strip().rstrip(".")
        m = INTERSECTION_IN_TEXT_RE.search(text, m.start() + 1)
    for m in STREET_IN_TEXT_RE.finditer(text):
        words = fold(m.group(1)).split()
        if words[-1].rstrip(".") not in _NOT_A_STREET and not _is_filler_phrase(m.group(1)):
            return _with_landmark(text, m)
    m = CALLE_IN_TEXT_RE.search(text)
    return _with_landmark(text, m) if m else None


_ARTICLES = ("el", "la", "los", "las", "mi", "my", "the", "his", "her", "su", "a", "an", "un", "una")
_CLAUSE_STARTS = {"it", "it's", "its", "is", "was", "i", "i'm", "im", "we", "they", "he", "she", "there", "that",
                  "this", "es", "esta", "hay", "lleva", "no", "now", "then", "ya"}


def _joins_a_clause(candidate: str) -> bool:
    """'park and it's', 'calle Tuckaseegee y el carro': the "and" starts the next sentence part, not a
    cross street (which is a name, a number or a street: 'y la 5', 'and the 5th', 'y la calle Oak')."""
    parts = re.split(r"\s+(?:and|&|y|con)\s+", candidate, maxsplit=1, flags=re.IGNORECASE)
    if len(parts) != 2 or not parts[1]:
        return False
    said = parts[1].split()
    words = fold(parts[1]).split()
    if words[0] in _CLAUSE_STARTS:
        return True
    if words[0] in _ARTICLES and len(words) == 1:  # "on Monroe Rd and the streetlight…": no cross street
        return True
    if words[0] in _ARTICLES and len(words) > 1:
        named = words[1][0].isdigit() or words[1].rstrip(".") in STREET_WORDS
        capital = any(w[:1].isupper() for w in said[1:])  # "y el Parque Freedom" names a place
        return not named and not capital
    return False


def _is_filler_phrase(candidate: str) -> bool:
    """'the middle of the road', 'my street': words that look like a place but name none."""
    words = fold(candidate).split()
    return bool(words) and words[0] in {"my", "our", "the", "this", "that", "a", "middle", "side", "mi", "la", "el"}


def validate_location(text: str) -> tuple[dict | None, str | None]:
    """Returns ({"location", "lat"?, "long"?}, None) or (None, error_key)."""
    coords = parse_coordinates(text)
    if coords == "out_of_range":
        return None, "coords_range"
    if isinstance(coords, tuple):
        lat, lon = coords
        return {"location": f"{lat:.6f},{lon:.6f}"}, None
    cleaned = from_the_address(strip_filler(text or ""))
    if not cleaned or is_skip(cleaned) or is_unknown(cleaned):
        return None, "location_missing"
    if not looks_like_address(cleaned):
        return None, "location_implausible"
    return {"location": cleaned[:200]}, None


# Words that make what comes before an address part of the place ("in front of the school at 500 Main St").
_LANDMARK_RE = re.compile(r"\b(?:front|near|behind|across|next|by|corner|between|beside|outside|opposite|past|"
                          r"frente|enfrente|cerca|detr[aá]s|esquina|junto|entre|afuera|lado)\b", re.IGNORECASE)


def from_the_address(text: str) -> str:
    """'I said 3310 Monroe Rd' → '3310 Monroe Rd', 'ok called 911. its at 2200 Park Rd' → '2200 Park Rd': talk
    before a numbered address is not part of the place (the location is shown on the public status page). What
    follows it stays ('… Rd near the library'), and so does a landmark before it."""
    m = ADDRESS_IN_TEXT_RE.search(text)
    if m is None or m.start(1) == 0 or _LANDMARK_RE.search(text[:m.start(1)]):
        return text
    return text[m.start(1):]


_CROSS_RE = re.compile(r"(?<![a-z0-9])(?:and|&|at|y|con|esquina|between|entre|corner|off)(?![a-z0-9])")
_HIGHWAY_RE = re.compile(r"\bi-\d+|\bhwy\b|\bhighway\b|\bexpressway\b|\bfwy\b|\bcarretera\b")


def names_only_a_street(location: str) -> bool:
    """'tryon st', 'calle Tryon': a street with no house number, cross street or landmark. A crew cannot
    find a pothole on a street miles long, so the form asks for the block or the nearest cross street."""
    folded = fold(location)
    if not folded or any(c.isdigit() for c in folded) or _CROSS_RE.search(folded) or _HIGHWAY_RE.search(folded):
        return False
    words = re.findall(r"[a-z0-9'.-]+", folded)
    if 2 <= len(words) <= 4 and words[-1].rstrip(".") in STREET_WORDS:
        return True  # "park rd", "church st": a place word in a street's name is still only a street
    if any(_has_phrase(folded, p) for p in PLACE_WORDS) or _LANDMARK_RE.search(folded):
        return False
    return any(w.rstrip(".") in STREET_WORDS for w in words) or folded.startswith(("calle ", "avenida "))


_BLOCK_WORDS = r"(?:block|blk|cuadra|bloque)"
_BLOCK_RE = re.compile(rf"(?:(?:the|la|el)\s+)?(?:{_BLOCK_WORDS}\s+(?:of\s+|de\s+)?)?(\d{{1,6}})(?:\s+{_BLOCK_WORDS})?")
_HOUSE_NUMBER_RE = re.compile(r"(?<![\d-])(\d{1,6})(?![\d-]|st\b|nd\b|rd\b|th\b)")
_NEAR_RE = re.compile(r"^" + _NEAR + r"\s+", re.IGNORECASE)
_AND_RE = re.compile(r"^(?:at|and|&|y|con|en|esquina con|esquina de|corner of)\s+", re.IGNORECASE)
_JOIN = {"en": {"block": "{n} block of {street}", "and": "{street} and {cross}"},
         "es": {"block": "cuadra {n} de {street}", "and": "{street} y {cross}"}}


def refine_location(street: str, answer: str, lang: str = "en") -> str:
    """The street a resident gave, made findable by their answer to "which block or cross street?":
    '600 block' → '600 block of Tryon St', '1200' or 'in front of 1200' → '1200 Tryon St', 'at 5th St' →
    'Tryon St and 5th St', 'behind the library' → 'Tryon St behind the library' (in Spanish 'cuadra 600 de calle
    Tryon', 'calle Tryon y 5th St', '… cerca de …'), a whole address → that address; 'skip', 'I don't know'
    or a stray character → the street as it was."""
    join = _JOIN.get(lang, _JOIN["en"])
    said = from_the_address(strip_filler((answer or "").strip(" .,")))
    folded = fold(said)
    if not said or is_skip(said) or is_unknown(said) or not re.search(r"\d|[a-z]{2}", folded):
        return street
    if block := _BLOCK_RE.fullmatch(folded):
        number = block.group(1)
        return (join["block"].format(n=number, street=street) if re.search(_BLOCK_WORDS, folded)
                else f"{number} {street}")
    name = [w for w in fold(street).split() if w.rstrip(".") not in STREET_WORDS]
    if (said.split()[0].isdigit() and looks_like_address(said)) or (name and _has_phrase(folded, name[-1])):
        return said[:200]  # a whole address, or the street again with its cross street
    has_street = any(w.rstrip(".") in STREET_WORDS for w in folded.split())
    numbers = _HOUSE_NUMBER_RE.findall(folded)
    if len(numbers) == 1 and not has_street:  # "in front of 1423", "frente al 1423"
        return f"{numbers[0]} {street}"
    if _NEAR_RE.match(said) or folded.startswith(("between ", "entre ")):  # in the resident's own words
        return f"{street} {said}"[:200]
    if fold(answer).split()[0] in _CLAUSE_STARTS and not has_street and not numbers:
        return street  # "its out compleetly" says what is wrong, not where: it was filed as "tryon st and out …"
    return join["and"].format(street=street, cross=_AND_RE.sub("", said, count=1))[:200]


def location_fields(value: str) -> dict:
    """Split the stored location slot into Open311 fields."""
    coords = parse_coordinates(value)
    if isinstance(coords, tuple):
        return {"lat": coords[0], "long": coords[1]}
    return {"address_string": value}


# ---------------------------------------------------------------- contact

def validate_phone(text: str) -> str | None:
    digits = re.sub(r"[^\d+]", "", text or "")
    if re.search(r"[A-Za-z]{3,}", strip_filler(text or "").replace("ext", "")):
        return None
    digits = digits.lstrip("+")
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10 or digits[0] in "01" or digits[3] in "01":
        return None
    return f"{digits[0:3]}-{digits[3:6]}-{digits[6:]}"


def validate_email(text: str) -> str | None:
    candidate = strip_filler(text or "").strip().strip("<>").rstrip(".")
    m = re.search(r"[^\s<>]+@[^\s<>]+", candidate)
    if m:
        candidate = m.group(0).rstrip(".,")
    return candidate.lower() if EMAIL_RE.match(candidate) else None


# Words of the form's own buttons and answers, typed where the name is asked: "SUBMIT" became a report's contact
# name (probe AG).
_FORM_WORDS = {"submit", "send", "send it", "skip", "no", "nope", "ok", "okay", "done", "next", "continue", "agent",
               "change", "change something", "discard", "discard report", "never mind", "enviar", "envialo",
               "omitir", "saltar", "listo", "siguiente", "cambiar", "cambiar algo", "descartar", "descartar reporte"}


def validate_name(text: str) -> str | None:
    name = re.sub(r"^(?:my name is|i am|i'm|im|this is|it'?s|me llamo|mi nombre es|soy)\s+", "",
                  (text or "").strip(), flags=re.IGNORECASE).strip(" .!")
    if not name or len(name) > 80 or re.search(r"\d|@|https?:", name) or fold(name) in _FORM_WORDS:
        return None
    if not re.search(r"[A-Za-zÀ-ÿ]", name) or len(name.split()) > 5:
        return None
    return name


_YES_RE = re.compile(
    r"^\s*(?:yes|yeah|yep|yup|sure|ok|okay|please|yes please|of course|si|sí|claro|claro que si|por favor|dale|"
    r"de acuerdo|esta bien|está bien|ok gracias)\s*[.!]*\s*$", re.IGNORECASE)


def is_yes(text: str) -> bool:
    """'yes', 'sure', 'sí', 'claro': a reply to "would you like follow-up?" that is not yet the name it asks for."""
    return bool(_YES_RE.match(text or ""))


# "my name is Maria Lopez", "me llamo pedro": the words after say the name whatever their case. After "this is",
# "I'm" or "soy" only capitalised words are a name ("this is John Smith", not "this is a pothole").
_NAMED_RE = re.compile(r"\b(?:my name is|my name's|me llamo|mi nombre es)\s+", re.IGNORECASE)
_INTRO_RE = re.compile(r"\b(?:this is|[Ii] am|[Ii]'m|[Ss]oy)\s+(?=[A-ZÀ-Ý])")
_NAME_WORD_RE = re.compile(r"[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ'-]*")
_NOT_NAME_WORDS = {
    "and", "y", "i", "from", "de", "del", "with", "con", "my", "mi", "at", "in", "en", "the", "la", "el", "a", "an",
    "un", "una", "calling", "writing", "reporting", "here", "not", "so", "just", "still", "also", "again", "sorry",
    "trying", "looking", "having", "your", "tu", "su", "vecino", "vecina", "residente", "resident", "neighbor",
    "phone", "number", "numero", "número", "tel", "email", "correo", "que", "who", "live", "vivo"}
# A US phone number inside a message (also read by chat311_nlu: a phone number is no request number).
PHONE_IN_TEXT_RE = re.compile(r"(?<![\d-])(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?![\d-])")
_EMAIL_IN_TEXT_RE = re.compile(r"[^\s<>@,;:()]+@[^\s<>@,;:()]+")


def _name_after(text: str, start: int, *, capitalised: bool) -> str | None:
    """Up to three name words from `start`, ending at punctuation or a word that is no name ("and", "from")."""
    words: list[str] = []
    for m in _NAME_WORD_RE.finditer(text, start):
        word = m.group(0)
        if text[start:m.start()].strip() or len(words) == 3 or word.lower() in _NOT_NAME_WORDS \
                or (capitalised and not word[0].isupper()):
            break
        words.append(word)
        start = m.end()
    return validate_name(" ".join(words)) if words else None


def find_contact_in_text(text: str) -> dict[str, str]:
    """Contact details a resident gives with their first message ("hi this is John Smith, 704-555-1234, there's
    a pothole…"), so the form does not ask for them again. Only the private contact fields take them."""
    text = text or ""
    found: dict[str, str] = {}
    if m := _NAMED_RE.search(text):
        name = _name_after(text, m.end(), capitalised=False)
    else:
        name = next((n for m in _INTRO_RE.finditer(text) if (n := _name_after(text, m.end(), capitalised=True))),
                    None)
    if name:
        found["contact_name"] = name
    tickets = [m.span() for m in TICKET_RE.finditer(text)]
    for m in PHONE_IN_TEXT_RE.finditer(text):
        phone = validate_phone(m.group(0))
        if phone and not any(a <= m.start() < b for a, b in tickets):
            found["phone"] = phone
            break
    for m in _EMAIL_IN_TEXT_RE.finditer(text):
        if email := validate_email(m.group(0)):
            found["email"] = email
            break
    return found


def name_with_contact(text: str) -> dict[str, str]:
    """A name given with a phone number or e-mail address ("John Carter, 704-555-1212", "my name is Ana,
    ana@example.com"): all of them, or {} when there is no contact or no name beside it."""
    found = find_contact_in_text(text)
    if not (found.get("phone") or found.get("email")):
        return {}
    if "contact_name" not in found:
        rest = PHONE_IN_TEXT_RE.sub(" ", _EMAIL_IN_TEXT_RE.sub(" ", text or ""))
        name = validate_name(" ".join(re.sub(r"[,;:]+", " ", rest).split()))
        if name is None:
            return {}
        found["contact_name"] = name
    return found


def split_name(name: str) -> tuple[str, str | None]:
    parts = name.split()
    return (parts[0], " ".join(parts[1:]) or None) if parts else (name, None)


# ---------------------------------------------------------------- attributes

UNKNOWN = "unknown"  # a plate the resident cannot see (shown as "Unknown" / "No sé" in the summary)

# "I don't know" with the reason after it ("no idea, it's too high up to see", "no se, esta muy alto"), for a
# number the resident reads off a thing: refused as "doesn't look like a license plate" (probe AJ).
_UNKNOWN_WITH_REASON_RE = re.compile(
    r"^\s*(i don'?t know|dont know|idk|not sure|no idea|can'?t (see|read|tell)( it)?|no se|no sé|nose|no lo se|"
    r"no lo sé|ni idea|no lo veo|no la veo|no alcanzo a ver|no se ve)\b[\s,.;:!-]+\S", re.IGNORECASE)
# A car without plates, said so: a classic sign of an abandoned one ("it has no plates", "no tiene placas").
_NO_PLATE_RE = re.compile(
    r"\b(no|without|missing)( license| licence)? (plates?|tags?)\b|\b(plates?|tags?) (are |is )?(missing|gone|removed|"
    r"taken off)\b|\b(no tiene|sin|le quitaron( las)?)( las)? placas?\b", re.IGNORECASE)


def says_unknown(text: str) -> bool:
    """The resident cannot give it, in a word or with the reason why."""
    return is_unknown(text) or bool(_UNKNOWN_WITH_REASON_RE.match(text or ""))


def validate_plate(text: str) -> str | None:
    """A plate is 2–8 letters/digits with at least one digit (UNKNOWN when the resident can't see it, or says it
    has none)."""
    if says_unknown(text) or _NO_PLATE_RE.search(text or ""):
        return UNKNOWN
    cleaned = re.sub(r"\b(nc|n\.c\.|north carolina|sc|south carolina)\b", "", (text or "").strip(),
                     flags=re.IGNORECASE).strip()
    cleaned = re.sub(r"^(?:(?:the|my|its|it's|it is|es|la)\s+)*(?:plate|tag|license plate|license|placa)?"
                     r"\s*(?:number|numero|número|#|is|es|:)*\s*", "", cleaned, flags=re.IGNORECASE)
    cleaned = strip_filler(cleaned)
    compact = re.sub(r"[\s-]", "", cleaned).upper()
    if len(cleaned.split()) <= 3 and re.fullmatch(r"[A-Z0-9]{2,8}", compact) and re.search(r"\d", compact):
        return compact
    return None


def validate_number(text: str) -> int | None:
    folded = fold(text)
    m = re.search(r"(?<![a-z0-9])\d{1,4}\b", folded)  # a number of its own: not the 150 of "ford f150"
    if m:
        value = int(m.group(0))
        if re.search(r"\b(weeks?|semanas?)\b", folded):
            value *= 7
        elif re.search(r"\b(months?|mes|meses)\b", folded):
            value *= 30
        return value if value <= 3650 else None
    for phrase in sorted(_WORDS, key=len, reverse=True):
        if _has_phrase(folded, phrase):
            value = _WORDS[phrase]
            if phrase in ("week", "semana", "month", "mes") or "week" in phrase or "semana" in phrase \
                    or "mes" in phrase or "month" in phrase:
                return value
            if value == 1 and folded.strip(" .!") != fold(phrase) and not re.search(
                    re.escape(fold(phrase)) + r"\s+(week|semana|month|mes|day|dia)\b", folded):
                continue  # "una troca abandonada hace semanas", "una ford f150": an article, not a count
            if re.search(r"\b(weeks?|semanas?)\b", folded):
                value *= 7
            elif re.search(r"\b(months?|meses)\b", folded):
                value *= 30
            return value
    if re.search(r"\b(today|yesterday|hoy|ayer)\b", folded):
        return 1
    return None


def validate_pole_number(text: str) -> str | None:
    if says_unknown(text) or is_skip(text):
        return "skipped"
    cleaned = strip_filler(re.sub(r"^(?:pole|poste)\s*(?:number|numero|número|#)?\s*(?:is|es)?[:#]?\s*", "",
                                  (text or "").strip(), flags=re.IGNORECASE))
    compact = cleaned.replace(" ", "").upper()
    return compact if re.fullmatch(r"[A-Z0-9-]{1,15}", compact) and re.search(r"\d", compact) else None


def validate_vehicle(text: str) -> str | None:
    cleaned = (text or "").strip()
    if len(cleaned) < 3 or is_skip(cleaned) or not re.search(r"[A-Za-z]{3,}", cleaned):
        return None
    return cleaned[:200]


YES_NO = {"yes", "no"}


def is_yes_no(attr: Any) -> bool:
    return {v.key for v in attr.values} == YES_NO


_NEGATED_BEFORE = re.compile(r"\b(?:not|no|nor|ni|isnt|wasnt|never|nunca)\s+(?:(?:es|era|fue|fueron|son)\s+)?"
                             r"(?:(?:the|a|an|my|our|el|la|los|las|mi|mis|nuestro|nuestra)\s+)?$")


def match_values(attr: Any, text: str) -> list[str]:
    """Keys of a catalogue attribute's values named in the text (by key, names in any language or
    synonyms), in order of appearance. A match inside a longer match of another value is ignored
    ("bike lane" is not also "lane")."""
    folded = fold(text).replace("_", " ")
    spans: list[tuple[int, int, str]] = []
    for value in attr.values:
        phrases = {fold(p) for p in (value.key.replace("_", " "), *value.names.values(), *value.synonyms)}
        for phrase in phrases:
            for m in re.finditer(r"(?<![a-z0-9])" + re.escape(phrase) + r"(?![a-z0-9])", folded):
                spans.append((m.start(), m.end(), value.key))
    kept = [s for s in spans
            if not any(o[2] != s[2] and o[0] <= s[0] and s[1] <= o[1] and (o[1] - o[0]) > (s[1] - s[0])
                       for o in spans)]
    if not is_yes_no(attr):
        # "the recycling, not the trash" named the trash too: "Missed: Recycling, Garbage" (probe V)
        kept = [s for s in kept if not _NEGATED_BEFORE.search(folded[:s[0]])]
    first: dict[str, int] = {}
    for start, _, key in sorted(kept):
        first.setdefault(key, start)
    keys = sorted(first, key=first.__getitem__)
    if is_yes_no(attr) and len(keys) > 1:
        return ["no"] if re.match(r"^\s*(no|nope|n)\b", folded) else [keys[0]]
    return keys


FORMAT_VALIDATORS = {"plate": validate_plate, "pole_number": validate_pole_number, "vehicle": validate_vehicle}


def validate_attribute(attr: Any, text: Any) -> tuple[object | None, bool]:
    """An answer for a catalogue attribute → (value, ok): a key, a list of keys, an int or cleaned text."""
    if isinstance(text, list):
        text = " , ".join(str(t) for t in text)
    text = str(text or "")
    if attr.datatype == "singlevaluelist":
        keys = match_values(attr, text)
        return (keys[0], True) if keys else (None, False)
    if attr.datatype == "multivaluelist":
        keys = match_values(attr, text)
        return (keys, True) if keys else (None, False)
    if attr.datatype == "number":
        value = validate_number(text)
        in_bounds = value is not None and (getattr(attr, "minimum", None) is None or value >= attr.minimum) \
            and (getattr(attr, "maximum", None) is None or value <= attr.maximum)
        return (value, True) if in_bounds else (None, False)
    validator = FORMAT_VALIDATORS.get(attr.format or "")
    if validator is None:
        cleaned = text.strip()[:500]
        return (cleaned, True) if len(cleaned) >= 1 else (None, False)
    value = validator(text)
    return value, value is not None


# Words that say nothing about the problem: "hola" was filed as a report's description (probe V).
_NO_DESCRIPTION_RE = re.compile(r"^(?:hi|hello|hey|hola|buenas|ok|okay|yes|yeah|si|no|thanks|thank you|gracias|"
                                r"test|testing|prueba|idk|nada|nothing|none|ninguno|ninguna)$")


def validate_description(text: str) -> str | None:
    cleaned = (text or "").strip()
    if len(cleaned) < 3 or not re.search(r"[A-Za-zÀ-ÿ]{2,}", cleaned):
        return None
    if _NO_DESCRIPTION_RE.match(re.sub(r"[^\w ]+", "", fold(cleaned)).strip()):
        return None
    return cleaned[:1000]
