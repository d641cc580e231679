"""Whether a resident's message asks for no more updates about their requests (pure).

Said to a conversation that follows requests, it stops their updates (status/chat.py). Residents say it in
passing: "Thanks, but I don't want these updates anymore." got "You're welcome!", "Please stop emailing me about
this request." got "Sorry, I didn't understand", and "Gracias, pero ya no quiero recibir estos correos." got an
article about paperless billing, while the updates went on. So the wording is looked for anywhere in a short
message, unless the message asks how to do something ("how do I stop the paper bill emails?" is a question).
"""

from __future__ import annotations

import re

from chat_server.sanitize import fold

MAX_CHARS = 160  # a reply to an update, not a story that happens to contain the words
_THINGS = r"(?:updates?|e ?mails?|messages?|texts?|notifications?|notices?|alerts?)"
_COSAS = r"(?:correos?|mensajes?|avisos?|actualizaciones|notificaciones|textos?|alertas?)"
_ASKS = re.compile(
    r"^(?:(?:thanks?|thank you|ok|okay|please)\s+)*(?:stop|remove me)(?:\s+(?:please|thanks?|thank you))*$|"
    r"\bunsubscribe\b|\bopt (?:me )?out\b|\b(?:remove|take) me off\b|\bremove me from\b|"
    rf"\b(?:dont|do not|no longer|don t) (?:want|need) (?:to (?:get|receive) )?(?:these|the|this|any|your|more|"
    rf"any more)? ?{_THINGS}\b|"
    r"\bstop (?:emailing|texting|messaging|sending|contacting|notifying|updating)(?: me| us)?\b|"
    rf"\b(?:stop|no more|cancel)(?: the| these| your| all)? {_THINGS}\b|"
    rf"\bno (?:quiero|quiero seguir|necesito) (?:recibir )?(?:mas |estos |estas |sus |los |las )?{_COSAS}\b|"
    r"\b(?:dejen|deje|dejar) de (?:enviarme|mandarme|escribirme|avisarme)\b|"
    rf"\bno (?:me )?(?:envien|manden|escriban|mande|envie) mas\b|\bya no (?:me )?(?:envien|manden|escriban)\b|"
    r"\bdar(?:me)? de baja\b|\bcancelar (?:la |mi )?suscripcion\b")
_HOW = re.compile(r"^(?:how|what|where|when|why|which|como|donde|cuando|que|cual|por que)\b")


def asks_to_stop_updates(said: str) -> bool:
    folded = fold(said)
    return len(said) <= MAX_CHARS and not _HOW.match(folded) and bool(_ASKS.search(folded))
