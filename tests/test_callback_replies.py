"""Reading answers to the callback offer (pure): buttons, yes/no words, typed numbers and addresses."""

from __future__ import annotations

import pytest

from chat_server.agents.callback_replies import (
    ContactAnswer,
    Method,
    answers_the_offer,
    consent,
    contact,
    phone_number,
    skips_the_question,
)


@pytest.mark.parametrize(("said", "expected"), [
    ("/callback_yes", True), ("Yes please!", True), ("sí", True), ("claro", True), ("OK", True),
    ("/callback_no", False), ("no thanks", False), ("No, gracias.", False),
    ("what day is trash pickup?", None), ("blorp", None), ("", None), ("yes there is a pothole", None),
])
def test_consent_needs_a_clear_yes_or_no(said: str, expected: bool | None) -> None:
    assert consent(said) is expected


@pytest.mark.parametrize(("said", "expected"), [
    ("/callback_phone", ContactAnswer(Method.PHONE)),
    ("/callback_email", ContactAnswer(Method.EMAIL)),
    ("/callback_none", ContactAnswer(Method.NONE)),
    ("(704) 555 0142", ContactAnswer(Method.PHONE, "704-555-0142")),
    ("call me at +1 704.555.0142 after 5", ContactAnswer(Method.PHONE, "704-555-0142")),
    ("ann.ruiz@example.org", ContactAnswer(Method.EMAIL, "ann.ruiz@example.org")),
    ("mi correo es ana@ejemplo.com", ContactAnswer(Method.EMAIL, "ana@ejemplo.com")),
    ("teléfono", ContactAnswer(Method.PHONE)), ("e-mail", ContactAnswer(Method.EMAIL)),
    ("no", ContactAnswer(Method.NONE)), ("ninguno", ContactAnswer(Method.NONE)),
    ("call me maybe", None), ("555-0142", None), ("12345678901234", None),
])
def test_contact_answers(said: str, expected: ContactAnswer | None) -> None:
    assert contact(said) == expected


def test_only_north_american_numbers() -> None:
    assert phone_number("17045550142") == "704-555-0142"
    assert phone_number("27045550142") is None
    assert phone_number("no digits") is None


@pytest.mark.parametrize(("said", "expected"), [
    ("yes", True), ("/callback_phone", True), ("704-555-0142", True), ("ann@example.org", True), ("no thanks", True),
    ("/callback_skip", True), ("Omitir", True),
    ("my property tax bill doubled this year", False), ("call me maybe", False),
])
def test_answers_to_the_offer_are_told_from_the_residents_question(said: str, expected: bool) -> None:
    assert answers_the_offer(said) is expected


@pytest.mark.parametrize(("said", "expected"), [
    ("/callback_skip", True), ("skip", True), ("Omitir.", True), ("no", True), ("nada", True), ("yes", True),
    ("my cart was stolen", False), ("no water since this morning", False), ("nada de agua desde ayer", False),
])
def test_skipping_the_question_is_told_from_an_answer(said: str, expected: bool) -> None:
    assert skips_the_question(said) is expected
