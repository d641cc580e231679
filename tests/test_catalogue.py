"""The service catalogue file and its loader (chat_server/tickets/catalogue.py): pure, no servers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chat_server.tickets.catalogue import REPORT_LABELS, CatalogueError, TicketValidationError, load_catalogue

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "chat_server" / "tickets" / "catalogue.yml"
KEPT_CODES = {"POTHOLE", "STREETLIGHT", "MISSED_PICKUP", "GRAFFITI", "ABANDONED_VEHICLE", "FALLEN_TREE",
              "WATER_LEAK", "ILLEGAL_DUMPING", "GENERAL"}


def test_shipped_catalogue_has_30_services_with_bilingual_prompts() -> None:
    catalogue = load_catalogue(CATALOGUE)
    assert len(catalogue.services) >= 30 and set(catalogue.services) >= KEPT_CODES
    assert {s.label for s in catalogue.labelled} >= set(REPORT_LABELS)
    for service in catalogue:
        for attr in service.attributes:
            for lang in ("en", "es"):
                assert attr.prompts[lang] and attr.names[lang], (service.service_code, attr.code)
            for value in attr.values:
                assert value.names["en"] and value.names["es"]


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = CATALOGUE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "catalogue.yml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


@pytest.mark.parametrize("old,new,field,needle", [
    ("datatype: number\n        required: true", "datatype: numbr\n        required: true",
     "(ABANDONED_VEHICLE).attributes[1] (days_parked).datatype",
     "datatype: numbr"),
    ('name: {en: "Size", es: "Tamaño"}', 'name: {en: "Size"}', "(POTHOLE).attributes[1] (size).name",
     'name: {en: "Size"}'),
    ("- code: sign_problem", "- code: description", "(SIGN_DAMAGE).attributes[1] (description).code",
     "- code: description"),
    ("label: report_noise", "label: Noise Complaint", "(NOISE).label", "label: Noise Complaint"),
    ("    expected_days: 7\n", "    expected_dayz: 7\n", "(CART_REPAIR).expected_dayz", "expected_dayz"),
    ("            note:\n              en: >-", "            note:\n              fr: x\n              en: >-",
     "(MISSED_PICKUP).attributes[1] (cart_at_curb_by_7am).values[1].note", "              fr: x"),
    ("        max: 3650\n", "        max: -1\n", "(ABANDONED_VEHICLE).attributes[1] (days_parked).max", "max: -1"),
    ('location_prompt: {en: "Where is the noise coming from?", es: "¿De dónde viene el ruido?"}',
     'location_prompt: {en: "Where is the noise coming from?"}', "(NOISE).location_prompt",
     'location_prompt: {en: "Where is the noise coming from?"}'),
    ("        max: 3650\n", "        max: lots\n", "(ABANDONED_VEHICLE).attributes[1] (days_parked).max", "max: lots"),
    ("        keywords: [plate", "        min: 7\n        keywords: [plate",
     "(ABANDONED_VEHICLE).attributes[0] (plate).min", "        min: 7"),
])
def test_an_invalid_catalogue_names_file_line_and_field(tmp_path: Path, old: str, new: str, field: str,
                                                       needle: str) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    err = info.value
    assert err.line == _line_of(path, needle) and field in err.field
    assert str(path) in str(err) and f"line {err.line}" in str(err)


def test_yaml_syntax_errors_carry_the_line(tmp_path: Path) -> None:
    path = _broken(tmp_path, "    group: Parks\n", "    group: [Parks\n")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    assert info.value.line is not None and "not valid YAML" in str(info.value)


def test_a_key_written_twice_is_refused_with_its_lines(tmp_path: Path) -> None:
    path = _broken(tmp_path, "    group: Parks\n", "    group: Parks\n    group: Streets\n")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    assert "'group' is written twice" in str(info.value) and info.value.line is not None, str(info.value)


def test_a_missing_design_label_is_refused(tmp_path: Path) -> None:
    path = _broken(tmp_path, "label: report_pothole", "label: report_road_hole")
    with pytest.raises(CatalogueError, match="report_pothole"):
        load_catalogue(path)


@pytest.mark.parametrize(("code", "answers", "error"), [
    ("ABANDONED_VEHICLE", {"plate": "ABC1234", "days_parked": "-3"}, "attribute[days_parked] must be at least 0"),
    ("ABANDONED_VEHICLE", {"plate": "ABC1234", "days_parked": "99999"}, "attribute[days_parked] must be at most 3650"),
    ("BULKY_ITEM_PICKUP", {"item_count": "0"}, "attribute[item_count] must be at least 1"),
])
def test_numbers_outside_their_bounds_are_refused(code: str, answers: dict[str, str], error: str) -> None:
    service = load_catalogue(CATALOGUE).get(code)
    assert service is not None
    required = {a.code: a.values[0].key for a in service.attributes if a.required and a.values}
    with pytest.raises(TicketValidationError, match=re.escape(error)):
        service.validate_attributes({**required, **answers})
    assert service.validate_attributes({**required, **answers, next(iter(answers.keys() - {"plate"})): "2"})
