"""bench/stats.py: the rules that decide what `make bench` figures mean (lost, late, median of runs, PASS/MISS)."""

from __future__ import annotations

import math

from bench.stats import (
    Figure,
    Send,
    Verdict,
    delivery,
    from_json,
    median,
    per_message_ms,
    percentile,
    ratio,
    rounded,
    table,
    worst,
)


def test_percentile_is_nearest_rank_and_nan_when_empty() -> None:
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 51  # round(0.5 * 99) = 50 → the 51st value
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(reversed(values), 0) == 1  # order of input does not matter
    assert math.isnan(percentile([], 99))


def test_median_of_three_runs_is_the_middle_one_not_the_best() -> None:
    assert median([4700.0, 18.7, 2100.0]) == 2100.0
    assert median([3.0, 1.0]) == 2.0
    assert math.isnan(median([]))
    assert math.isnan(median([1.0, math.nan, 2.0]))  # a run that measured nothing poisons the median
    assert math.isnan(median(from_json([1.0, None, 2.0])))


def test_worst_is_pessimistic_about_missing_runs() -> None:
    assert worst([1.0, 5.0, 2.0]) == 5.0
    assert worst([1.0, None]) is None
    assert worst([]) is None


def test_cpu_per_message_and_ratios() -> None:
    assert per_message_ms(1.2, 3000) == 0.4
    assert math.isnan(per_message_ms(1.2, 0))  # no delivery is not "free"
    assert ratio(1.5, 1.2) == 1.25
    assert math.isnan(ratio(1.0, 0.0))
    assert math.isnan(ratio(1.0, math.nan))
    assert rounded(math.nan) is None
    assert rounded(0.123456, 3) == 0.123


def _send(due: float, sent: float, acked: bool = True, arrived: float | None = None) -> Send:
    return Send(due=due, sent=sent, acked=acked, arrived=arrived)


def test_errors_timeouts_and_undelivered_messages_are_lost() -> None:
    sends = [
        _send(0.0, 0.0, arrived=0.010),          # delivered in 10 ms
        _send(0.1, 0.1, acked=False),            # error ack or ack timeout
        _send(0.2, 0.2, acked=False, arrived=None),
        _send(0.3, 0.3, acked=True, arrived=None),  # acked but no agent got it by the drain deadline
    ]
    result = delivery(sends, late_ms=1000)
    assert (result.sent, result.delivered, result.lost) == (4, 1, 3)
    assert result.p99_ms == 10.0


def test_late_deliveries_stay_in_the_percentiles_and_are_counted() -> None:
    fast = [_send(i * 0.001, i * 0.001, arrived=i * 0.001 + 0.005) for i in range(98)]
    late = [_send(1.0, 1.0, arrived=3.5), _send(1.1, 1.1, arrived=2.3)]  # 2,500 ms and 1,200 ms
    result = delivery(fast + late, late_ms=1000)
    assert result.lost == 0
    assert result.delivered == 100
    assert result.late == 2
    assert math.isclose(result.late_max_ms, 2500.0)
    assert math.isclose(result.max_ms, 2500.0)
    assert math.isclose(result.p99_ms, 1200.0)  # the late ones are in the percentiles, not dropped
    assert math.isclose(result.p50_ms, 5.0)


def test_generator_lag_is_reported_apart_from_latency() -> None:
    # The generator fell behind: the last send left 300 ms after its due time; latency is still 5 ms.
    sends = [_send(i * 0.01, i * 0.01 + (0.3 if i == 99 else 0.0), arrived=i * 0.01 + (0.3 if i == 99 else 0.0)
                   + 0.005) for i in range(100)]
    result = delivery(sends, late_ms=1000)
    assert math.isclose(result.lag_max_ms, 300.0)
    assert result.lag_p99_ms == 0.0
    assert math.isclose(result.max_ms, 5.0)


def test_empty_run_measures_nothing() -> None:
    result = delivery([], late_ms=1000)
    assert (result.sent, result.delivered, result.lost, result.late) == (0, 0, 0, 0)
    assert math.isnan(result.p99_ms)
    assert result.as_dict()["p99_ms"] is None  # JSON null, not NaN


def test_figure_verdicts() -> None:
    assert Figure("cpu", 0.4, at_most=0.4).verdict is Verdict.PASS
    assert Figure("cpu", 0.41, at_most=0.4).verdict is Verdict.MISS
    assert Figure("lost", 0, at_most=0).verdict is Verdict.PASS
    assert Figure("lost", 1, at_most=0).verdict is Verdict.MISS
    assert Figure("p99", None, at_most=20).verdict is Verdict.MISS  # not measured is not met
    assert Figure("p99", math.nan, at_most=20).verdict is Verdict.MISS
    assert Figure("redis bytes", 1234).verdict is Verdict.NO_GOAL


def test_table_has_one_row_per_figure_with_value_goal_and_verdict() -> None:
    figures = [Figure("relay CPU ms per relayed message", 1.2, at_most=0.4, goal_from="issue 21"),
               Figure("relay p99 ms", 12.5, "12.5  (runs 11 / 12.5 / 40)", 20, "issue 21"),
               Figure("idle Redis bytes per idle session", 812)]
    lines = table(figures).splitlines()
    assert len(lines) == 2 + len(figures)  # header, rule, rows
    cpu, p99, redis = lines[2:]
    assert "1.2" in cpu and "≤ 0.4 (issue 21)" in cpu and cpu.endswith("MISS")
    assert "12.5  (runs 11 / 12.5 / 40)" in p99 and p99.endswith("PASS")
    assert "812" in redis and redis.endswith("—")
    # columns line up: the goal column starts at the same place in every row
    assert len({line.index("≤") for line in (cpu, p99)}) == 1
