"""PII redaction for logs, exports and the training inbox.

Residents type phone numbers, e-mail addresses, SSNs and card numbers into chats; none of
those may reach a log line or a CSV export in full. Patterns are deliberately greedy: a
false positive costs a few masked digits, a false negative leaks personal data.
"""

from __future__ import annotations

import re
from typing import Any

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_SSN = re.compile(r"\b\d{3}[- ]\d{2}[- ]\d{4}\b")
# 13-19 digits, optionally grouped by spaces or dashes (payment cards).
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
# A name a resident gives for themselves ("I'm Maria Lopez", "this is John Smith", "mi nombre es Ana Ruiz") or for
# someone they name by relation ("my neighbor Jennifer Walsh"): the capitalised words after the introduction, or
# any words after one that can only introduce a name ("my name is maria lopez", "me llamo juan"). Names said any
# other way cannot be told from street names.
_NOT_A_NAME = (r"(?!(?i:and|y|i|from|de|del|with|con|at|in|on|en|the|la|el|a|an|un|una|my|mi|calling|here|is|not|"
               r"still|also|wrong|spelled|misspelled)\b)")
_PERSON_NOUN = (r"neighbou?rs?|landlord|landlady|owner|tenant|roommate|wife|husband|son|daughter|mother|father|mom|"
                r"dad|brother|sister|friend|manager|boss|vecin[oa]s?|dueñ[oa]|propietari[oa]|caser[oa]|inquilin[oa]|"
                r"espos[oa]|hij[oa]|amig[oa]|mamá|papá|herman[oa]|jefe|encargad[oa]")
_INTRODUCED_NAME = re.compile(
    r"\b((?i:my name is|my name's|me llamo|mi nombre es))\s+" + _NOT_A_NAME + r"[A-Za-zÁÉÍÓÚÑáéíóúñ'-]+"
    r"(?:\s+" + _NOT_A_NAME + r"[A-Za-zÁÉÍÓÚÑáéíóúñ'-]+){0,2}"
    r"|\b((?i:i'?m|i am|soy|this is))\s+[A-ZÁÉÍÓÚÑ][a-záéíóúñ'-]+(?:\s+[A-ZÁÉÍÓÚÑ][a-záéíóúñ'-]+){0,2}"
    # Someone else named by who they are to the resident: "my neighbor Jennifer Walsh", "owner is Robert Brown",
    # "el dueño se llama Pedro Pérez" went word for word into public descriptions.
    r"|\b((?i:" + _PERSON_NOUN + r")(?:,|\s+(?i:is|was|named|called|es|se llama|llamad[oa]))?)"
    r"\s+[A-ZÁÉÍÓÚÑ][a-záéíóúñ'-]+(?:\s+[A-ZÁÉÍÓÚÑ][a-záéíóúñ'-]+){0,2}")
# An address written out so forms take it ("bob at gmail dot com", "ana (at) example (dot) org").
_SPELT_EMAIL = re.compile(r"\b[\w.+-]+\s*(?:\(at\)|\[at\]|\bat\b|\barroba\b)\s*[\w-]+"
                          r"(?:\s*(?:\(dot\)|\[dot\]|\bdot\b|\bpunto\b|\.)\s*[\w-]+)*?"
                          r"\s*(?:\(dot\)|\[dot\]|\bdot\b|\bpunto\b|\.)\s*(?:com|org|net|edu|gov|us|mx)\b",
                          re.IGNORECASE)
# North American and international phone numbers: 10+ digits with common separators.
# Separators are all-or-nothing so a ticket id like 311-1000001 is not taken for a phone number.
_PHONE = re.compile(r"(?<![\w])(?:\+?\d{1,3}[\s.-]?)?\(?\d{3}\)?(?:[\s.-]\d{3}[\s.-]|\d{3})\d{4}\b")


def _keep_last(match: re.Match[str], label: str, keep: int) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return f"[{label} …{digits[-keep:]}]" if keep else f"[{label}]"


def _passes_luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def mask_payment_cards(text: str) -> str:
    """Card numbers (13–19 digits that pass the Luhn check) as "[card …1111]", before a resident's message
    is stored or shown anywhere: a chat is no place to keep one. Other long numbers stay as typed."""
    def mask(match: re.Match[str]) -> str:
        return _keep_last(match, "card", 4) if _passes_luhn(re.sub(r"\D", "", match.group(0))) else match.group(0)
    return _CARD.sub(mask, text) if text else text


def redact(text: str) -> str:
    """Mask e-mails, self-introduced names, SSN-like, card-like and phone-like numbers in free text."""
    if not text:
        return text
    text = _EMAIL.sub("[email]", text)
    text = _SPELT_EMAIL.sub("[email]", text)
    text = _INTRODUCED_NAME.sub(lambda m: f"{m.group(1) or m.group(2) or m.group(3)} [name]", text)
    text = _SSN.sub("[ssn]", text)
    text = _CARD.sub(lambda m: _keep_last(m, "card", 4), text)
    text = _PHONE.sub(lambda m: _keep_last(m, "phone", 2), text)
    return text


def mask_names(text: str, names: list[str]) -> str:
    """The filer's own name (their contact fields), wherever it is in text that is made public: a resident
    asked to describe the problem sometimes types their name there."""
    for name in sorted({n.strip() for n in names if n and len(n.strip()) >= 2}, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", "[name]", text, flags=re.IGNORECASE)
    return text


# Form fields that identify a resident; stores that outlive the turn keep none of them.
CONTACT_FIELDS = frozenset({"first_name", "last_name", "contact_name", "email", "phone", "device_id",
                            "account_id"})


# A Redis stream entry id (`<ms>-<seq>`, e.g. a message id) under an id key is a reference, not
# something a resident typed: left as is, though its 13 digits look like a card number.
_STREAM_ID = re.compile(r"\d{10,16}-\d{1,6}")


def _is_stream_id(key: Any, value: Any) -> bool:
    return (isinstance(key, str) and (key == "id" or key.endswith("_id")) and isinstance(value, str)
            and _STREAM_ID.fullmatch(value) is not None)


def redact_data(data: Any) -> Any:
    """A copy of JSON-like `data` with contact fields masked and all free text redacted."""
    if isinstance(data, dict):
        return {k: ("[redacted]" if k in CONTACT_FIELDS and v else v if _is_stream_id(k, v) else redact_data(v))
                for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(v) for v in data]
    if isinstance(data, str):
        return redact(data)
    return data
