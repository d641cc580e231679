"""Measure the emergency guard on a labelled CSV: `chat311 safety-eval FILE.csv`.

FILE has the header `text,label,lang` (label `emergency` or `none`, lang `en`|`es`, the resident's
language). Prints the misses (emergencies not answered), the false alarms (non-emergencies answered
with 911) and the emergencies answered in the wrong language, then one JSON line:
    {"n": N, "recall": r, "false_alarm_rate": f, "language_accuracy": a}
language_accuracy is over the emergencies that were caught. Exit status 0, or 2 for an unreadable file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from chat_server.emergency_examples import EMERGENCY, NONE, Row, read_rows
from chat_server.safety import emergency_language


@dataclass(frozen=True)
class Outcome:
    row: Row
    found: str | None  # the language the guard answered in, None when it did not answer


@dataclass(frozen=True)
class Summary:
    n: int
    recall: float
    false_alarm_rate: float
    language_accuracy: float

    def as_json(self) -> str:
        return json.dumps({"n": self.n, "recall": round(self.recall, 4),
                           "false_alarm_rate": round(self.false_alarm_rate, 4),
                           "language_accuracy": round(self.language_accuracy, 4)})


def evaluate(rows: list[Row], guard: Callable[[str], str | None] = emergency_language) -> list[Outcome]:
    return [Outcome(row, guard(row.text)) for row in rows]


def summarise(outcomes: list[Outcome]) -> Summary:
    emergencies = [o for o in outcomes if o.row.label == EMERGENCY]
    others = [o for o in outcomes if o.row.label == NONE]
    caught = [o for o in emergencies if o.found is not None]
    return Summary(
        n=len(outcomes),
        recall=len(caught) / len(emergencies) if emergencies else 1.0,
        false_alarm_rate=sum(o.found is not None for o in others) / len(others) if others else 0.0,
        language_accuracy=sum(o.found == o.row.lang for o in caught) / len(caught) if caught else 1.0,
    )


def report(outcomes: list[Outcome], out: TextIO | None = None) -> Summary:
    out = out or sys.stdout  # looked up per call, so a redirected stdout is honoured
    sections = (
        ("missed emergencies", [o for o in outcomes if o.row.label == EMERGENCY and o.found is None]),
        ("false alarms", [o for o in outcomes if o.row.label == NONE and o.found is not None]),
        ("wrong language", [o for o in outcomes if o.row.label == EMERGENCY and o.found not in (None, o.row.lang)]),
    )
    for title, rows in sections:
        print(f"{title} ({len(rows)}):", file=out)
        for o in rows:
            print(f"  [{o.row.lang} -> {o.found or '-'}] {o.row.text[:90]}", file=out)
    summary = summarise(outcomes)
    print(summary.as_json(), file=out, flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="chat311 safety-eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("file", type=Path, help="CSV with header text,label,lang")
    ap.add_argument("--meaning", action="store_true",
                    help="also the semantic net (what the bot's side adds; loads the sentence model, a few seconds)")
    args = ap.parse_args(argv)
    try:
        rows = read_rows(args.file)
    except (OSError, ValueError) as exc:
        print(f"safety-eval: {exc}", file=sys.stderr)
        return 2
    report(evaluate(rows, _with_meaning() if args.meaning else emergency_language))
    return 0


def _with_meaning() -> Callable[[str], str | None]:
    """The wordings, then the semantic net (a match of meaning alone is answered in the message's language)."""
    from chat_server.knowledge.semantic import UniversalSentenceEncoder
    from chat_server.language import detect_language
    from chat_server.safety_semantic import SemanticNet

    net = SemanticNet.from_examples(UniversalSentenceEncoder())

    def guard(text: str) -> str | None:
        found = emergency_language(text)
        if found is None and net.reads_emergency(text):
            return detect_language(text)[0]
        return found
    return guard


if __name__ == "__main__":
    sys.exit(main())
