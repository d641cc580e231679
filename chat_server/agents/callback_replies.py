"""Reading a resident's answers to the callback offer: pure, no I/O.

Quick-reply buttons send fixed payloads; residents who type instead get the same result for the
usual yes/no words and for a phone number or e-mail typed straight away, in English and Spanish.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from chat_server.bot_rules import load_bot_rule
from chat_server.texts import button_for

CONSENT_YES = "/callback_yes"
CONSENT_NO = "/callback_no"
BY_PHONE = "/callback_phone"
BY_EMAIL = "/callback_email"
NO_CALLBACK = "/callback_none"
SKIP = "/callback_skip"
THIS_CONTACT = "/callback_this_contact"  # the number or address this channel already has (SMS, e-mail)

def _words_of(block: str) -> list[str]:
    return block.split()


_YES = {"yes", "y", "yeah", "yep", "yup", "sure", "ok", "okay", "please", "yes please", "yes pls", "sure thing",
        "of course", "si", "sí", "sip", "claro", "claro que si", "claro que sí", "vale", "dale", "andale", "ándale",
        "de acuerdo", "por favor", "porfa", "si por favor", "sí por favor", "si porfa", "sí porfa", "por supuesto"}
_NO = {"no", "n", "nope", "no thanks", "no thank you", "not now", "no gracias", "ahora no"}
# A no to the whole offer while its contact is being asked for ("ya mejor no, gracias", "cancel").
_WITHDRAW = {"cancel", "never mind", "nevermind", "forget it", "cancelar", "olvidalo", "olvídalo", "ya no",
             "mejor no", "ya mejor no", "ya mejor no gracias", "mejor no gracias", "no mejor no",
             "i changed my mind", "cambie de opinion", "cambié de opinión"}
# Words that say nothing about what a request is for: asking for a person, greetings, politeness, glue.
_NOT_A_TOPIC = frozenset(_words_of("""
    talk speak chat person human agent someone somebody representative rep operator real live actual staff
    want wanna need like would could can may please pls plz thanks thank you hi hello hey good morning afternoon
    evening i im i'm me my we a an the to with of for about and or is are be get have just now someone's
    hablar platicar persona humano humana agente alguien representante operador operadora real con un una
    quiero necesito quisiera puedo podria podría por favor porfa gracias hola buenos buenas dias días tardes
    noches yo me mi de del el la los las a al y o es ser que para sobre ahora ya
    yes leave request si sí dejar solicitud
