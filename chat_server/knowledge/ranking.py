"""Turn lexical and semantic scores into a ranking and an answer / menu / fallback decision (pure).

Plain reciprocal-rank fusion did worse than the embedding alone on short informal messages, so
the combination is a calibrated one: the cosine plus a small weight times BM25 normalised to
0..1 (`lexical_weight`). The decision then uses the top score and its margin over the second:
answer when both clear their thresholds, offer the top 3 when the top score clears `menu_min`,
otherwise fall back. All four numbers come from `chat311 kb-calibrate` on the dev set.
"""

from __future__ import annotations

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


class CalibrationError(ValueError):
    """The calibration file is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Calibration:
    lexical_weight: float = 0.2
    answer_min: float = 0.75
    answer_margin: float = 0.05
    menu_min: float = 0.5


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


def decide_kind(top: float, second: float, calibration: Calibration) -> Kind:
    if top >= calibration.answer_min and top - second >= calibration.answer_margin:
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
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 2:
            raise CalibrationError(f"{file}: {name}: must be a number between 0 and 2, not {value!r}")
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
              "# menu_min: offer the top 3; below it: nlu_fallback.\n")
    body = {"calibration": {k: round(v, 4) for k, v in asdict(calibration).items()}, "fit": dict(note)}
    path.write_text(header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True), encoding="utf-8")
