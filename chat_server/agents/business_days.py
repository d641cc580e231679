"""Business-day arithmetic for expected dates: pure, no I/O.

"Within 5 business days" must never land on a weekend or a holiday the line is closed. Days are
counted on local calendar dates (the `hours` time zone) and the wall-clock time of day is kept, so
a DST change in between shifts the UTC offset, not the hour residents read.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import date, datetime, timedelta

SATURDAY = 5


def is_business_day(day: date, holidays: Collection[date]) -> bool:
    return day.weekday() < SATURDAY and day not in holidays


def add_business_days(start: datetime, days: float, holidays: Collection[date]) -> datetime:
    """The moment `days` business days after `start` (aware, in the jurisdiction's zone).

    A fraction of a day counts as a whole one (2.5 → 3). Zero days from a weekend or holiday moves
    to the next business day, since nobody works the request before then.
    """
    if start.tzinfo is None:
        raise ValueError("naive datetime; pass an aware datetime in the jurisdiction's time zone")
    if days < 0 or not math.isfinite(days):
        raise ValueError(f"days must be a non-negative number, got {days!r}")
    day = start.date()
    remaining = math.ceil(days)
    while remaining > 0 or not is_business_day(day, holidays):
        day += timedelta(days=1)
        if is_business_day(day, holidays):
            remaining = max(remaining - 1, 0)
    if day == start.date():
        return start
    # replace() on a zoneinfo-aware datetime keeps the wall time and picks the offset of that date.
    return start.replace(year=day.year, month=day.month, day=day.day, fold=0)
