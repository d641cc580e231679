"""`chat311 kb-calibrate DEV.csv`: fit the lexical weight and the decision thresholds on the dev set.

Fallback recall depends only on `menu_min` (an out-of-scope message falls back only below it,
since answer_min ≥ menu_min) and answered precision only on `answer_min`/`answer_margin`. So for
each lexical weight: take the lowest `menu_min` that reaches the fallback target, then the
answer thresholds that reach the precision target with the best coverage + ANSWER_BONUS × the
share answered directly. Targets sit a little above the issue's goals so the test set has headroom.
Never run this on the test set.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chat_server.knowledge.evaluate import EvalRow, Judged, judge, read_rows, summarize
from chat_server.knowledge.ranking import (
    CALIBRATION_FILE,
    Calibration,
    combine,
    decide_kind,
    top_two,
    write_calibration,
)

WEIGHTS = tuple(round(0.05 * i, 2) for i in range(21))  # 0 … 1.0
ANSWER_MINS = tuple(round(0.40 + 0.02 * i, 2) for i in range(36))  # 0.40 … 1.10
MARGINS = tuple(round(0.01 * i, 2) for i in range(31))  # 0 … 0.30
# A direct answer serves a resident better than a menu: trading 1 point of coverage for 4 more points of
# direct answers is worth it (without this the fit answers ~25 % directly to gain half a point of coverage).
ANSWER_BONUS = 0.25
MENU_MINS = tuple(round(0.20 + 0.01 * i, 2) for i in range(81))  # 0.20 … 1.00


@dataclass(frozen=True)
class Scored:
    """One dev row under one lexical weight: what the thresholds act on."""

    row: EvalRow
    top: float
    second: float
    top3: tuple[tuple[str, str], ...]  # (article id, topic), best first


def score_rows(rows: Sequence[EvalRow], features: Sequence[tuple[dict[str, float], dict[str, float]]],
               topics: dict[str, str], weight: float) -> list[Scored]:
    out = []
    for row, (semantic, lexical) in zip(rows, features, strict=True):
        ranked = combine(semantic, lexical, weight)
        out.append(Scored(row, *top_two(ranked), tuple((r.article_id, topics[r.article_id]) for r in ranked[:3])))
    return out


def judged(scored: Sequence[Scored], calibration: Calibration) -> list[Judged]:
    return [judge(s.row, decide_kind(s.top, s.second, calibration), s.top3) for s in scored]


def fit(rows: Sequence[EvalRow], features: Sequence[tuple[dict[str, float], dict[str, float]]],
        topics: dict[str, str], precision_target: float = 0.97,
        fallback_target: float = 0.93) -> tuple[Calibration, dict[str, Any]]:
    """The best calibration and its dev metrics (pure)."""
    best: tuple[tuple[float, ...], Calibration, dict[str, Any]] | None = None
    for weight in WEIGHTS:
        scored = score_rows(rows, features, topics, weight)
        oos = sorted(s.top for s in scored if not s.row.in_scope)
        # lowest menu_min with enough out-of-scope rows strictly below it
        menu_min = next((m for m in MENU_MINS if sum(t < m for t in oos) >= fallback_target * len(oos)),
                        MENU_MINS[-1])
        for answer_min in (a for a in ANSWER_MINS if a >= menu_min):
            for margin in MARGINS:
                cal = Calibration(weight, answer_min, margin, menu_min)
                metrics = summarize(judged(scored, cal))
                precision = metrics["answered_precision"] or 0.0
                fallback = metrics["fallback_recall"] if metrics["fallback_recall"] is not None else 1.0
                feasible = precision >= precision_target and fallback >= fallback_target
                value = (metrics["coverage"] or 0.0) + ANSWER_BONUS * (metrics["answered_share"] or 0.0)
                key = (float(feasible), value, precision, -weight)
                if best is None or key > best[0]:
                    best = (key, cal, metrics)
    assert best is not None
    return best[1], best[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="chat311 kb-calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("file", type=Path, help="the DEV set: CSV with header text,topic_or_article_id,lang")
    ap.add_argument("--knowledge-dir", type=Path, default=None, help="articles (default training_data/knowledge)")
    ap.add_argument("--out", type=Path, default=CALIBRATION_FILE, help=f"default {CALIBRATION_FILE}")
    args = ap.parse_args(argv)
    from chat_server.knowledge.loading import build_search

    try:
        rows = read_rows(args.file)
        search = build_search(args.knowledge_dir)
    except (OSError, ValueError) as exc:
        print(f"kb-calibrate: {exc}", file=sys.stderr)
        return 2
    topics = {a.id: a.topic for a in search.articles()}
    features = [search.scores(r.text) for r in rows]
    calibration, metrics = fit(rows, features, topics)
    metrics.pop("language_accuracy")  # not measured here: calibration searches in the row's own language
    write_calibration(args.out, calibration, {"dev_file": args.file.name, "articles": len(topics), **metrics})
    print(f"kb-calibrate: wrote {args.out}: {calibration}")
    print(f"kb-calibrate: dev metrics {metrics}")
    return 0
