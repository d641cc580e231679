"""`chat311 kb-calibrate DEV.csv`: fit the lexical weight and the decision thresholds on the dev set.

Fallback recall depends only on the out-of-scope margin (`outside_margin`, `outside_per_word`) and
`menu_min` (an out-of-scope message that is not closer to the out-of-scope examples falls back only
below `menu_min`, since answer_min ≥ menu_min) and answered precision only on
`answer_min`/`answer_margin`. So for each lexical weight and out-of-scope margin: take the lowest
`menu_min` that reaches the fallback target, then the answer thresholds that reach the precision
target with the best coverage + ANSWER_BONUS × the share answered directly. A tighter margin lets
`menu_min` drop (more coverage) until it starts sending in-scope questions to the fallback: the fit
finds that balance on the dev set.
Targets sit above the issue's goals so the test set has headroom (fallback 0.93 against the goal's 0.90:
out-of-scope questions vary more than in-scope ones, and the dev set cannot sample all of them). It was
0.95 until 2026-12-05: on the held-out NLU dev file (547 messages through Rasa) that calibration sent every
out-of-scope message to the fallback but 8 real questions too ("im interested in fostering puppies, how do
i sign up" sits 0.26 above its nearest out-of-scope example); at 0.93 it still sends every out-of-scope
one there and 5 real ones, and the knowledge-base dev set's coverage rises from .934 to .962.
Never run this on the test set.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chat_server.knowledge.evaluate import EvalRow, Judged, judge, read_rows, summarize
from chat_server.knowledge.ranking import (
    CALIBRATION_FILE,
    OUTSIDE_OFF,
    Calibration,
    Features,
    Kind,
    combine,
    decide_kind,
    top_two,
    write_calibration,
)

WEIGHTS = tuple(round(0.05 * i, 2) for i in range(21))  # 0 … 1.0
ANSWER_MINS = tuple(round(0.40 + 0.02 * i, 2) for i in range(36))  # 0.40 … 1.10
# A direct answer needs a clear winner. Vague one- or two-word messages ("fees", "how do i apply") score
# two or three articles nearly alike, and the dev set has too few of them to teach that: below a margin
# of 0.05 the fit would answer them with whichever article happens to be first.
MARGINS = tuple(round(0.05 + 0.01 * i, 2) for i in range(26))  # 0.05 … 0.30
# A direct answer serves a resident better than a menu: trading 1 point of coverage for 4 more points of
# direct answers is worth it (without this the fit answers ~25 % directly to gain half a point of coverage).
ANSWER_BONUS = 0.25
MENU_MINS = tuple(round(0.20 + 0.01 * i, 2) for i in range(81))  # 0.20 … 1.00
# the gap is to the combined score (cosine + weight × BM25), so it reaches further below zero than a cosine gap
OUTSIDE_MARGINS = (OUTSIDE_OFF, *(round(0.20 - 0.025 * i, 3) for i in range(29)))  # off, 0.20 … -0.50
# Length allowances tried once the fit without one has chosen the lexical weight.
OUTSIDE_PER_WORDS = (0.005, 0.01, 0.015, 0.02)


@dataclass(frozen=True)
class Scored:
    """One dev row under one lexical weight: what the thresholds act on."""

    row: EvalRow
    top: float
    second: float
    top3: tuple[tuple[str, str], ...]  # (article id, topic), best first
    features: Features
    # The row judged under each kind the thresholds can give it: the fit tries ~10⁵ thresholds per weight,
    # and judging anew each time was most of its run time.
    as_kind: Mapping[Kind, Judged]

    def outside_at(self, per_word: float) -> float:
        return self.features.outside(self.top, per_word)


def score_rows(rows: Sequence[EvalRow], features: Sequence[Features], topics: dict[str, str],
               weight: float) -> list[Scored]:
    out = []
    for row, f in zip(rows, features, strict=True):
        ranked = combine(f.semantic, f.lexical, weight)
        top, second = top_two(ranked)
        top3 = tuple((r.article_id, topics[r.article_id]) for r in ranked[:3])
        out.append(Scored(row, top, second, top3, f,
                          {kind: judge(row, kind, top3) for kind in (Kind.ANSWER, Kind.MENU, Kind.FALLBACK)}))
    return out


def judged(scored: Sequence[Scored], calibration: Calibration) -> list[Judged]:
    return [s.as_kind[decide_kind(s.top, s.second, calibration, s.outside_at(calibration.outside_per_word),
                                  s.features.vague)]
            for s in scored]


Best = tuple[tuple[float, ...], Calibration, dict[str, Any]]  # (sort key, calibration, dev metrics)


def fit(rows: Sequence[EvalRow], features: Sequence[Features], topics: dict[str, str],
        precision_target: float = 0.97, fallback_target: float = 0.93) -> tuple[Calibration, dict[str, Any]]:
    """The best calibration and its dev metrics (pure). The full grid with the length allowance would take
    five times as long, so the lexical weight is fit without it first, then the allowances for length are
    tried at that weight."""
    best: Best | None = None
    for weight in WEIGHTS:
        best = _fit_thresholds(best, score_rows(rows, features, topics, weight), weight, (0.0,),
                               precision_target, fallback_target)
    assert best is not None
    weight = best[1].lexical_weight
    best = _fit_thresholds(best, score_rows(rows, features, topics, weight), weight, OUTSIDE_PER_WORDS,
                           precision_target, fallback_target)
    return best[1], best[2]


def _fit_thresholds(best: Best | None, scored: Sequence[Scored], weight: float, per_words: Sequence[float],
                    precision_target: float, fallback_target: float) -> Best:
    oos = [s for s in scored if not s.row.in_scope]
    for outside_margin, per_word in ((m, w) for m in OUTSIDE_MARGINS for w in per_words):
        # rows the examples do not catch fall back only below menu_min: the lowest one that catches enough
        caught = sum(s.outside_at(per_word) >= outside_margin for s in oos)
        left = [s.top for s in oos if s.outside_at(per_word) < outside_margin]
        menu_min = next((m for m in MENU_MINS if caught + sum(t < m for t in left) >= fallback_target * len(oos)),
                        MENU_MINS[-1])
        for answer_min in (a for a in ANSWER_MINS if a >= menu_min):
            for margin in MARGINS:
                cal = Calibration(weight, answer_min, margin, menu_min, outside_margin, per_word)
                best = _better(best, cal, summarize(judged(scored, cal)), precision_target, fallback_target)
    assert best is not None
    return best


def _better(best: Best | None, cal: Calibration, metrics: dict[str, Any], precision_target: float,
            fallback_target: float) -> Best:
    precision = metrics["answered_precision"] or 0.0
    fallback = metrics["fallback_recall"] if metrics["fallback_recall"] is not None else 1.0
    feasible = precision >= precision_target and fallback >= fallback_target
    value = (metrics["coverage"] or 0.0) + ANSWER_BONUS * (metrics["answered_share"] or 0.0)
    # ties: the higher precision, then the less aggressive out-of-scope margin, no allowance for length unless it
    # pays, then the smaller lexical weight
    key = (float(feasible), value, precision, cal.outside_margin, -cal.outside_per_word, -cal.lexical_weight)
    return (key, cal, metrics) if best is None or key > best[0] else best


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
    features = [search.features(r.text) for r in rows]
    calibration, metrics = fit(rows, features, topics)
    metrics.pop("language_accuracy")  # not measured here: calibration searches in the row's own language
    write_calibration(args.out, calibration, {"dev_file": args.file.name, "articles": len(topics), **metrics})
    print(f"kb-calibrate: wrote {args.out}: {calibration}")
    print(f"kb-calibrate: dev metrics {metrics}")
    return 0
