"""Words for "the number (or address) I am writing from": the contact an SMS or e-mail conversation already has.

One rule for the two places that ask for a contact: chat_server's callback offer and the bot's report form.
Pure, like chat311_labels.py, so both virtualenvs load this file (chat_server by path, through
chat_server/bot_rules.py). By SMS, "the number I am texting from" was refused as "not a US phone number".
"""

from __future__ import annotations

import re

_THIS_CONTACT = re.compile(
    r"\b(this|same|my|the)\s+(number|phone|cell|cell phone|one|e-?mail|address)\b(?!\s+is\b)|texting (you )?from|"
    r"writing (you )?from|\beste (mismo )?(numero|número|telefono|teléfono|celular|correo)\b|"
    r"\bmismo (numero|número|telefono|teléfono|celular|correo)\b|desde (el )?que (le )?escribo")


def names_this_contact(said: str) -> bool:
    """Whether `said` points at the contact the resident writes from ("same number", "a este mismo número").
    Callers look for a number or address typed in the same message first: "my number is 704…" gives one."""
    return bool(_THIS_CONTACT.search(said.lower()))
