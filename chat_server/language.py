"""Language detection restricted to the languages we serve, with a sticky per-conversation choice.

langdetect is seeded (deterministic) and loaded with only the supported language profiles,
so it chooses between English and Spanish instead of guessing Catalan or Tagalog on a short
message. Accented letters, ¿ ¡ ñ and lists of common words and 311 vocabulary add evidence that
n-gram statistics miss on three-word messages ("gun permit" reads as Spanish to them). A word of both
languages ("a", "no"), or a loanword Spanish speakers use ("ticket", "parking"), is in neither list.
A conversation's language only switches on confident evidence from a message long enough to carry it.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from langdetect import DetectorFactory, LangDetectException
from langdetect.detector_factory import PROFILES_DIRECTORY

SUPPORTED = ("en", "es")

_ES_MARKERS = re.compile(r"[ñáéíóúü¿¡]", re.IGNORECASE)
_WORD = re.compile(r"[a-záéíóúüñ']+", re.IGNORECASE)


def _words(block: str) -> frozenset[str]:
    return frozenset(block.split())


_ES_WORDS = _words(
    """
    hola buenos buenas dias días gracias por favor quiero necesito tengo donde dónde cuando cuándo como
    cómo que qué mi mis su sus la las los el del al en es esta está estan están hay una uno unos unas
    con sin para pero porque calle avenida basura reciclaje bache luz farola agua factura pagar ayuda
    persona agente hablar si sí tambien también ya nadie señor señora usted ustedes puedo puede
    pueden vivo casa carro coche arbol árbol caído caido inundación inundacion impuestos votar adoptar
    perro gato perros gatos alguien cuanto cuánto cuesta dinero mandar olor aguas negras permiso licencia
    vecino vecinos ruido estacionamiento multa banqueta acera señal semáforo semaforo trabajo empleo
    alcantarilla drenaje apagón apagon tormenta rama bote recolección recoleccion recogen recoger reciclar
    desechos peligrosos quemar hojas pasto renta desalojo refugio parque biblioteca tarjeta horario abierto
    cerrado reporte copia policía policia cárcel carcel pistola arma nacimiento matrimonio acta defunción
    defuncion negocio ciudad condado solicitar tren tarifa tubería tuberia fuga roto rota muerto suelto bueno
    """
)
_EN_WORDS = _words(
    """
    hello hi hey thanks thank you please want need have where when how what my your the an is are
    there with without for but because street road avenue trash garbage recycling pothole light water
    bill pay help person agent talk yes also nobody sir can could would live house car tree fallen
    flood flooding taxes vote adopt dog cat of to and it this that i im i'm do does dogs cats permit permits
    license licence disposal council meeting agenda violence department job jobs tank bulbs dial pickup
    schedule recycle bulky noise neighbor neighbour sidewalk signal speed hump inspection
    zoning burn leaves yard grass junk landlord heat rent eviction shelter library card hours open closed
    report copy police jail visit gun carry birth marriage certificate death business city county apply
    train fare outage storm drain sewer smell leak broken missed cart dumping streetlight abandoned dead
    stray loose see so long alright goodbye
    """
)


@lru_cache(maxsize=1)
def _factory() -> DetectorFactory:
    import os

    factory = DetectorFactory()
    factory.seed = 0
    profiles = []
    for lang in SUPPORTED:
        with open(os.path.join(PROFILES_DIRECTORY, lang), encoding="utf-8") as fh:
            profiles.append(fh.read())
    factory.load_json_profile(profiles)
    return factory


_lock = threading.Lock()


def _ngram_probs(text: str) -> dict[str, float]:
    with _lock:  # langdetect detectors share the factory's random state
        detector = _factory().create()
        detector.append(text)
        try:
            return {p.lang: p.prob for p in detector.get_probabilities()}
        except LangDetectException:
            return {}


def _lexical(text: str) -> tuple[list[str], int, int]:
    """The words of `text` and its Spanish / English evidence counts."""
    words = [w.lower() for w in _WORD.findall(text)]
    es_hits = sum(w in _ES_WORDS for w in words) + 2 * len(_ES_MARKERS.findall(text))
    en_hits = sum(w in _EN_WORDS for w in words)
    return words, es_hits, en_hits


def _lexical_verdict(es_hits: int, en_hits: int) -> str | None:
    """The language one-sided lexical evidence settles on its own (see the clamps in detect_language)."""
    if es_hits and not en_hits:
        return "es"
    if en_hits and not es_hits:
        return "en"
    return None


def detect_language(text: str, prior: str = "en") -> tuple[str, float]:
    """Best supported language for `text` and a probability-like confidence (0..1)."""
    words, es_hits, en_hits = _lexical(text)
    if not words:
        return prior, 0.0
    probs = _ngram_probs(text)
    p_es = probs.get("es", 0.0)
    # Blend n-gram evidence with lexical evidence; lexical counts dominate on short inputs.
    weight = min(1.0, len(words) / 8)
    lexical = (es_hits + 0.5) / (es_hits + en_hits + 1.0)
    score_es = weight * p_es + (1 - weight) * lexical if probs else lexical
    verdict = _lexical_verdict(es_hits, en_hits)
    if verdict == "es":
        score_es = max(score_es, 0.9)
    elif verdict == "en":
        score_es = min(score_es, 0.1)
    if score_es >= 0.5:
        return "es", round(score_es, 3)
    return "en", round(1 - score_es, 3)


# "mejor hablo en español", "¿me lo puede explicar en español?", "can you answer in English?", "no hablo inglés":
# the resident says which language to use, whatever the words around it are in.
_NAMES = {"es": r"(?:espa[nñ]ol|spanish)", "en": r"(?:ingl[eé]s|english)"}
_ANY_NAME = re.compile("|".join(_NAMES.values()), re.IGNORECASE)
# "no hablo mucho inglés", "i don't speak good spanish": a word or two of degree before the language's name
_NOT_SPEAK = re.compile(r"\b(?:no|don'?t|do\s+not|can'?t|cannot)\s+(?:hablo|speak|entiendo|understand)\s+"
                        r"(?:(?:muy|mucho|bien|tanto|very|much|well|good)\s+){0,2}(?:el\s+)?(\w+)", re.IGNORECASE)
_ASKS = {lang: re.compile(rf"^\W*{name}(?:\W+(?:please|pls|por\s+favor|porfa))?\W*$|\b(?:en|in)\s+{name}\b|"
                          rf"\b(?:hablo|hablar|speak|write|escrib\w*)\s+(?:en\s+|in\s+)?{name}\b", re.IGNORECASE)
         for lang, name in _NAMES.items()}


def asked_language(text: str) -> str | None:
    """The language the resident asks to be answered in, if they ask for exactly one ("no hablo inglés" asks
    for Spanish)."""
    if not _ANY_NAME.search(text):  # every resident message passes here (the relay's hot path): one search
        return None
    asked = set()
    for match in _NOT_SPEAK.finditer(text):
        asked |= {other for lang, name in _NAMES.items() if re.fullmatch(name, match.group(1), re.IGNORECASE)
                  for other in _NAMES if other != lang}
    plain = _NOT_SPEAK.sub(" ", text)
    asked |= {lang for lang, pattern in _ASKS.items() if pattern.search(plain)}
    return asked.pop() if len(asked) == 1 else None


@dataclass
class StickyLanguage:
    """Switch a conversation's language only on confident evidence from a real sentence."""

    switch_probability: float = 0.9
    min_chars_to_switch: int = 12

    def update(self, current: str | None, text: str, ui_language: str | None = None) -> str:
        if other_language(text):
            # French or Vietnamese read as Spanish to a detector that knows two languages: a French resident got
            # "Soy el asistente automático…" and the interpreters notice in Spanish (probe W)
            return current or (ui_language if ui_language in SUPPORTED else "en")
        if current is None:
            prior = ui_language if ui_language in SUPPORTED else "en"
            lang, conf = detect_language(text, prior)
            # First message: the UI language is the prior; override it only when sure.
            return lang if (lang == prior or conf >= self.switch_probability) else prior
        # Nothing in a short message, or in one whose plain words already side with the current
        # language, can switch it: skip the n-gram detector (the costliest step of a relay turn).
        if len(text.strip()) < self.min_chars_to_switch:
            return current
        _, es_hits, en_hits = _lexical(text)
        if _lexical_verdict(es_hits, en_hits) == current:
            return current
        lang, conf = detect_language(text, current)
        # Two plain words of the other language, not one: "2200 The Plaza" or "The Arboretum Shopping Center"
        # typed as a location are names, and switched a Spanish report to English halfway.
        if lang != current and conf >= self.switch_probability and (es_hits if lang == "es" else en_hits) >= 2:
            return lang
        return current


# Letters only Vietnamese writes (with its tone marks); other Latin-script languages share too much with ours.
_VIETNAMESE = re.compile(r"[ơưđạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE)
OTHER_LANGUAGE_MIN_WORDS = 4


def other_script(text: str) -> bool:
    """Surely a language this chat does not serve: mostly letters of another script (Chinese, Cyrillic,
    Arabic…), or Vietnamese. Emoji and numbers are no language."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 2:
        return False
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    return latin < len(letters) / 2 or bool(_VIETNAMESE.search(text))


def other_language(text: str) -> bool:
    """Likely a language this chat does not serve: another script (`other_script`), or four or more words none of
    which is English or Spanish (French; but also a run of English street and place names, so alone this only
    counts with other evidence, such as the bot not understanding it). French, Chinese and Vietnamese messages got
    only English non-answers, with no word of the languages we do speak or of 311's interpreters (probe V)."""
    if other_script(text):
        return True
    words, es_hits, en_hits = _lexical(text)
    return len(words) >= OTHER_LANGUAGE_MIN_WORDS and es_hits == 0 and en_hits == 0

