"""Driving the bot's ticket form through chat: what to answer to each question, per language."""

from __future__ import annotations

from tests.support.clients import ResidentClient

# What to answer, by what the bot is asking (first matching pattern wins), per language.
ANSWERS: dict[str, list[tuple[str, str]]] = {
    "en": [
        (r"Shall I submit it\?", "Submit"),  # the summary names every field: it must win over them
        (r"(?i)photo", "skip"),
        (r"(?i)in the road\?", "in the travel lane"),
        (r"(?i)how big", "large, bigger than a tire"),
        (r"(?i)(address|location|intersection|where)", "600 East 4th Street"),
        (r"(?i)(describe|description|tell me more|details)", "Deep pothole that blew out my tire"),
        (r"(?i)name", "skip"),
        (r"(?i)phone", "skip"),
        (r"(?i)email", "skip"),
    ],
    "es": [
        (r"¿Lo envío\?", "Enviar"),
        (r"(?i)foto", "omitir"),
        (r"(?i)en qu[ée] parte", "en el carril"),
        (r"(?i)tama[ñn]o", "grande"),
        (r"(?i)(direcci[óo]n|ubicaci[óo]n|cruce|d[óo]nde)", "1200 Beatties Ford Road"),
        (r"(?i)(describa|descripci[óo]n|detalles|cu[ée]nteme)", "Un bache muy profundo frente a la escuela"),
        (r"(?i)nombre", "omitir"),
        (r"(?i)tel[ée]fono", "omitir"),
        (r"(?i)correo", "omitir"),
    ],
}


BUTTON_PICK = {
    "en": {"in the travel lane": "travel lane", "large, bigger than a tire": "large"},
    "es": {"en el carril": "carril", "grande": "grande"},
}


def transcript(client: ResidentClient) -> list[str]:
    """The chat as "sender: text" lines, for assertion messages."""
    return [f"{m.get('sender', 'resident')}: {m.get('text')}" for m in client.messages()]
