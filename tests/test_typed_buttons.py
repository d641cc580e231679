"""A button's title typed instead of tapped (chat_server/conversations/typed_buttons.py): the pure rule."""

from __future__ import annotations

import pytest

from chat_server.conversations.typed_buttons import typed_button

KB_ANSWER = [{"title": "More details", "payload": '/kb_details{"article_id":"water-bill-pay"}'},
             {"title": "Yes", "payload": '/kb_feedback{"article_id":"water-bill-pay","helpful":true}'},
             {"title": "No", "payload": '/kb_feedback{"article_id":"water-bill-pay","helpful":false}'}]
KB_ANSWER_ES = [{"title": "Más detalles", "payload": "/kb_details"}, {"title": "Sí", "payload": "/yes"},
                {"title": "No", "payload": "/no"}]


@pytest.mark.parametrize(("said", "buttons", "payload"), [
    ("more details", KB_ANSWER, KB_ANSWER[0]["payload"]),
    ("  More Details. ", KB_ANSWER, KB_ANSWER[0]["payload"]),
    ("no", KB_ANSWER, KB_ANSWER[2]["payload"]),
    ("NO!", KB_ANSWER, KB_ANSWER[2]["payload"]),
    ("mas detalles", KB_ANSWER_ES, "/kb_details"),  # typed without the accent
    ("si", KB_ANSWER_ES, "/yes"),
    ("¡Sí!", KB_ANSWER_ES, "/yes"),
])
def test_a_typed_title_is_its_button(said: str, buttons: list[dict[str, str]], payload: str) -> None:
    assert typed_button(said, buttons) == payload


@pytest.mark.parametrize("said", [
    "no, my question was about sewer",  # a sentence that starts with a title is the resident's own words
    "yes please tell me more details",
    "details",
    "",
    "!!!",
    "no " * 40,
])
def test_anything_else_is_the_residents_words(said: str) -> None:
    assert typed_button(said, KB_ANSWER) is None


def test_a_button_without_a_payload_is_not_chosen() -> None:
    assert typed_button("Yes", [{"title": "Yes", "payload": ""}]) is None


@pytest.mark.parametrize(("said", "payload"), [
    ("no that didn't help", KB_ANSWER[2]["payload"]), ("Not helpful.", KB_ANSWER[2]["payload"]),
    ("no me sirvió", KB_ANSWER[2]["payload"]), ("eso no me ayudó para nada", KB_ANSWER[2]["payload"]),
    ("it did not help at all", KB_ANSWER[2]["payload"]),
    ("yes it helped", KB_ANSWER[1]["payload"]), ("sí me sirvió, gracias", KB_ANSWER[1]["payload"]),
])
def test_was_this_helpful_answered_in_words_is_its_yes_or_no(said: str, payload: str) -> None:
    assert typed_button(said, KB_ANSWER) == payload


def test_helpful_words_choose_nothing_without_a_feedback_button() -> None:
    assert typed_button("no that didn't help", KB_ANSWER_ES) is None  # /no is no /kb_feedback payload
    assert typed_button("no that didn't help", [{"title": "Submit", "payload": "Submit"}]) is None
