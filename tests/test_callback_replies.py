"""Reading answers to the callback offer (pure): buttons, yes/no words, typed numbers and addresses."""

from __future__ import annotations

import pytest

from chat_server.agents.callback_replies import (
    ContactAnswer,
    Method,
    answers_the_offer,
    consent,
    contact,
    continues_report,
    leading_consent,
    means_this_contact,
    moves_on,
    names_a_topic,
    phone_number,
    skips_the_question,
    withdraws,
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
    ("/callback_skip", True), ("Omitir", True), ("sure, 704-555-1212", True), ("ya mejor no, gracias", True),
    ("my property tax bill doubled this year", False), ("call me maybe", False),
    ("sí porfa, es sobre mi recibo del agua", False),
])
def test_answers_to_the_offer_are_told_from_the_residents_question(said: str, expected: bool) -> None:
    assert answers_the_offer(said) is expected


@pytest.mark.parametrize(("said", "expected"), [
    ("/callback_skip", True), ("skip", True), ("Omitir.", True), ("no", True), ("nada", True), ("yes", True),
    ("my cart was stolen", False), ("no water since this morning", False), ("nada de agua desde ayer", False),
])
def test_skipping_the_question_is_told_from_an_answer(said: str, expected: bool) -> None:
    assert skips_the_question(said) is expected


@pytest.mark.parametrize(("said", "expected"), [
    ("yes call me at 704-555-3321", (True, "call me at 704-555-3321")), ("sure, 704-555-1212", (True, "704-555-1212")),
    ("si porfa llamenme", (True, "llamenme")), ("yes please call me", (True, "call me")),
    ("yes", None), ("yesterday the truck skipped us", None), ("my cart", None),
])
def test_a_yes_with_more_after_it(said: str, expected: tuple[bool, str] | None) -> None:
    assert leading_consent(said) == expected


@pytest.mark.parametrize(("said", "expected"), [
    ("ya mejor no, gracias", True), ("cancel", True), ("No thanks", True), ("/callback_no", True),
    ("actually never mind", True),
    ("704-555-0142", False), ("es el siete cero cuatro", False),
])
def test_withdrawing_while_the_contact_is_asked(said: str, expected: bool) -> None:
    assert withdraws(said) is expected


@pytest.mark.parametrize(("said", "expected"), [
    ("I got charged twice on my water bill, I want to talk to someone", True),
    ("quiero hablar con alguien de mi recibo del agua", True), ("blorp snarfle wizzo", True),
    ("talk to a human", False), ("can I talk to a real person please", False),
    ("hola, quiero hablar con alguien", False), ("hi", False), ("/request_human", False),
    ("Yes, leave a request", False), ("Sí, dejar una solicitud", False),  # the offer's own button, typed
])
def test_a_message_that_names_more_than_a_person(said: str, expected: bool) -> None:
    assert names_a_topic(said) is expected


@pytest.mark.parametrize(("said", "expected"), [
    ("a que hora abren mañana?", True), ("when does the landfill open on saturday", True),
    ("704 555 0142", False), ("ann@example.org", False), ("call me maybe", False), ("ya mejor no, gracias", False),
])
def test_a_new_question_where_a_number_was_asked(said: str, expected: bool) -> None:
    assert moves_on(said) is expected


@pytest.mark.parametrize(("said", "expected"), [
    ("Continue my report", True), ("Seguir con mi reporte", True), ("ok lets finish the report", True),
    ("continue", True), ("yes, continue", True), ("sí, terminar el reporte", True), ("actually let's continue", True),
    ("bueno, mejor seguir con el reporte", True),
    ("I want to continue paying my bill online", False), ("yes", False), ("Yes, leave a request", False),
])
def test_going_back_to_the_report(said: str, expected: bool) -> None:
    assert continues_report(said) is expected


@pytest.mark.parametrize(("said", "method"), [
    ("Llámenme", "phone"), ("No necesito respuesta", "none"), ("No callback needed", "none"),
    ("Envíenme un correo", "email"), ("E-mail me", "email"),
])
def test_a_contact_buttons_title_typed_is_that_button(said: str, method: str) -> None:
    answer = contact(said)
    assert answer is not None and answer.method.value == method and answer.value is None


@pytest.mark.parametrize(("said", "expected"), [
    ("the number I am texting from", True), ("this number", True), ("same number", True), ("yes", True),
    ("Yes, this number", True), ("/callback_this_contact", True), ("a este mismo número", True),
    ("al número desde el que escribo", True), ("this email", True), ("same address", True),
    ("my number is 704-555-0100", False),  # a number typed: that one, not the channel's
    ("what time do you open tomorrow", False), ("no", False),
])
def test_the_number_or_address_the_resident_writes_from(said: str, expected: bool) -> None:
    assert means_this_contact(said) is expected
