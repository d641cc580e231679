"""Business-day arithmetic for expected dates (pure): weekends, holidays, DST, fractions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chat_server.agents.business_days import add_business_days, is_business_day

NY = ZoneInfo("America/New_York")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def test_five_business_days_from_a_wednesday_skip_the_weekend() -> None:
    due = add_business_days(at(2025, 5, 7, 14, 30), 5, ())  # Wednesday
    assert due == at(2025, 5, 14, 14, 30)  # next Wednesday, not Sunday 12th
    assert due.weekday() == 2


def test_friday_plus_one_is_monday() -> None:
    assert add_business_days(at(2025, 5, 9, 9, 0), 1, ()) == at(2025, 5, 12, 9, 0)


def test_holiday_is_skipped() -> None:
    # Thursday 2025-07-03 + 1 business day: Friday the 4th is a holiday → Monday the 7th.
    holidays = {date(2025, 7, 4)}
    assert add_business_days(at(2025, 7, 3, 10, 0), 1, holidays) == at(2025, 7, 7, 10, 0)
    assert not is_business_day(date(2025, 7, 4), holidays)
    assert is_business_day(date(2025, 7, 4), ())


def test_dst_change_keeps_the_wall_clock_time() -> None:
    # Friday 2024-03-08 10:00 EST + 1 business day = Monday 10:00 EDT: 71 real hours, not 72.
    start = at(2024, 3, 8, 10, 0)
    due = add_business_days(start, 1, ())
    assert due.astimezone(NY).hour == 10
    assert due.utcoffset() == timedelta(hours=-4) and start.utcoffset() == timedelta(hours=-5)
    assert due.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=71)


def test_weekend_request_and_zero_or_fractional_days() -> None:
    saturday = at(2025, 5, 10, 12, 0)
    assert add_business_days(saturday, 0, ()) == at(2025, 5, 12, 12, 0)  # first working day
    assert add_business_days(saturday, 1, ()) == at(2025, 5, 12, 12, 0)
    tuesday = at(2025, 5, 13, 8, 0)
    assert add_business_days(tuesday, 0, ()) == tuesday
    assert add_business_days(tuesday, 1.5, ()) == at(2025, 5, 15, 8, 0)  # rounds up to 2


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        add_business_days(datetime(2025, 5, 7), 1, ())
    with pytest.raises(ValueError, match="non-negative"):
        add_business_days(at(2025, 5, 7), -1, ())
