"""The labelled messages the emergency guard is measured on: `text,label,lang` CSV files.

`EXAMPLES` is the dev set: the wordings (safety.py) are tuned on it, and the semantic net (safety_semantic.py)
learns from it; `chat311 safety-eval` (safety_eval.py) measures either on any such file.
"""

from __future__ import annotations

from pathlib import Path

from chat_server.heldout import HeldoutRow, read_heldout

EXAMPLES = Path(__file__).resolve().parent / "emergency_examples.csv"
EMERGENCY = "emergency"
NONE = "none"
LABELS = (EMERGENCY, NONE)


Row = HeldoutRow


def read_rows(path: Path) -> list[Row]:
    """The labelled rows of `path` (read as the held-out NLU files are), each labelled emergency or none."""
    rows = read_heldout(path)
    for line, row in enumerate(rows, start=2):
        if row.label not in LABELS:
            raise ValueError(f"{path}:{line}: label must be emergency or none, not {row.label!r}")
    return rows
