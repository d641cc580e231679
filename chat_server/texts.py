"""System messages the server itself says to residents, in every supported language.

One table so wording is reviewed in one place and no language is forgotten: a missing
translation fails the test that walks this table.
"""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, dict[str, str]] = {
    "bot_slow": {
        "en": "Still working on it — thanks for your patience.",
        "es": "Seguimos trabajando en ello — gracias por su paciencia.",
    },
    "bot_unavailable": {
        "en": "Sorry, our virtual assistant is not responding right now. You can talk to a person, or try "
        "again in a minute. For emergencies call 911; for other city services you can also call 311 "
        "(704-336-7600).",
        "es": "Lo sentimos, nuestro asistente virtual no responde en este momento. Puede hablar con una "
        "persona o intentarlo de nuevo en un minuto. Para emergencias llame al 911; para otros servicios "
        "de la ciudad también puede llamar al 311 (704-336-7600).",
    },
    "talk_to_person": {"en": "Talk to a person", "es": "Hablar con una persona"},
    "no_escalation": {
        "en": "Live agents are not available right now. You can call 311 (704-336-7600), Monday–Friday "
        "7 am–7 pm, or tell me what you need and I can file a service request for you.",
        "es": "No hay agentes disponibles en este momento. Puede llamar al 311 (704-336-7600), de lunes a "
        "viernes de 7 am a 7 pm, o dígame qué necesita y puedo registrar una solicitud de servicio.",
    },
    "too_long": {
        "en": "That message is too long ({limit} characters at most). Please shorten it.",
        "es": "Ese mensaje es demasiado largo (máximo {limit} caracteres). Por favor, acórtelo.",
    },
    "rate_limited": {
        "en": "You're sending messages very quickly. Please wait a few seconds and try again.",
        "es": "Está enviando mensajes muy rápido. Espere unos segundos e inténtelo de nuevo.",
    },
}


def text(key: str, language: str, **fmt: Any) -> str:
    entry = TEXTS[key]
    template = entry.get(language) or entry["en"]
    return template.format(**fmt) if fmt else template
