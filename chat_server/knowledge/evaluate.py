"""`chat311 kb-eval FILE.csv`: how well the knowledge base answers a labelled set of resident messages.

FILE has the header `text,topic_or_article_id,lang`. A result is right when the article's id
equals the label or its topic does; `nlu_fallback` rows are out of scope. The language the
search is given is the one the project's detector finds (as in a real chat), and its accuracy
is reported. Metrics (the JSON line printed last):

- top1 / top3: in-scope rows whose best / any of the best three articles is right;
- answered_precision: of the rows answered directly (kind answer, in scope or not), the share right;
- coverage: in-scope rows answered right directly, or shown a menu that holds a right article;
- fallback_recall: out-of-scope rows that got the fallback. A menu is NOT a fallback: the resident
  was offered articles for a question the city cannot answer;
- language_accuracy: detected language equals the row's `lang`.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from chat_server.heldout import errors_to_list
from chat_server.knowledge.ranking import Kind
from chat_server.knowledge.search import FALLBACK_LABEL, Hit, KnowledgeSearch

HEADER = ("text", "topic_or_article_id", "lang")


@dataclass(frozen=True)
class EvalRow:
    text: str
    label: str
    lang: str

    @property
    def in_scope(self) -> bool:
        return self.label != FALLBACK_LABEL


@dataclass(frozen=True)
class Judged:
    row: EvalRow
    kind: Kind
    top1_right: bool
    top3_right: bool
    language_right: bool = True


def read_rows(path: Path) -> list[EvalRow]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = set(HEADER) - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: header must be {','.join(HEADER)} (missing {', '.join(sorted(missing))})")
        rows = [EvalRow(r["text"].strip(), r["topic_or_article_id"].strip(), r["lang"].strip().lower())
                for r in reader if (r.get("text") or "").strip()]
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def is_right(label: str, article_id: str, topic: str) -> bool:
    return label in (article_id, topic)


def judge(row: EvalRow, kind: Kind, top3: Sequence[tuple[str, str]], language_right: bool = True) -> Judged:
    """`top3` holds (article id, topic) of the best three, best first."""
    rights = [is_right(row.label, a, t) for a, t in top3[:3]]
    return Judged(row, kind, bool(rights) and rights[0], any(rights), language_right)


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _covered(j: Judged) -> bool:
    return (j.kind is Kind.ANSWER and j.top1_right) or (j.kind is Kind.MENU and j.top3_right)


def _well_served(j: Judged) -> bool:
    """Right answer or a menu holding it (in scope); the fallback (out of scope)."""
    return _covered(j) if j.row.in_scope else j.kind is Kind.FALLBACK


def summarize(judged: Sequence[Judged]) -> dict[str, Any]:
    inside = [j for j in judged if j.row.in_scope]
    outside = [j for j in judged if not j.row.in_scope]
    answered = [j for j in judged if j.kind is Kind.ANSWER]
    covered = [j for j in inside if _covered(j)]
    return {
        "n": len(judged),
        "top1": _share(sum(j.top1_right for j in inside), len(inside)),
        "top3": _share(sum(j.top3_right for j in inside), len(inside)),
        "answered_precision": _share(sum(j.row.in_scope and j.top1_right for j in answered), len(answered)),
        "coverage": _share(len(covered), len(inside)),
        "fallback_recall": _share(sum(j.kind is Kind.FALLBACK for j in outside), len(outside)),
        "answered_share": _share(len(answered), len(judged)),
        "language_accuracy": _share(sum(j.language_right for j in judged), len(judged)),
    }


def evaluate(search: KnowledgeSearch, rows: Sequence[EvalRow]) -> list[tuple[Judged, list[Hit]]]:
    from chat_server.language import detect_language

    out = []
    for row in rows:
        lang, _ = detect_language(row.text)
        decision, hits = search.explain(row.text, lang)
        out.append((judge(row, decision.kind, [(h.article_id, h.topic) for h in hits], lang == row.lang), hits))
    return out


def report(results: Sequence[tuple[Judged, list[Hit]]], show_errors: int, out: TextIO | None = None) -> dict[str, Any]:
    out = out or sys.stdout
    judged = [j for j, _ in results]
    wrong = [(j, h) for j, h in results if not _well_served(j)]
    if show_errors and wrong:
        print(f"errors ({len(wrong)}): label -> kind, best article (score)", file=out)
        for j, hits in wrong[:show_errors]:
            best = f"{hits[0].article_id} ({hits[0].score:.2f})" if hits else "-"
            print(f"  [{j.row.lang}] {j.row.label:<24} -> {j.kind:<8} {best:<36} {j.row.text[:60]}", file=out)
        print(file=out)
    groups: dict[str, list[Judged]] = defaultdict(list)
    for j in judged:
        groups[j.row.label].append(j)
    print(f"{'label':<30}{'n':>5}{'top1':>8}{'top3':>8}{'answered':>10}{'coverage':>10}", file=out)
    for label, rows in sorted(groups.items()):
        s = summarize(rows)
        fmt = [f"{s[k]:.3f}" if s[k] is not None else "-" for k in ("top1", "top3", "answered_share", "coverage")]
        if label == FALLBACK_LABEL:
            fmt[3] = f"fb {s['fallback_recall']:.3f}"
        print(f"{label:<30}{len(rows):>5}{fmt[0]:>8}{fmt[1]:>8}{fmt[2]:>10}{fmt[3]:>10}", file=out)
    result = summarize(judged)
    print(json.dumps(result), file=out, flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="chat311 kb-eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("file", type=Path, help="CSV with header text,topic_or_article_id,lang")
    ap.add_argument("--knowledge-dir", type=Path, default=None, help="articles (default training_data/knowledge)")
    ap.add_argument("--calibration", type=Path, default=None, help="calibration file (default: the shipped one)")
    ap.add_argument("--show-errors", type=int, default=None, metavar="N",
                    help="list up to N wrong rows (default 30; 0 for a *_test.csv file)")
    args = ap.parse_args(argv)
    from chat_server.knowledge.loading import build_search

    try:
        rows = read_rows(args.file)
        search = build_search(args.knowledge_dir, args.calibration)
    except (OSError, ValueError) as exc:
        print(f"kb-eval: {exc}", file=sys.stderr)
        return 2
    report(evaluate(search, rows), errors_to_list(args.file, args.show_errors, 30))
    return 0
