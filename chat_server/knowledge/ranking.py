"""Turn lexical and semantic scores into a ranking and an answer / menu / fallback decision (pure).

Plain reciprocal-rank fusion did worse than the embedding alone on short informal messages, so
the combination is a calibrated one: the cosine plus a small weight times BM25 normalised to
0..1 (`lexical_weight`). The decision then uses the top score and its margin over the second:
answer when both clear their thresholds, offer the top 3 when the top score clears `menu_min`,
otherwise fall back. Before that, a message that is about as close to the out-of-scope examples
(`scope.py`) as to the best article falls back whatever its score: a question about another
city's water bill or a shop's opening hours scores as high as a real one, so no threshold on the
score alone separates them. The comparison is with the best article's combined score, not its
cosine alone: "where can I adopt a rescue dog" is about as close in meaning to "where can I buy a
puppy" (out of scope) as to the adoption article, and only the article's own words ("adopt")
tell them apart. A long message is further from every short example and from every article alike,
so the gap it is compared with shrinks with its length: `outside_per_word` widens the margin for each
word beyond the examples' typical length (a 30-word question about the animal shelter's Saturday hours
is no more out of scope than a 6-word one). All six numbers come from `chat311 kb-calibrate` on the
dev set; only the margin a vague message needs for a direct answer is set here (VAGUE_ANSWER_MARGIN).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from chat_server.knowledge.articles import KNOWLEDGE_DIR

CALIBRATION_FILE = KNOWLEDGE_DIR / "calibration.yml"


class Kind(StrEnum):
    ANSWER = "answer"
    MENU = "menu"
    FALLBACK = "fallback"
    # Offer a report form: Rasa's overruled guess and the article agree (knowledge/labels.py for_intent).
    REPORT = "report"


class CalibrationError(ValueError):
    """The calibration file is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Calibration:
    lexical_weight: float = 0.2
    answer_min: float = 0.75
    answer_margin: float = 0.05
    menu_min: float = 0.5
    # Fall back when (best cosine to an out-of-scope example) − (best article's combined score) ≥ this
    # + outside_per_word × (words beyond OUTSIDE_BASE_WORDS).
    outside_margin: float = 0.0
    outside_per_word: float = 0.0


# Allowed range per field: the thresholds are scores (cosine + weight × 0..1), the margin a cosine difference
# (OUTSIDE_OFF switches the examples off; a message naming an outside place or company still falls back).
OUTSIDE_OFF = 2.0
BOUNDS = {"lexical_weight": (0.0, 2.0), "answer_min": (0.0, 2.0), "answer_margin": (0.0, 2.0),
          "menu_min": (0.0, 2.0), "outside_margin": (-1.0, OUTSIDE_OFF), "outside_per_word": (0.0, 0.1)}
OPTIONAL_FIELDS = ("outside_margin", "outside_per_word")  # calibration files written before them stay valid
# The out-of-scope examples' typical length (training_data/knowledge/out_of_scope.yml: median 5 words).
OUTSIDE_BASE_WORDS = 5
# A message with at most one content word ("permit", "pets", "what time is it") names a subject, not a
# question: several articles score nearly alike ("permit": the right-of-way, shed and trade permits within
# 0.10), and whichever is first would be the answer. The dev set has too few such messages to teach a margin
# for them (7 of 654 rows, and none of them changes under this rule), so it is set here: a vague message gets
# a direct answer only with a clear winner ("immunizations" leads by about half a point), otherwise the menu.
VAGUE_MAX_CONTENT_WORDS = 1
VAGUE_ANSWER_MARGIN = 0.15


@dataclass(frozen=True)
class Features:
    """What the decision acts on for one message (kb-calibrate refits the weights on these).

    `nearest_outside`: the best cosine to an out-of-scope example; +inf when the message names a
    place or company outside the city's services that no article mentions, -inf when there are no
    out-of-scope examples.
    """

    semantic: Mapping[str, float]
    lexical: Mapping[str, float]
    nearest_outside: float = -math.inf
    words: int = 0
    vague: bool = False  # at most VAGUE_MAX_CONTENT_WORDS content words

    def outside(self, top: float, per_word: float = 0.0) -> float:
        """How much closer the message is to the out-of-scope examples than to the best article (score `top`),
        less `per_word` for each word beyond the examples' typical length."""
        return self.nearest_outside - top - per_word * self.extra_words

    @property
    def extra_words(self) -> int:
        return max(0, self.words - OUTSIDE_BASE_WORDS)


@dataclass(frozen=True)
class Ranked:
    article_id: str
    score: float
    semantic: float
    lexical: float


def combine(semantic: Mapping[str, float], lexical: Mapping[str, float], weight: float) -> list[Ranked]:
    """Every article scored by either side, best first (ties broken by id for stable output)."""
    ranked = [Ranked(a, semantic.get(a, 0.0) + weight * lexical.get(a, 0.0), semantic.get(a, 0.0),
                     lexical.get(a, 0.0)) for a in set(semantic) | set(lexical)]
    return sorted(ranked, key=lambda r: (-r.score, r.article_id))


def decide_kind(top: float, second: float, calibration: Calibration, outside: float = -math.inf,
                vague: bool = False) -> Kind:
    if outside >= calibration.outside_margin:
        return Kind.FALLBACK
    margin = max(calibration.answer_margin, VAGUE_ANSWER_MARGIN) if vague else calibration.answer_margin
    if top >= calibration.answer_min and top - second >= margin:
        return Kind.ANSWER
    if top >= calibration.menu_min:
        return Kind.MENU
    return Kind.FALLBACK


def top_two(ranked: list[Ranked]) -> tuple[float, float]:
    return (ranked[0].score if ranked else 0.0), (ranked[1].score if len(ranked) > 1 else 0.0)


# --------------------------------------------------------------------------- file
def parse_calibration(file: str, data: Any) -> Calibration:
    if not isinstance(data, dict):
        raise CalibrationError(f"{file}: must be a mapping of {', '.join(asdict(Calibration()))}")
    values: dict[str, float] = {}
    for name in asdict(Calibration()):
        value = data.get(name)
        if value is None and name in OPTIONAL_FIELDS:
            continue
        low, high = BOUNDS[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise CalibrationError(f"{file}: {name}: must be a number between {low:g} and {high:g}, not {value!r}")
        values[name] = float(value)
    return Calibration(**values)


def load_calibration(path: Path = CALIBRATION_FILE) -> Calibration:
    """The calibrated numbers, or the defaults when the file does not exist yet."""
    if not path.exists():
        return Calibration()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CalibrationError(f"{path}: cannot read: {exc}") from exc
    return parse_calibration(str(path), (data or {}).get("calibration") if isinstance(data, dict) else data)


def write_calibration(path: Path, calibration: Calibration, note: Mapping[str, Any]) -> None:
    header = ("# Written by `chat311 kb-calibrate` (fit on the dev set only; do not hand-tune on the test set).\n"
              "# lexical_weight: BM25 (0..1) added to the cosine; answer_min/answer_margin: answer directly;\n"
              "# menu_min: offer the top 3; below it: nlu_fallback.\n"
              "# outside_margin: fall back when (cosine to an out-of-scope example) - (best article's combined score)\n"
              "# reaches it (training_data/knowledge/out_of_scope.yml), + outside_per_word for each word beyond 5.\n")
    body = {"calibration": {k: round(v, 4) for k, v in asdict(calibration).items()}, "fit": dict(note)}
    path.write_text(header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True), encoding="utf-8")
