"""Pure text shaping for SMS and e-mail: segments, splitting, numbered options, quote stripping."""

from __future__ import annotations

import pytest

from chat_server.channels.text_shaping import (
    SegmentInfo,
    event_text,
    looks_unfinished,
    pick_option,
    render_options,
    segment_info,
    split_message,
    split_reply,
)


def test_segment_counting_gsm7_and_ucs2() -> None:
    assert segment_info("a" * 160) == SegmentInfo("GSM-7", 160, 1)
    assert segment_info("") == SegmentInfo("GSM-7", 0, 1)
    assert segment_info("a" * 161).segments == 2  # 153 septets per concatenated segment
    assert segment_info("a" * 306).segments == 2 and segment_info("a" * 307).segments == 3
    # Extension characters ({, €, ...) cost two septets.
    assert segment_info("€" * 80).units == 160 and segment_info("€" * 81).segments == 2
    # One character outside GSM-7 turns the whole message into UCS-2: 70 / 67 per segment.
    assert segment_info("¿Dónde?").encoding == "UCS-2"
    assert segment_info("ó" * 70).segments == 1 and segment_info("ó" * 71).segments == 2
    assert segment_info("🚧" * 35).units == 70  # surrogate pairs count twice
    assert segment_info("ñandú").encoding == "UCS-2" and segment_info("ñandu").encoding == "GSM-7"


def test_split_prefers_sentence_boundaries() -> None:
    sentence = "Trash is collected weekly on your service day. "
    body = sentence * 60  # ~2800 characters
    parts = split_message(body, 1600)
    assert len(parts) == 2
    assert all(len(p) <= 1600 for p in parts)
    assert parts[0].endswith("service day.")  # cut after a full stop, not mid-sentence
    assert " ".join(parts) == body.strip()


def test_split_falls_back_to_words_then_hard_cut() -> None:
    words = "pothole " * 300
    parts = split_message(words, 200)
    assert all(len(p) <= 200 for p in parts) and all(not p.endswith("potho") for p in parts)
    assert " ".join(parts).split() == words.split()
    blob = "x" * 450
    assert [len(p) for p in split_message(blob, 200)] == [200, 200, 50]
    assert split_message("short", 1600) == ["short"]


def test_numbered_options_and_mapping_back() -> None:
    quick = [{"title": "Talk to a person", "payload": "/request_human"},
             {"title": "Report a pothole", "payload": "/report_pothole"}]
    body = render_options("Sorry, I didn't get that.", quick, "en")
    assert body == "Sorry, I didn't get that.\nReply with a number:\n1) Talk to a person\n2) Report a pothole"
    assert "Responda con un número" in render_options("¿Perdón?", quick, "es")
    payloads = [q["payload"] for q in quick]
    assert pick_option("1", payloads) == "/request_human"
    assert pick_option(" 2. ", payloads) == "/report_pothole"
    assert pick_option("#2", payloads) == "/report_pothole"
    assert pick_option("3", payloads) is None and pick_option("0", payloads) is None
    # "pick more than one" by number (probe AG); never two commands at once, never an option not offered
    carts = ["Garbage", "Recycling", "Yard waste", "Bulky item"]
    for typed in ("1 AND 2", "1, 2", "1 y 2", "1 2", "#1 & #2"):
        assert pick_option(typed, carts) == "Garbage, Recycling", typed
    assert pick_option("1, 5", carts) is None and pick_option("1 and 2", payloads) is None
    assert pick_option("1200 Central Ave", carts) is None
    assert pick_option("2 3 4", carts) == "Recycling, Yard waste, Bulky item"
    assert pick_option("1 pothole on Main St", payloads) is None
    assert pick_option("1", []) is None


def test_event_texts_for_text_channels() -> None:
    assert event_text("queue_update", {"position": 2, "estimated_wait_s": 240}, "en") == \
        "You're number 2 in line for a 311 agent (about 4 min). We'll write here as soon as one joins."
    assert event_text("queue_update", {"position": 2, "estimated_wait_s": 240}, "en",
                      {"queue_notified": True}) is None
    assert "311-1234" in (event_text("ticket_created", {"ticket_id": "311-1234", "status_url": "http://x/s"}, "es")
                          or "")
    # a request of the same problem the resident now follows: its link too (on SMS the bot's words have none)
    assert event_text("ticket_followed", {"ticket_id": "311-77", "status_url": "http://x/s/311-77"}, "en") == \
        "Track request 311-77 online: http://x/s/311-77"
    assert event_text("typing", {"on": True}, "en") is None
    assert event_text("agent_joined", {"name": "Ann"}, "en") is None  # the system message says it
    assert event_text("conversation_closed", {"reason": "agent_closed"}, "en") is None
    assert event_text("conversation_closed", {"reason": "inactive"}, "en")