"""))
_SKIP = {"skip", "no", "nothing", "none", "n/a", "omitir", "saltar", "nada", "ninguna", "ninguno"}
_NONE = {"none", "no callback", "no need", "ninguno", "ninguna", "no hace falta", "no es necesario"}
_PHONE_WORDS = {"phone", "call", "call me", "by phone", "telefono", "teléfono", "llamar", "llamada", "por teléfono",
                "por telefono"}
_EMAIL_WORDS = {"email", "e-mail", "mail", "by email", "correo", "correo electrónico", "correo electronico",
                "por correo"}
_EMAIL = re.compile(r"[^@\s,;<>()]{1,64}@[^@\s,;<>()]{1,255}\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?\d[\d\s().\-]{5,}\d")


class Method(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    NONE = "none"


@dataclass(frozen=True)
class ContactAnswer:
    method: Method
    value: str | None = None  # the number or address, when the resident typed one


def _words(text: str) -> str:
    return re.sub(r"[^\wáéíóúñü@+\-\s]", "", text.strip().lower()).strip()


_BUTTON_TITLES = {"callback_yes_button": CONSENT_YES, "callback_no_button": CONSENT_NO,
                  "callback_phone_button": BY_PHONE, "callback_email_button": BY_EMAIL,
                  "callback_none_button": NO_CALLBACK, "callback_skip_button": SKIP,
                  "callback_this_phone_button": THIS_CONTACT, "callback_this_email_button": THIS_CONTACT}


def _as_payload(said: str) -> str:
    """A button's title typed (or sent by a client that sends titles) means its payload: "Llámenme",
    "No callback needed"."""
    return button_for(said, _BUTTON_TITLES) or said.strip()


def consent(said: str) -> bool | None:
    """True / False for a clear yes or no (button or words), None for anything else."""
    raw = _as_payload(said)
    if raw == CONSENT_YES:
        return True
    if raw == CONSENT_NO:
        return False
    words = _words(raw)
    return True if words in _YES else False if words in _NO else None


def phone_number(text: str) -> str | None:
    """A North American number as 704-555-0142 (10 digits, or 11 starting with 1), else None."""
    match = _PHONE.search(text)
    if not match:
        return None
    digits = re.sub(r"\D", "", match.group(0))
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        return None
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"


def email_address(text: str) -> str | None:
    match = _EMAIL.search(text)
    return match.group(0) if match else None


def contact(said: str) -> ContactAnswer | None:
    """How to call back: a button, a typed number/address, or the words for phone/e-mail/none."""
    raw = _as_payload(said)
    buttons = {BY_PHONE: Method.PHONE, BY_EMAIL: Method.EMAIL, NO_CALLBACK: Method.NONE}
    if raw in buttons:
        return ContactAnswer(buttons[raw])
    if (address := email_address(raw)) is not None:
        return ContactAnswer(Method.EMAIL, address)
    if (number := phone_number(raw)) is not None:
        return ContactAnswer(Method.PHONE, number)
    words = _words(raw)
    if words in _PHONE_WORDS:
        return ContactAnswer(Method.PHONE)
    if words in _EMAIL_WORDS:
        return ContactAnswer(Method.EMAIL)
    if words in _NONE or words in _NO:
        return ContactAnswer(Method.NONE)
    return None


def leading_consent(text: str) -> tuple[bool, str] | None:
    """A yes with more after it ("yes call me at 704-555-3321", "sure, 704-555-1212", "sí porfa llámenme"):
    (True, the rest); None when the message does not start with a yes."""
    words = _words(text).split()
    for n in (3, 2, 1):
        if len(words) > n and " ".join(words[:n]) in _YES:
            return True, " ".join(words[n:])
    return None


_LEADING_TALK = re.compile(r"^(?:(?:actually|ok|okay|oh|well|sorry|so|bueno|pues|sabes que|oye)\s+)+")


_CONTINUE_REPORT = re.compile(
    r"^(?:(?:yes|yeah|ok|okay|sure|si|sí|claro|dale|vale|actually|well|oh|bueno|mejor|pues)\W+){0,2}"
    r"(?:let'?s\s+|vamos\s+a\s+|quiero\s+)?"
    r"(?:continue|finish|resume|complete|go\s+back\s+to|seguir|continuar|terminar|retomar|acabar|completar)"
    r"(?:\s+(?:with\s+|con\s+)?(?:(?:my|the|this|mi|el|este)\s+)?(?:report|reporte|request|solicitud|it|lo))?\W*$",
    re.IGNORECASE)


def continues_report(text: str) -> bool:
    """"Continue my report" / "Seguir con mi reporte" typed (or its button's title), "let's finish it"."""
    return bool(_CONTINUE_REPORT.match(text.strip()))


def withdraws(text: str) -> bool:
    """No to the offer after all, said while its contact is asked for ("actually never mind")."""
    raw = text.strip()
    return raw == CONSENT_NO or _LEADING_TALK.sub("", _words(raw)) in _WITHDRAW or consent(raw) is False


# Help no longer needed, said as a whole message: "I figured it out", "ya lo resolví".
_SOLVED = re.compile(r"^(?:ok(?:ay)?\s+|oh\s+|actually\s+|bueno\s+|ya\s+)?"
                     r"(?:i\s+(?:figured|found)\s+it\s+out|i\s+got\s+it|i\s+(?:don'?t|no\s+longer)\s+need\s+(?:help|an?\s+agent|it)(?:\s+anymore)?|"
                     r"(?:ya\s+)?lo\s+resolv[ií]|ya\s+no\s+necesito(?:\s+ayuda)?|ya\s+lo\s+encontr[eé]|"
                     r"ya\s+no\s+(?:gracias|quiero\s+esperar|hace\s+falta))\b")


def leaves_the_line(text: str) -> bool:
    """Waiting for an agent, the resident no longer wants one: "never mind, I figured it out", "ya no, gracias"
    (its first clause withdraws), "I don't need help anymore". Not a bare "no": that may answer the offer to
    leave the question instead."""
    raw = text.strip()
    if raw.startswith("/"):
        return False
    first = _LEADING_TALK.sub("", _words(re.split(r"[,.;!?]", raw, maxsplit=1)[0]))
    return first in _WITHDRAW or bool(_SOLVED.match(_words(raw)))


# "the number I am texting from", "a este mismo número", "same email": the bot's report form reads them too.
_names_this_contact = load_bot_rule("chat311_this_contact").names_this_contact


def means_this_contact(said: str) -> bool:
    """The "Yes, this number" button, a yes, or words for the number or address the resident is writing from."""
    raw = _as_payload(said)
    if raw == THIS_CONTACT or consent(raw) is True:
        return True
    return bool(_names_this_contact(raw)) and phone_number(raw) is None and email_address(raw) is None


def names_a_topic(text: str) -> bool:
    """More than a request for a person: "I got charged twice on my water bill, I want to talk to someone"
    does; "can I talk to a real person please" does not. Payload buttons say nothing."""
    if text.strip().startswith("/"):
        return False
    return sum(1 for w in _words(text).split() if w not in _NOT_A_TOPIC) >= 2


def moves_on(text: str) -> bool:
    """Asked for a number or an address, the resident writes a sentence with neither ("a que hora abren
    mañana?"): a new question for the bot, not a wrong number."""
    return not re.search(r"\d|@", text) and len(_words(text).split()) >= 4 and not withdraws(text)


def skips_the_question(said: str) -> bool:
    """The "Skip" button, or a yes / no / skip typed where the offer asked what the request is about."""
    raw = _as_payload(said)
    return raw == SKIP or consent(raw) is not None or _words(raw) in _SKIP


def answers_the_offer(text: str) -> bool:
    """A yes / no, a skip or a way to call back (also after a yes: "sure, 704-555-1212"): kept out of the
    request's transcript (the contact has its own field)."""
    lead = leading_consent(text)
    if lead is not None:
        text = lead[1]
    return (consent(text) is not None or contact(text) is not None or skips_the_question(text)
            or withdraws(text))
