"""Pure statistics for `make bench`: percentiles, medians, the relay's delivery accounting and the goals table.

No I/O here, so the rules that decide what a figure means (what counts as lost, what is late, which
of three runs is quoted, what passes) are unit-tested (tests/test_bench_stats.py) apart from the
processes that produce the raw numbers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


def percentile(values: Iterable[float], p: float) -> float:
    """Nearest-rank percentile (NaN when there is nothing to rank, so an empty run cannot look fast)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def median(values: Iterable[float]) -> float:
    """The median, NaN when empty; a NaN among the values (a run that measured nothing) makes it NaN."""
    items = list(values)
    if not items or any(math.isnan(v) for v in items):
        return math.nan
    return float(statistics.median(items))


def from_json(values: Iterable[float | None]) -> list[float]:
    """JSON's null (a run that measured nothing) back to NaN, so a median over it stays NaN."""
    return [math.nan if v is None else float(v) for v in values]


def worst(values: Iterable[float | None]) -> float | None:
    """The largest value; None (not measured) if any run measured nothing."""
    items = list(values)
    return None if not items or None in items else max(v for v in items if v is not None)


def per_message_ms(cpu_seconds: float, messages: int) -> float:
    """CPU milliseconds per message; NaN when no message was delivered (never a flattering zero)."""
    return cpu_seconds * 1000 / messages if messages > 0 else math.nan


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 and not math.isnan(denominator) else math.nan


def rounded(value: float, digits: int = 2) -> float | None:
    """JSON-friendly: NaN becomes None (null) rather than an invalid `NaN` token."""
    return None if math.isnan(value) else round(value, digits)


@dataclass(frozen=True)
class Send:
    """One scheduled message of an open-loop run (perf_counter seconds).

    `acked` is True only for an ok ack; an error ack, a timeout or a broken connection is False.
    `arrived` is the first arrival at an agent, None if it never came before the drain deadline.
    """

    due: float
    sent: float
    acked: bool
    arrived: float | None


@dataclass(frozen=True)
class Delivery:
    """What an open-loop run delivered. Every delivered message is in the percentiles, however late."""

    sent: int
    delivered: int
    lost: int          # errored, timed out, refused, or acked but never delivered
    late: int          # delivered, but more than late_ms after it was sent
    late_max_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    lag_p99_ms: float  # how far the generator's sends trailed their schedule
    lag_max_ms: float

    def as_dict(self) -> dict[str, float | int | None]:
        return {k: (rounded(v) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def delivery(sends: Sequence[Send], late_ms: float) -> Delivery:
    """Account for every scheduled send: delivered (latency from its actual send) or lost.

    Latency starts at the actual send, and the generator's lag behind its schedule is reported
    beside it: an overloaded generator then shows up as lag instead of hiding inside the latency.
    """
    latencies = [(s.arrived - s.sent) * 1000 for s in sends if s.acked and s.arrived is not None]
    late = [ms for ms in latencies if ms > late_ms]
    lags = [max(0.0, (s.sent - s.due) * 1000) for s in sends]
    return Delivery(sent=len(sends), delivered=len(latencies), lost=len(sends) - len(latencies), late=len(late),
                    late_max_ms=max(late, default=0.0), p50_ms=percentile(latencies, 50),
                    p95_ms=percentile(latencies, 95), p99_ms=percentile(latencies, 99),
                    max_ms=max(latencies, default=math.nan), lag_p99_ms=percentile(lags, 99),
                    lag_max_ms=max(lags, default=math.nan))


class Verdict(StrEnum):
    PASS = "PASS"
    MISS = "MISS"
    NO_GOAL = "—"


@dataclass(frozen=True)
class Figure:
    """One row of the final table: a measured value against its goal (an upper bound), if it has one."""

    name: str
    value: float | None
    shown: str = ""               # how the value is printed; default: the number itself
    at_most: float | None = None  # the goal; None: reported without one
    goal_from: str = ""           # where the goal is written down (e.g. "issue 21")

    @property
    def verdict(self) -> Verdict:
        if self.at_most is None:
            return Verdict.NO_GOAL
        if self.value is None or math.isnan(self.value):
            return Verdict.MISS  # not measured is not met
        return Verdict.PASS if self.value <= self.at_most else Verdict.MISS

    @property
    def display(self) -> str:
        if self.shown:
            return self.shown
        if self.value is None or math.isnan(self.value):
            return "not measured"
        return f"{self.value:g}"

    @property
    def goal(self) -> str:
        if self.at_most is None:
            return "—"
        return f"≤ {self.at_most:g}" + (f" ({self.goal_from})" if self.goal_from else "")


def table(figures: Sequence[Figure]) -> str:
    """The final plain-text table: figure | value | goal | verdict, columns sized to their content."""
    rows = [("figure", "value", "goal", "")] + [(f.name, f.display, f.goal, str(f.verdict)) for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip() for r in rows]
    lines.insert(1, "  " + "-" * (sum(widths) + 10))
    return "\n".join(lines)
