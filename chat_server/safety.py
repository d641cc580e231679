"""Emergency guard: messages describing an emergency get "call 911" at once, in any state.

This runs in chat_server before anything else, so it works while the bot is down, while a
human agent has the conversation, and mid-form. The bot has its own model-based
`emergency` intent for wordings these patterns miss. Patterns err on the side of answering:
an unnecessary 911 reminder is cheap, a missed one is not.
"""

from __future__ import annotations

import re

_EN = [
    r"\b911\b", r"\bemergenc(y|ies)\b", r"\bfire\b(?!\s*(hydrant|works|fighter recruit|station tour|pit))",
    r"\b(house|building|car|kitchen|apartment)\s+(is\s+)?on fire\b", r"\bsmell(s|ing)? (of )?gas\b",
    r"\bgas leak\b", r"\b(heart attack|stroke|overdos(e|ing)|seizure|unconscious|not breathing|can'?t breathe)\b",
    r"\b(bleeding|stabbed|(been|got|was|is|were) shot|shooting|gunshots?|gunfire)\b", r"\b(someone|somebody|man|woman|person|child|kid)\b.{0,40}"
    r"\b(dying|hurt|injured|drowning|attacking|attacked|trapped)\b", r"\bbreak[- ]?in\b.{0,30}\b(now|right now|happening)\b",
    r"\b(power|electric(al)?) lines? (down|sparking|on the (road|ground|street))\b", r"\bdowned (power )?lines?\b",
    r"\b(water|flood(ing)?) (rising|entering|in) (my|the) (house|home|car)\b", r"\bswept away\b", r"\bcar accident\b",
    r"\bcrash\b.{0,30}\b(injur|hurt|bleed)", r"\bsuicid", r"\bkill (myself|me)\b", r"\bhelp me\b.{0,20}\b(now|please)\b.{0,20}\b(hurt|attack)",
]
_ES = [
    r"\bemergencia", r"\bincendio\b", r"\b(fuego|se quema|est[aá] en llamas|en llamas)\b", r"\bhuele a gas\b",
    r"\bfuga de gas\b", r"\bolor a gas\b", r"\b(ataque al coraz[oó]n|infarto|sobredosis|convulsi[oó]n|inconsciente|"
    r"no respira|no puede respirar)\b", r"\b(sangrando|sangre|apu[ñn]alad|disparo|disparos|balacera|pistola|arma)\b",
    r"\b(alguien|hombre|mujer|persona|ni[ñn]o|ni[ñn]a)\b.{0,40}\b(muriendo|herid[oa]|ahog[aá]ndose|atacando|atrapad[oa])\b",
    r"\bcables? (el[eé]ctricos? )?(ca[ií]dos?|en el suelo|en la calle|echando chispas)\b",
    r"\b(agua|inundaci[oó]n) (entrando|subiendo) (a|en) (mi|la) (casa|carro)\b", r"\baccidente de (carro|coche|auto|tr[aá]nsito)\b",
    r"\bsuicid", r"\bmatarme\b", r"\bme quiero morir\b",
]
_EN_RE = re.compile("|".join(_EN), re.IGNORECASE)
_ES_RE = re.compile("|".join(_ES), re.IGNORECASE)

MESSAGES = {
    "en": "If this is an emergency or anyone is in danger, call 911 now. 311 cannot dispatch police, fire or "
    "ambulance. For a downed power line, stay at least 30 feet away and call 911.",
    "es": "Si es una emergencia o alguien está en peligro, llame al 911 ahora. El 311 no puede enviar policía, "
    "bomberos ni ambulancia. Si hay un cable eléctrico caído, aléjese al menos 10 metros y llame al 911.",
}


def emergency_language(text: str) -> str | None:
    """The language of the emergency wording found in `text`, or None if there is none."""
    if _ES_RE.search(text):
        return "es"
    if _EN_RE.search(text):
        return "en"
    return None


def emergency_reply(language: str) -> str:
    return MESSAGES.get(language, MESSAGES["en"])
