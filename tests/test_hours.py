"""Staffed hours (pure logic): DST change days, holidays, split shifts, overrides, closing soon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chat_server.agents.hours import Override, Schedule, parse_window
from chat_server.agents.settings import HoursConfig, HoursOverride
from chat_server.config import ConfigError, load_config
from chat_server.texts import day_names

NY = ZoneInfo("America/New_York")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def default() -> Schedule:
    return Schedule(HoursConfig())


def test_default_weekday_hours() -> None:
    s = default()
    assert s.is_open(at(2024, 6, 5, 7, 0))  # Wednesday 07:00
    assert s.is_open(at(2024, 6, 5, 18, 59))
    assert not s.is_open(at(2024, 6, 5, 19, 0))  # end is exclusive
    assert not s.is_open(at(2024, 6, 5, 6, 59))
    assert not s.is_open(at(2024, 6, 8, 12, 0))  # Saturday


def test_next_open_over_weekend() -> None:
    s = default()
    nxt = s.next_open(at(2024, 6, 7, 19, 30))  # Friday evening
    assert nxt is not None and nxt.astimezone(NY) == at(2024, 6, 10, 7, 0)
    assert s.describe_next_open(at(2024, 6, 7, 19, 30), "en", day_names("en")) == "Monday 7:00 AM"
    assert s.describe_next_open(at(2024, 6, 7, 19, 30), "es", day_names("es")) == "el lunes a las 7:00"
    # today and tomorrow by name: "opens again Monday 7:00 AM" read on a Monday at 2 am (probe V)
    near_en, near_es = ("today at", "tomorrow at"), ("hoy", "mañana")
    assert s.describe_next_open(at(2024, 6, 10, 2, 0), "en", day_names("en"), near=near_en) == "today at 7:00 AM"
    assert s.describe_next_open(at(2024, 6, 10, 20, 0), "es", day_names("es"), near=near_es) == "mañana a las 7:00"
    assert s.describe_next_open(at(2024, 6, 7, 19, 30), "en", day_names("en"), near=near_en) == "Monday 7:00 AM"
    now = at(2024, 6, 5, 9, 0)
    assert s.next_open(now) == now.astimezone(UTC)  # open now
    # closing soon (no new chat now): the next opening after this one, not now (probe AI: "today at 6:51 PM")
    assert s.describe_next_open(at(2024, 6, 10, 18, 51), "en", day_names("en"), near=near_en) == "tomorrow at 7:00 AM"
    assert s.describe_next_open(at(2024, 6, 7, 18, 55), "es", day_names("es"), near=near_es) == "el lunes a las 7:00"


def test_spring_forward_day_window_lengths() -> None:
    """2024-03-10: 02:00 EST jumps to 03:00 EDT. A 01:00-04:00 window is two real hours."""
    s = Schedule(HoursConfig(weekly={"sun": ["01:00-04:00"]}))
    (start, end), = s.day_windows(at(2024, 3, 10).date())
    assert end - start == timedelta(hours=2)
    assert s.is_open(datetime(2024, 3, 10, 7, 30, tzinfo=UTC))  # 03:30 EDT
    assert not s.is_open(datetime(2024, 3, 10, 8, 0, tzinfo=UTC))  # 04:00 EDT
    # An all-day window is 23 hours long on that day.
    s24 = Schedule(HoursConfig(weekly={"sun": ["00:00-24:00"]}))
    (start, end), = s24.day_windows(at(2024, 3, 10).date())
    assert end - start == timedelta(hours=23)


def test_spring_forward_window_starting_in_the_gap() -> None:
    """A window starting at a wall time that does not exist (02:30) opens right after the gap."""
    s = Schedule(HoursConfig(weekly={"sun": ["02:30-05:00"]}))
    assert not s.is_open(at(2024, 3, 10, 1, 59))
    assert s.is_open(datetime(2024, 3, 10, 7, 45, tzinfo=UTC))  # 03:45 EDT
    assert not s.is_open(datetime(2024, 3, 10, 9, 0, tzinfo=UTC))  # 05:00 EDT


def test_fall_back_day() -> None:
    """2024-11-03: 02:00 EDT falls back to 01:00 EST; the 01:xx hour happens twice."""
    s = Schedule(HoursConfig(weekly={"sun": ["00:00-24:00"]}))
    (start, end), = s.day_windows(at(2024, 11, 3).date())
    assert end - start == timedelta(hours=25)
    s2 = Schedule(HoursConfig(weekly={"sun": ["00:30-01:30"]}))
    # 00:30 EDT (04:30Z) to 01:30 EDT (05:30Z): first occurrence of 01:30 ends it.
    assert s2.is_open(datetime(2024, 11, 3, 5, 15, tzinfo=UTC))
    assert not s2.is_open(datetime(2024, 11, 3, 6, 15, tzinfo=UTC))  # 01:15 EST, second time round
    # Regular hours the day after are unaffected and now at UTC-5.
    d = default()
    status = d.status(at(2024, 11, 4, 8, 0))
    assert status.open and status.closes_at == datetime(2024, 11, 5, 0, 0, tzinfo=UTC)


def test_holiday_is_closed_and_next_open_skips_it() -> None:
    s = Schedule(HoursConfig(holidays=["2024-07-04"]))
    assert not s.is_open(at(2024, 7, 4, 10, 0))
    assert s.is_open(at(2024, 7, 3, 10, 0))
    nxt = s.next_open(at(2024, 7, 3, 20, 0))
    assert nxt is not None and nxt.astimezone(NY) == at(2024, 7, 5, 7, 0)


def test_split_shift() -> None:
    s = Schedule(HoursConfig(weekly={"sat": ["08:00-12:00", "13:00-17:00"]}, closing_soon_min=15))
    assert s.is_open(at(2024, 6, 8, 11, 0))
    assert not s.is_open(at(2024, 6, 8, 12, 30))
    nxt = s.next_open(at(2024, 6, 8, 12, 30))
    assert nxt is not None and nxt.astimezone(NY) == at(2024, 6, 8, 13, 0)
    status = s.status(at(2024, 6, 8, 11, 50))
    assert status.open and not status.accepting  # the lunch break counts as closing
    assert status.closes_at is not None and status.closes_at.astimezone(NY) == at(2024, 6, 8, 12, 0)


def test_overnight_window_and_adjacent_days_merge() -> None:
    s = Schedule(HoursConfig(weekly={"fri": ["20:00-02:00"]}))
    assert s.is_open(at(2024, 6, 8, 1, 0))  # Saturday 01:00 belongs to Friday's window
    all_week = Schedule(HoursConfig(weekly={d: ["00:00-24:00"] for d in ("mon", "tue")}))
    status = all_week.status(at(2024, 6, 3, 23, 55))  # Monday 23:55: not "closing", Tuesday continues
    assert status.accepting
    assert status.closes_at is not None and status.closes_at.astimezone(NY) == at(2024, 6, 5, 0, 0)


def test_closing_soon() -> None:
    s = Schedule(HoursConfig(closing_soon_min=10))
    assert s.accepting_escalations(at(2024, 6, 5, 18, 49))
    assert not s.accepting_escalations(at(2024, 6, 5, 18, 50))
    assert s.is_open(at(2024, 6, 5, 18, 55))


def test_emergency_override_open_and_closed() -> None:
    s = default()
    saturday = at(2024, 6, 8, 10, 0)
    storm = Override("open", at(2024, 6, 8, 18, 0), reason="storm")
    assert s.is_open(saturday, storm) and s.status(saturday, storm).override == "open"
    assert not s.is_open(at(2024, 6, 8, 18, 30), storm)  # override over
    closed = Override("closed", at(2024, 6, 5, 12, 0))
    assert not s.is_open(at(2024, 6, 5, 10, 0), closed)
    assert s.is_open(at(2024, 6, 5, 12, 0), closed)  # back to the regular schedule
    nxt = s.next_open(at(2024, 6, 5, 10, 0), closed)
    assert nxt is not None and nxt.astimezone(NY) == at(2024, 6, 5, 12, 0)
    # Closing soon applies to an override's end too.
    assert not s.accepting_escalations(at(2024, 6, 8, 17, 55), storm)


def test_planned_override_from_config() -> None:
    cfg = HoursConfig(overrides=[HoursOverride("open", "2024-06-08T09:00", "2024-06-08T15:00", "storm"),
                                 HoursOverride("closed", "2024-06-05T12:00", "2024-06-05T13:00", "training")])
    s = Schedule(cfg)
    assert s.is_open(at(2024, 6, 8, 9, 30))
    assert not s.is_open(at(2024, 6, 8, 8, 30))
    assert not s.is_open(at(2024, 6, 5, 12, 30))
    assert s.is_open(at(2024, 6, 5, 13, 0))


def test_other_timezone() -> None:
    s = Schedule(HoursConfig(timezone="America/Los_Angeles"))
    assert not s.is_open(at(2024, 6, 5, 9, 0))  # 06:00 in LA
    assert s.is_open(at(2024, 6, 5, 10, 0))


def test_bad_config_is_rejected_with_the_key() -> None:
    with pytest.raises(ValueError):
        parse_window("7-19")
    with pytest.raises(ConfigError, match="hours"):
        load_config(environ={"CHAT311_HOURS__WEEKLY": '{"mon": ["25:00-26:00"]}'})
    with pytest.raises(ConfigError, match="hours"):
        load_config(environ={"CHAT311_HOURS__TIMEZONE": "Mars/Olympus"})
    with pytest.raises(ConfigError, match="weekly"):
        load_config(environ={"CHAT311_HOURS__WEEKLY": '{"monday": ["07:00-19:00"]}'})
    with pytest.raises(ConfigError):
        load_config(environ={"CHAT311_HOURS__HOLIDAYS": '["July 4"]'})
    cfg = load_config(environ={"CHAT311_HOURS__WEEKLY": '{"mon": ["00:00-24:00"], "sun": ["22:00-02:00"]}'})
    assert cfg.hours.weekly["mon"] == ["00:00-24:00"]
