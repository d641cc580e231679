"""Incident notices: validation, matching and timing as pure logic (no I/O)."""

from __future__ import annotations

import pytest

from chat_server.incidents.model import IncidentError, current, next_change, revise, validate
from chat_server.sanitize import fold

NOW = 1_800_000_000.0


def notice(**over):  # type: ignore[no-untyped-def]
    data = {
        "title": {"en": "Winter storm", "es": "Tormenta invernal"},
        "message": {"en": "For power outages call Duke Energy.", "es": "Para apagones llame a Duke Energy."},
        "phrases": ["power outage", "no power", "sin luz", "árbol caído"],
        "ends_at": NOW + 3600,
        "url": "https://www.charlottenc.gov/storm",
    }
    data.update(over)
    return data


def test_valid_notice_defaults_to_now_and_keeps_both_languages() -> None:
    inc = validate(notice(), NOW, [], "sam")
    assert inc.starts_at == NOW and inc.ends_at == NOW + 3600 and inc.created_by == "sam"
    assert inc.public("es") == {"id": inc.id, "title": "Tormenta invernal",
                                "message": "Para apagones llame a Duke Energy.",
                                "url": "https://www.charlottenc.gov/storm", "ends_at": NOW + 3600,
                                "updated_at": None}
    assert inc.notice_text("en").startswith("Winter storm: For power outages")
    assert inc.notice_text("en").endswith("https://www.charlottenc.gov/storm")


@pytest.mark.parametrize(("change", "field"), [
    ({"title": {"en": "Storm"}}, "title.es"),
    ({"message": {"en": "x", "es": "  "}}, "message.es"),
    ({"title": "Storm"}, "title"),
    ({"ends_at": NOW - 1}, "ends_at"),
    ({"starts_at": NOW + 7200, "ends_at": NOW + 3600}, "ends_at"),
    ({"ends_at": NOW + 15 * 86400}, "ends_at"),
    ({"phrases": []}, "phrases"),
    ({"phrases": ["ok"]}, "phrases"),
    ({"phrases": "x" * 61}, "phrases"),
    ({"url": "javascript:alert(1)"}, "url"),
    ({"title": {"en": "T" * 121, "es": "T"}}, "title.en"),
    ({"title": {"en": "\u200b\u200b", "es": "T"}}, "title.en"),  # invisible only: "City notice: " and nothing
    ({"starts_at": float("nan")}, "starts_at"),
    ({"ends_at": float("inf")}, "ends_at"),
    ({"starts_at": NOW + 31 * 86400, "ends_at": NOW + 32 * 86400}, "starts_at"),
])
def test_refusals_name_the_field(change, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IncidentError) as exc:
        validate(notice(**change), NOW, [], "sam")
    assert exc.value.field == field, exc.value


def test_overlapping_incident_with_a_shared_phrase_is_refused() -> None:
    first = validate(notice(), NOW, [], "sam")
    with pytest.raises(IncidentError) as exc:
        validate(notice(phrases=["NO POWER", "flooding"]), NOW, [first], "sam")
    assert exc.value.field == "phrases" and "no power" in exc.value.message
    # Other phrases, or the same phrases after the first one ends, are fine.
    validate(notice(phrases=["road closed"]), NOW, [first], "sam")
    validate(notice(phrases=["no power"], starts_at=NOW + 3600, ends_at=NOW + 7200), NOW, [first], "sam")


def test_matching_is_whole_words_case_and_accent_blind() -> None:
    inc = validate(notice(), NOW, [], "sam")
    assert inc.matches("We have NO POWER since last night!!")
    assert inc.matches("hay un arbol caido en mi calle")
    assert inc.matches("¿Cuándo vuelve la luz? estamos sin luz")
    assert not inc.matches("how do I pay my water bill")
    assert not inc.matches("no powerful reason")  # whole words only
    # each word in the plural too: "gas leaks" and "fugas de gas" got no notice (probe Y)
    leak = validate(notice(phrases=["gas leak", "fuga de gas"]), NOW, [], "sam")
    assert leak.matches("are there gas leaks near Elm?") and leak.matches("hay fugas de gas en mi calle?")
    assert not leak.matches("the gas leaked") and not leak.matches("gaslight")
    assert fold("¡Árbol  Caído!") == "arbol caido"


