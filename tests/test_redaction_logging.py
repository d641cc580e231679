"""PII never reaches logs in full: phone, e-mail, SSN-like and card-like numbers are masked."""

from __future__ import annotations

import json
import logging

from chat_server.logsetup import JsonFormatter, register_secret
from chat_server.redaction import mask_payment_cards, redact, redact_data


def test_redacts_personal_data() -> None:
    text = ("call me at (704) 555-0123 or +1 980.555.0199, mail jane.doe@example.org, "
            "ssn 123-45-6789, card 4111 1111 1111 1111")
    out = redact(text)
    for secret in ("555-0123", "555.0199", "jane.doe@example.org", "123-45-6789", "4111 1111 1111 1111"):
        assert secret not in out
    assert "[email]" in out and "[ssn]" in out and "[card …1111]" in out and "[phone …23]" in out


def test_keeps_ordinary_text() -> None:
    text = "Pothole at 1234 Sharon Amity Rd near exit 5, ticket 311-1000001"
    assert redact(text) == text


def test_json_formatter_redacts_message_extras_and_secrets() -> None:
    register_secret("super-secret-token-42")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "resident wrote %s", ("704-555-0123",), None)
    record.detail = {"email": "a@b.co", "token": "super-secret-token-42"}
    line = json.loads(JsonFormatter().format(record))
    assert "704-555-0123" not in line["msg"]
    assert line["detail"] == {"email": "[email]", "token": "[secret]"}


def test_stream_ids_under_id_keys_are_references_not_card_numbers() -> None:
    event = {"message_id": "1764874000123-0", "id": "1764874000123-12", "after": "1764874000123-0",
             "text": "my card is 4111 1111 1111 1111", "note_id": "4111111111111111"}
    out = redact_data(event)
    assert out["message_id"] == "1764874000123-0" and out["id"] == "1764874000123-12"
    assert "4111" not in out["text"].replace("…1111", "") and out["text"].endswith("[card …1111]")
    assert out["after"] != "1764874000123-0"  # not an id key: still treated as free text
    assert out["note_id"] == "[card …1111]"  # a bare card number under an id key is still masked


def test_payment_cards_are_masked_before_anything_stores_them() -> None:
    """What a resident typed is kept, but a card number (Luhn-valid, 13–19 digits) never is."""
    assert mask_payment_cards("card 4111 1111 1111 1111 exp 09/27") == "card [card …1111] exp 09/27"
    assert mask_payment_cards("5500-0000-0000-0004") == "[card …0004]"
    for kept in ("account 1234 5678 9012 3456", "call 704-555-0142", "request 311-1000001", "1796538164143-0", ""):
        assert mask_payment_cards(kept) == kept  # not a card: fails the Luhn check, or too short


def test_a_name_the_resident_introduces_is_masked() -> None:
    """A description is public (status page, Open311 GET): "I'm Maria Lopez, call me at …" was published."""
    assert redact("I'm Maria Lopez, call me at 704-555-0199") == "I'm [name], call me at [phone …99]"
    assert redact("me llamo Juan Pérez y vivo aquí") == "me llamo [name] y vivo aquí"
    assert redact("mi nombre es Ana Ruiz") == "mi nombre es [name]"
    # the inbox and the fallbacks export showed these in full
    assert redact("hi this is John Smith, 704-555-1234") == "hi this is [name], [phone …34]"
    assert redact("my name is maria lopez and I want to report") == "my name is [name] and I want to report"
    assert redact("write me at bob at gmail dot com") == "write me at [email]"
    # someone else named by who they are to the resident (probe H: published as typed)
    assert redact("My neighbor Jennifer Walsh says its been out") == "My neighbor [name] says its been out"
    assert redact("Owner is Robert Brown, he asked me to report it") == "Owner is [name], he asked me to report it"
    assert redact("el dueño se llama Pedro Pérez") == "el dueño se llama [name]"
    assert redact("mi vecina Ana Ruiz dice que no sirve") == "mi vecina [name] dice que no sirve"
    for kept in ("soy de Charlotte", "the pothole is on Tryon St", "im tired of this pothole", "this is a pothole",
                 "my name is on the bill", "is trash picked up at 7 am", "I am calling about my cart",
                 "my neighbor says the light is out", "the owner of the Food Lion lot", "mi vecino dice que sí"):
        assert redact(kept) == kept
