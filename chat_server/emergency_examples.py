"""The labelled messages the emergency guard is measured on: `text,label,lang` CSV files.

`EXAMPLES` is the dev set: the wordings (safety.py) are tuned on it, and the semantic net (safety_semantic.py)
learns from it; `chat311 safety-eval` (safety_eval.py) measures either on any such file.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent / "emergency_examples.csv"
EMERGENCY = "emergency"
NONE = "none"
LABELS = (EMERGENCY, NONE)


@dataclass(frozen=True)
class Row:
    text: str
    label: str
    lang: str


def read_rows(path: Path) -> list[Row]:
    """The labelled rows of `path`; a bad header or label names the file and line."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"text", "label", "lang"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: header must be text,label,lang (missing {', '.join(sorted(missing))})")
        rows = []
        for line, record in enumerate(reader, start=2):
            text = (record.get("text") or "").strip()
            if not text:
                continue
            label = (record.get("label") or "").strip()
            if label not in LABELS:
                raise ValueError(f"{path}:{line}: label must be emergency or none, not {label!r}")
            rows.append(Row(text, label, (record.get("lang") or "").strip().lower()))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows
