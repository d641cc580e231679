"""The staffed-hours override rule shared by the console, the dashboard and the CLI (pure logic)."""

from __future__ import annotations

import pytest

from chat_server.agents.override import MAX_MINUTES, OverrideError, OverrideRequest, parse_override


def test_modes_units_and_reason_are_normalised() -> None:
    assert parse_override("open", 90, "  storm   surge ") == OverrideRequest("open", 90.0, "storm surge")
    assert parse_override("close", 30) == OverrideRequest("closed", 30.0, "")
    assert parse_override("closed", None, "x", hours=2) == OverrideRequest("closed", 120.0, "x")
    assert parse_override("clear", "ignored") == OverrideRequest(None)
    assert parse_override(None) == OverrideRequest(None)


@pytest.mark.parametrize(("args", "kwargs", "field"), [
    (("sideways", 10), {}, "mode"),
    ((["open"], 10), {}, "mode"),
    (("open", 0), {}, "minutes"),
    (("open", MAX_MINUTES + 1), {}, "minutes"),
    (("open", None), {"hours": 73}, "minutes"),
    (("open", True), {}, "minutes"),
    (("open", "60"), {}, "minutes"),
    (("open", None), {}, "minutes"),
    (("open", 60, "x" * 201), {}, "reason"),
])
def test_refusals_name_the_field(args, kwargs, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(OverrideError) as exc:
        parse_override(*args, **kwargs)
    assert exc.value.field == field


def test_one_bound_for_every_entry_point() -> None:
    assert parse_override("open", MAX_MINUTES).minutes == 72 * 60  # the dashboard's old 72-hour ceiling
    with pytest.raises(OverrideError):
        parse_override("open", 7 * 1440)  # the console's old 7-day ceiling is gone
