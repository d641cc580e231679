"""Reading a resident's answers to the callback offer: pure, no I/O.

Quick-reply buttons send fixed payloads; residents who type instead get the same result for the
usual yes/no words and for a phone number or e-mail typed straight away, in English and Spanish.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

CONSENT_YES = "/callback_yes"
CONSENT_NO = "/callback_no"
BY_PHONE = "/callback_phone"
BY_EMAIL = "/callback_email"
NO_CALLBACK = "/callback_none"
SKIP = "/callback_skip"

_YES = {"yes", "y", "yeah", "yep", "sure", "ok", "okay", "please", "yes please", "si", "sí", "claro", "vale",
        "de acuerdo", "por favor", "si por favor", "sí por favor"}
_NO = {"no", "n", "nope", "no thanks", "no thank you", "not now", "no gracias", "ahora no"}
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


def consent(text: str) -> bool | None:
    """True / False for a clear yes or no (button or words), None for anything else."""
    raw = text.strip()
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


def contact(text: str) -> ContactAnswer | None:
    """How to call back: a button, a typed number/address, or the words for phone/e-mail/none."""
    raw = text.strip()
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


def skips_the_question(text: str) -> bool:
    """The "Skip" button, or a yes / no / skip typed where the offer asked what the request is about."""
    raw = text.strip()
    return raw == SKIP or consent(raw) is not None or _words(raw) in _SKIP


def answers_the_offer(text: str) -> bool:
    """A yes / no, a skip or a way to call back: kept out of the request's transcript (the contact has its
    own field)."""
    return consent(text) is not None or contact(text) is not None or skips_the_question(text)