def test_quote_stripping_common_clients() -> None:
    gmail = ("Yes, it's still there.\n\nOn Tue, Nov 24, 2026 at 3:02 PM City 311 <311chat@city.gov>\nwrote:\n"
             "> Is the pothole still there?\n")
    assert split_reply(gmail)[0] == "Yes, it's still there."
    one_line = "Thanks!\nOn Tue, Nov 24, 2026 at 3:02 PM City 311 <311chat@city.gov> wrote:\n> old"
    assert split_reply(one_line)[0] == "Thanks!"
    outlook = ("Please send someone.\n\n________________________________\nFrom: City 311 <311chat@city.gov>\n"
               "Sent: Tuesday\nSubject: Re: pothole\n\nold text")
    assert split_reply(outlook)[0] == "Please send someone."
    spanish = "Sí, gracias.\n\nEl mar, 24 nov 2026 a las 15:02, City 311 escribió:\n> ¿Algo más?"
    assert split_reply(spanish)[0] == "Sí, gracias."
    signature = "Where do I pay my water bill?\n\n-- \nJane Doe\n555-0100"
    assert split_reply(signature)[0] == "Where do I pay my water bill?"
    iphone = "ok\n\nSent from my iPhone"
    assert split_reply(iphone)[0] == "ok"
    # the sender's name over it is the signature too: an anonymous report published it (probe AG)
    signed = "The streetlight in front of 2200 The Plaza is out.\n\nRobert Nguyen\nSent from my iPhone"
    assert split_reply(signed)[0] == "The streetlight in front of 2200 The Plaza is out."
    assert split_reply("Hay un bache.\nMaria Lopez\nEnviado desde mi iPhone")[0] == "Hay un bache."
    assert split_reply("The light on Central Avenue\nSent from my iPhone")[0] == "The light on Central Avenue"
    # Only a signature: no words of theirs, so the subject is used (the signature reached the bot as the message).
    assert split_reply("\n\nSent from my iPhone")[0] == ""
    assert split_reply("Enviado desde mi Galaxy")[0] == ""
    # What was cut as a signature is the resident's own writing, for the emergency guard; quoted history is not.
    assert split_reply("When is bulk pickup?\n\n-- \nMaria Lopez\nPS my dad is not breathing\n> my house is on "
                       "fire") == ("When is bulk pickup?", "-- \nMaria Lopez\nPS my dad is not breathing")
    # a letter's closing and signature (probe J: not understood with them, and the name reached the inbox)
    letter = ("Good afternoon,\n\nI would like to know how to pay a parking ticket.\n\nThanks,\nRose Martin\n"
              "Tel. 704-555-0199")
    assert split_reply(letter)[0] == "Good afternoon,\n\nI would like to know how to pay a parking ticket."
    carta = "Buenas tardes:\nQuisiera saber cómo pagar una multa.\nSaludos,\nRosa Martínez"
    assert split_reply(carta)[0] == "Buenas tardes:\nQuisiera saber cómo pagar una multa."
    assert split_reply("Thanks!")[0] == "Thanks!"  # a thank-you on its own is the message
    only_quote = "> everything is quoted"
    assert split_reply(only_quote)[0] == "> everything is quoted"  # never lose the resident's words


@pytest.mark.parametrize(("mail", "kept"), [
    # a name over a phone number, no sign-off (probe R: the number made the bot ask for a request number)
    ("Thanks. One more: can I put a broken mirror in the trash?\nMaria Rivera\nCell 704-555-0199",
     "Thanks. One more: can I put a broken mirror in the trash?"),
    ("how do I set up autopay for my water bill?\n\nHank Moore\n512 Oak St\nCharlotte, NC 28202\n(704) 555-0188",
     "how do I set up autopay for my water bill?"),
    # under a report, the home address in the signature may be where the problem is: kept
    ("There is a pothole in front of my house\n\nHank Moore\n512 Oak St\n(704) 555-0188", None),
    ("pothole at\n600 E 4th St\nits huge", None),
    ("John Smith\n704-555-0100", None),  # nothing but the block
])
def test_a_signature_without_a_sign_off(mail: str, kept: str | None) -> None:
    assert split_reply(mail)[0] == (mail if kept is None else kept)


@pytest.mark.parametrize(("text", "unfinished"), [
    ("There is a big tree branch down blocking the sidewalk on Queens Rd near the ", True),
    ("hay un bache en la calle Central cerca de la", True),
    ("the pothole is on 5th street between Oak and", True),
    ("pothole on 5th street,", True),
    ("x" * 153, True),  # a carrier's part of a long text
    ("x" * 67, True),
    ("my trash was not picked up", False),
    ("my trash was not picked up ", False),  # phones add a space after a suggested word
    ("the streetlight stays on", False),
    ("who do I talk to", False),
    ("está cerca", False),
    ("where do i vote?", False),
    ("there's a pothole on Queens Rd near the.", False),
    ("ok 👍", False),
    ("1500 Central Ave", False),
    ("STOP", False),
    ("", False),
])
def test_a_text_that_reads_unfinished(text: str, unfinished: bool) -> None:
    assert looks_unfinished(text) is unfinished
