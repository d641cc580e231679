"""What the city does not answer: examples of out-of-scope questions and names of outside places and companies.

Scores alone cannot tell "how do I pay my water bill in Raleigh" or "what time does Walmart open"
from a real city question: both are worded like one and score as high. So the knowledge base
also keeps (1) example questions the city does not answer (weather, small talk, sports, shops,
federal and state services, …), which the search embeds like articles' sample questions: a
message closer to them than to any article falls back (the margin is calibrated); and
(2) names of places outside the service area and of private companies: a message naming one
that no article mentions falls back — unless the name only gives a landmark, where the resident
came from or where they are moving ("pothole on South Blvd by the Harris Teeter", "just moved here
from Georgia, how do I register to vote", "moving to Texas, what do I do with my carts"): residents
describe places by the shops near them, and that is still a city question. So is a name that is part of
a road's ("pothole on old statesville rd", "la calle raleigh"), a person's ("my daughter savannah needs
her shots") or a document's ("tengo licencia de texas, ¿puedo votar?"): a tester's 28 such questions all
fell back, typed in lower case, where the search's own removal of capitalised road names cannot help.

Staff-editable content: `training_data/knowledge/out_of_scope.yml`. Parsing and matching are
pure; embedding lives in search.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from chat_server import strict_yaml
from chat_server.knowledge.articles import KNOWLEDGE_DIR, LANGUAGES, ArticleError
from chat_server.knowledge.lexical import fold
from chat_server.knowledge.specifics import SPANISH_STREETS, STREET_TYPES

SCOPE_FILE = "out_of_scope.yml"
_NON_WORD = re.compile(r"[^a-z0-9]+")
# Folded words that, right before a name, make it a landmark or the resident's origin, not the subject.
_LANDMARK = (r"(?:near|by|behind|beside|outside|across from|next to|in front of|close to|past|at|"
             r"cerca|junto|al lado|enfrente|frente|detras|atras|por|en el|en la|del|al)"
             r"(?: (?:of|to|the|a|al|de|del|el|la|los|las))*")
# The name is a road's: "calle raleigh"; or a person's: "my daughter savannah", "mi hijo orlando"; or says
# where a document comes from: "licencia de texas", "license from georgia".
_ROAD = rf"(?:{SPANISH_STREETS})(?: de)?"
_PERSON = (r"(?:daughter|son|kid|child|baby|neighbou?r|wife|husband|friend|mom|mother|dad|father|brother|sister|"
           r"cousin|aunt|uncle|grandson|granddaughter|niece|nephew|tenant|landlord|named|called|"
           r"hijo|hija|nino|nina|bebe|vecino|vecina|esposa|esposo|amigo|amiga|mama|papa|hermano|hermana|primo|"
           r"prima|tio|tia|nieto|nieta|sobrino|sobrina|llamado|llamada|se llama)")
_DOCUMENT = (r"(?:licen[cs]e|id|plates?|tags?|registration|licencia|placas?|identificacion|credencial|matricula)"
             r" (?:from|de|del)")
_ORIGIN = (r"(?:(?:moved|move|moving|relocated|came|coming|transferred)(?: (?:here|over|down|up|in|back))? from|"
           r"(?:mude|mudamos|mudo|mudaron|mudar|mudarme|mudarnos|vengo|venimos|llegue|llegamos) de(?: (?:el|la))?)")
# Where a resident is moving to: they are leaving, and what they ask is how to stop or hand over a city service.
_DESTINATION = (r"(?:(?:moving|move|moved|relocating|relocate|transferring) (?:out )?to|"
                r"(?:mudar|mudarme|mudarnos|mudo|mudamos|mudan|mudaremos) a)")
_CONTEXT = re.compile(rf" (?:{_LANDMARK}|{_ORIGIN}|{_DESTINATION}|{_ROAD}|{_PERSON}|{_DOCUMENT}) $")
# After the name: up to two more words of the road's name, then its type ("old statesville rd", "brooklyn
# village ave").
_ROAD_AFTER = re.compile(rf"^(?: \w+){{0,2}} (?:{STREET_TYPES}) ")


def words(text: str) -> str:
    """Folded words separated by single spaces and padded with one, so ' name ' matches whole words only."""
    return f" {_NON_WORD.sub(' ', fold(text)).strip()} "


@dataclass(frozen=True)
class OutOfScope:
    questions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # lang → examples
    names: tuple[str, ...] = ()  # folded words, e.g. "raleigh", "home depot"

    def examples(self) -> list[str]:
        return [q for lang in LANGUAGES for q in self.questions.get(lang, ())]

    def named(self, text: str) -> list[str]:
        """The listed names `text` mentions as its subject (whole words, case and accents ignored): a
        name every mention of which is a landmark, the resident's origin or where they are moving does not count."""
        padded = words(text)
        return [name for name in self.names if f" {name} " in padded and not _only_context(padded, name)]


def _only_context(padded: str, name: str) -> bool:
    starts = [m.start() for m in re.finditer(f"(?= {re.escape(name)} )", padded)]
    return all(_CONTEXT.search(padded[:start + 1]) or _ROAD_AFTER.match(padded[start + len(name) + 1:])
               for start in starts)


def parse_out_of_scope(file: str, data: object) -> OutOfScope:
    if not isinstance(data, dict) or set(data) - {"questions", "names"}:
        raise ArticleError(file, "(file)", "must be a mapping with `questions` {en, es} and `names`")
    questions: dict[str, tuple[str, ...]] = {}
    raw = data.get("questions") or {}
    if not isinstance(raw, dict) or set(raw) - set(LANGUAGES):
        raise ArticleError(file, "questions", f"must map {' and '.join(LANGUAGES)} to lists of questions")
    for lang in LANGUAGES:
        items = raw.get(lang) or []
        if not isinstance(items, list) or not all(isinstance(q, str) and q.strip() for q in items):
            raise ArticleError(file, f"questions.{lang}", "must be a list of non-empty texts")
        questions[lang] = tuple(" ".join(q.split()) for q in items)
    names = data.get("names") or []
    if not isinstance(names, list) or not all(isinstance(n, str) and words(n).strip() for n in names):
        raise ArticleError(file, "names", "must be a list of non-empty names")
    return OutOfScope(questions, tuple(dict.fromkeys(words(n).strip() for n in names)))


def load_out_of_scope(knowledge_dir: Path = KNOWLEDGE_DIR) -> OutOfScope:
    """The folder's own list, else the shipped one (a test fixture folder needs none); empty if neither exists."""
    path = knowledge_dir / SCOPE_FILE
    if not path.exists():
        path = KNOWLEDGE_DIR / SCOPE_FILE
    if not path.exists():
        return OutOfScope()
    try:
        data = strict_yaml.load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ArticleError(str(path), "(file)", f"cannot read: {exc}") from exc
    return parse_out_of_scope(str(path), data)