def test_current_and_next_change_follow_the_clock() -> None:
    early = validate(notice(phrases=["road closed"], starts_at=NOW + 60, ends_at=NOW + 120), NOW, [], "a")
    live = validate(notice(), NOW, [early], "a")
    assert [i.id for i in current([early, live], NOW)] == [live.id]
    assert [i.id for i in current([early, live], NOW + 90)] == [early.id, live.id]  # newest start first
    assert next_change([early, live], NOW) == NOW + 60
    assert next_change([early, live], NOW + 60) == NOW + 120
    assert current([early, live], NOW + 3600) == []


def test_an_end_in_the_past_is_called_that() -> None:
    with pytest.raises(IncidentError) as exc:
        validate(notice(ends_at=NOW - 60), NOW, [], "sam")
    assert exc.value.message == "the end is already in the past"


def test_control_and_bidi_characters_are_dropped_from_the_text() -> None:
    inc = validate(notice(title={"en": "Storm\u202e now\x07", "es": "Tormenta"}), NOW, [], "sam")
    assert inc.title["en"] == "Storm now"


def test_a_correction_keeps_the_notice_and_its_begun_start() -> None:
    """Staff correct a live notice (the estimate moved): same id, so its figures and banner dismissals follow it."""
    posted = validate(notice(), NOW, [], "sam")
    later = NOW + 600
    fixed = revise(posted, notice(message={"en": "Power back by 8 pm.", "es": "La luz vuelve a las 8 pm."},
                                  ends_at=NOW + 7200), later, [posted], "sue")
    assert fixed.id == posted.id and fixed.starts_at == NOW and fixed.ends_at == NOW + 7200
    assert fixed.created_by == "sam" and fixed.updated_by == "sue" and fixed.updated_at == later
    assert fixed.public("es")["message"] == "La luz vuelve a las 8 pm." and fixed.public("es")["updated_at"] == later
    assert fixed.matches("no power on my street")  # the phrases' index is rebuilt
    moved = revise(fixed, notice(phrases=["apagón"], ends_at=NOW + 7200, base_updated_at=later), later, [], "sam")
    assert moved.matches("hay un apagón") and not moved.matches("no power")
    # A scheduled notice may still move its start.
    scheduled = validate(notice(starts_at=NOW + 3600, ends_at=NOW + 7200, phrases=["road closed"]), NOW, [], "sam")
    assert revise(scheduled, notice(starts_at=NOW + 1800, ends_at=NOW + 7200, phrases=["road closed"]), NOW, [],
                  "sam").starts_at == NOW + 1800


@pytest.mark.parametrize(("change", "field"), [
    ({"starts_at": NOW + 1200}, "starts_at"),  # it has begun: residents have seen it since then
    ({"extend_hours": True}, "extend_hours"),  # an hours decision: end it and post again
    ({"base_updated_at": 12345.0}, "incident"),  # someone corrected it since this editor opened it
    ({"title": {"en": "Storm"}}, "title.es"),  # the rules of a new notice
    ({"ends_at": NOW + 300}, "ends_at"),  # already past at NOW + 600
])
def test_a_correction_is_refused_with_the_field_named(change, field) -> None:  # type: ignore[no-untyped-def]
    posted = validate(notice(), NOW, [], "sam")
    with pytest.raises(IncidentError) as exc:
        revise(posted, notice(**change), NOW + 600, [posted], "sue")
    assert exc.value.field == field, exc.value


def test_an_ended_notice_is_not_corrected_and_a_correction_cannot_overlap_another() -> None:
    posted = validate(notice(ends_at=NOW + 600), NOW, [], "sam")
    with pytest.raises(IncidentError) as exc:
        revise(posted, notice(), NOW + 601, [posted], "sue")
    assert exc.value.field == "id" and "ended" in exc.value.message
    other = validate(notice(phrases=["gas leak"]), NOW, [posted], "sam")
    with pytest.raises(IncidentError) as exc:
        revise(posted, notice(phrases=["no power", "gas leak"]), NOW + 60, [posted, other], "sue")
    assert exc.value.field == "phrases" and "gas leak" in exc.value.message
