"""The bot end to end: real Rasa server + action server (fixture `rasa_stack`), through the chat311 channel.

Every test talks to POST {rasa}/webhooks/chat311/webhook exactly like chat_server does, with its own
conversation id. Intent payloads (/report_pothole) are used where a test is about dialogue rather than
NLU, so the assertions don't depend on one model's confidence for one sentence.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chat_server.tickets.catalogue import load_catalogue
from tests.support.bot import Conversation, parse

pytestmark = pytest.mark.rasa
CATALOGUE = load_catalogue(Path(__file__).resolve().parent.parent / "chat_server" / "tickets" / "catalogue.yml")


@pytest.fixture
def convo(rasa_stack: Any, chat_server: Any):
    """`chat_server` runs too: the action server asks it for knowledge-base answers."""
    def make(lang: str = "en", channel: str = "web") -> Conversation:
        return Conversation(rasa_stack, lang, channel)
    return make


async def test_channel_response_has_the_contract_fields(convo) -> None:
    c = convo()
    out = await c.say("hello")
    assert set(out) >= {"messages", "label", "confidence", "intent_ranking", "language", "active_loop", "slots"}
    assert out["label"] == "greet" and 0 < out["confidence"] <= 1
    assert 1 <= len(out["intent_ranking"]) <= 3
    assert all(isinstance(name, str) and isinstance(conf, float) for name, conf in out["intent_ranking"])
    assert out["language"] == "en" and out["active_loop"] is None
    assert out["slots"]["language"] == "en" and None not in out["slots"].values()
    assert c.texts and "311" in c.text


async def test_pothole_happy_path_shows_a_summary_and_files_only_on_submit(convo) -> None:
    c = convo()
    await c.say("/report_pothole")
    assert c.last["label"] == "report_pothole" and c.last["active_loop"] == "report_form"
    assert c.requested == "location" and "Where is the problem (pothole)" in c.text

    await c.say("1234 Sharon Amity Rd")
    assert c.requested == "road_position"
    assert [b["title"] for b in c.buttons] == ["Travel lane", "Shoulder / edge", "Intersection", "Crosswalk",
                                               "Bike lane"]
    await c.say(c.buttons[4]["payload"])  # the quick reply "Bike lane"
    assert c.requested == "size" and c.buttons[-1]["title"] == "Skip"  # optional: offered with Skip
    await c.say("it's pretty big, bigger than a tire")
    assert c.requested == "description" and "public status page" in c.text  # so no names or personal details
    await c.say("Deep hole right by the curb, cyclists swerve into traffic to avoid it")
    assert c.requested == "photo" and "public status page" in c.text  # it goes public too (probe AB)
    await c.say("here")  # no photo attached
    assert c.requested == "photo" and "didn't get a photo" in c.text
    await c.say("skip")
    assert c.requested == "contact_name"
    await c.say("Jane Q Doe")
    assert c.requested == "phone"
    await c.say("(704) 555-0123")
    assert c.requested == "email"
    await c.say("Jane.Doe@Example.com")
    assert c.requested == "confirm" and not c.customs("form_complete")
    assert "Here is your report" in c.text and "Position in the road: Bike lane" in c.text
    assert "Size: Large (bigger than a tire)" in c.text and "jane.doe@example.com" in c.text
    # not "Cancel" alone: an SMS resident typing it would be unsubscribed by the carrier (an opt-out keyword)
    assert [b["title"] for b in c.buttons] == ["Submit", "Change something", "Discard report"]
    await c.say("Submit")

    [done] = c.customs("form_complete")
    assert done == {
        "event": "form_complete", "label": "report_pothole", "language": "en",
        "data": {
            "address_string": "1234 Sharon Amity Rd",
            "description": "Deep hole right by the curb, cyclists swerve into traffic to avoid it",
            "attributes": {"road_position": "bike_lane", "size": "large"},
            "first_name": "Jane", "last_name": "Q Doe", "phone": "704-555-0123", "email": "jane.doe@example.com",
        },
    }
    assert "filing" in c.text.lower()
    assert c.last["active_loop"] is None
    assert "location" not in c.last["slots"] and "requested_slot" not in c.last["slots"]


async def test_a_photo_sent_during_the_form_goes_into_the_report(convo) -> None:
    c = convo()
    await c.say("/report_graffiti")
    for answer in ("500 W Trade St", "Bridge / overpass", "no", "tags all over the overpass"):
        await c.say(answer)
    assert c.requested == "photo"
    photo = "http://127.0.0.1/media/abc123.jpg"
    payload = {"sender": c.sender, "message": "📷", "metadata": {"language": "en", "channel": "web",
                                                                 "media_url": photo}}
    async with aiohttp.ClientSession() as session, session.post(c.url, json=payload) as resp:
        c.last = await resp.json()
    assert c.last["slots"]["photo"] == photo and c.requested == "contact_name"
    await c.say("skip")
    assert "Photo: attached" in c.text
    await c.say("Submit")
    [done] = c.customs("form_complete")
    assert done["data"]["media_url"] == photo and done["data"]["attributes"] == {"surface": "bridge",
                                                                                 "offensive": "no"}


async def test_first_message_is_heard_and_only_the_missing_questions_are_asked(convo) -> None:
    c = convo()
    await c.say("there is a big pothole on tryon street")
    assert c.last["label"] == "report_pothole"
    assert c.last["slots"]["location"] == "tryon street" and c.attributes == {"size": "large"}
    # A street alone is miles long: the block or a cross street comes before the missing questions.
    assert "Where is the problem" not in c.text and c.requested == "location_block"
    assert "Where on tryon street?" in c.text
    await c.say("at 5th st")
    assert c.last["slots"]["location"] == "tryon street and 5th st" and c.requested == "road_position"
    e = convo()
    await e.say("there's a huge pothole in the bike lane at 1500 N Tryon St")
    assert e.last["slots"]["location"] == "1500 N Tryon St"
    assert e.attributes == {"road_position": "bike_lane", "size": "large"} and e.requested == "description"
    s = convo("es")
    await s.say("hay un bache enorme en la calle Tryon")
    assert s.last["label"] == "report_pothole" and s.last["slots"]["location"] == "calle Tryon"
    assert s.attributes == {"size": "large"} and s.requested == "location_block"
    assert "De su mensaje anoté: calle Tryon; Grande" in s.text
    await s.say("no sé")  # not sure: the street stays as it was
    assert s.last["slots"]["location"] == "calle Tryon" and s.requested == "road_position"


async def test_contact_details_in_the_first_message_are_not_asked_again(convo) -> None:
    c = convo()
    await c.say("hi this is John Smith, 704-555-1234, there's a big pothole at 600 N Tryon St")
    assert c.last["label"] == "report_pothole"
    assert c.last["slots"]["contact_name"] == "John Smith" and c.last["slots"]["phone"] == "704-555-1234"
    assert "From your message I noted: 600 N Tryon St; Large (bigger than a tire); John Smith; 704-555-1234" in c.text
    for answer in ("travel lane", "skip", "skip"):
        await c.say(answer)
    assert c.requested == "email"  # the name and the phone were given: only the e-mail is left
    await c.say("skip")
    assert c.requested == "confirm" and "Contact: John Smith, 704-555-1234" in c.text
    assert "Description: not given" in c.text  # skipped: no made-up description ("Pothole") goes public
    await c.say("Submit")
    [done] = c.customs("form_complete")
    assert done["data"]["first_name"] == "John" and done["data"]["phone"] == "704-555-1234"
    assert "description" not in done["data"]
    s = convo("es")
    await s.say("hola, mi número es 704 555 0142, hay un bache en la cuadra 400 de la calle Oak")
    assert s.last["slots"]["phone"] == "704-555-0142" and s.last["slots"].get("contact_name") is None
    for answer in ("carril", "omitir", "omitir", "omitir"):
        await s.say(answer)
    assert s.requested == "contact_name"
    await s.say("omitir")  # no name: the phone given first stays for the follow-up, shown before submitting
    assert s.last["slots"]["phone"] == "704-555-0142" and s.requested == "confirm"
    assert "Contacto: 704-555-0142" in s.text


async def test_a_phone_number_is_not_taken_for_a_request_number(convo) -> None:
    s = convo("es")
    await s.say("hay un bache enorme en 1200 Central Ave, soy Lucía Ramírez, mi cel es 980-555-0177")
    assert s.last["label"] == "report_pothole", s.last  # was a status check tied with the fallback
    assert s.last["slots"]["phone"] == "980-555-0177" and s.last["slots"]["contact_name"] == "Lucía Ramírez"
    c = convo()
    await c.say("what's the status of my pothole report? my number is 704-555-0142")
    assert c.last["label"] == "check_request_status", c.last


async def test_yes_to_follow_up_asks_for_the_name_instead_of_taking_yes_as_one(convo) -> None:
    c = convo()
    await c.say("/report_pothole")
    for answer in ("1234 Sharon Amity Rd", "travel lane", "skip", "skip", "skip"):
        await c.say(answer)
    assert c.requested == "contact_name"
    await c.say("yes")
    assert c.requested == "contact_name" and "What name should we use" in c.text
    assert c.last["slots"].get("contact_name") is None
    await c.say("Jane Doe")
    assert c.last["slots"]["contact_name"] == "Jane Doe" and c.requested == "phone"
    # a name with neither a phone nor an e-mail: the summary says nobody can reach her (probe AJ)
    for answer in ("skip", "skip"):
        await c.say(answer)
    assert c.requested == "confirm" and "Contact: Jane Doe (no phone or e-mail, so the city cannot reach you" in c.text


async def test_report_it_under_an_answer_keeps_what_the_question_said(convo) -> None:
    """"Reportarlo" under the noise answer asked where the noise was and what kind, both in the question (probe AJ)."""
    s = convo("es")
    await s.say("mis vecinos tienen musica a todo volumen cada noche en 2200 Remount Rd")
    [report] = [b for b in s.buttons if b["payload"].startswith("/report_")]
    await s.say(report["payload"])
    assert s.last["slots"]["location"] == "2200 Remount Rd", s.last["slots"]
    assert s.attributes.get("noise_type") == "music_party", s.attributes
    assert s.requested not in ("location", "noise_type"), s.requested


async def test_a_first_message_that_tells_the_story_is_offered_as_the_description(convo) -> None:
    story = "there's a huge pothole on Providence Rd by the Harris Teeter, it's been there two weeks"
    c = convo()
    await c.say(story)
    assert c.last["slots"]["location"] == "Providence Rd by the Harris Teeter"  # a landmark: no block question
    assert c.requested == "road_position"
    await c.say("travel lane")
    # The question still warns that the description is public; the resident chooses to use their words.
    assert c.requested == "description" and "public status page" in c.text and story in c.text
    assert [b["title"] for b in c.buttons] == ["Use what I wrote"]
    await c.say("Use what I wrote")
    assert c.last["slots"]["description"] == story and c.requested == "photo"
    s = convo("es")
    await s.say("quiero reportar un bache")  # a request, not a story: nothing is offered
    await s.say("1200 Beatties Ford Road")
    await s.say("carril")
    await s.say("grande")
    assert s.requested == "description" and not s.buttons
    await s.say("Usar lo que escribí")  # the button's words from an earlier report are no description
    assert s.requested == "description" and "No tengo un texto anterior" in s.text
    b = convo("es")  # the request and its street are no story either
    for said in ("hay un bache en la calle Rozzelles Ferry", "cuadra 2400", "carril", "grande"):
        await b.say(said)
    assert b.requested == "description" and not b.buttons, b.text
    # A story told in answer to one of the service's questions, which it also answers (probe AG): offered too.
    told = "about 2 feet wide in the right lane, cars swerving around it"
    a = convo()
    for said in ("/report_pothole", "1234 Sharon Amity Rd", told):
        await a.say(said)
    assert a.last["slots"]["attributes"]["road_position"] == "lane", a.last["slots"]
    while a.requested not in ("description", None):  # the size, if the story did not answer it
        await a.say("medium")
    assert a.requested == "description" and told in a.text and [b["title"] for b in a.buttons] == ["Use what I wrote"]
    await a.say("Use what I wrote")
    assert a.last["slots"]["description"] == told and a.requested == "photo"


@pytest.mark.parametrize(("lang", "text"), [
    # "poste" is where a streetlight is, not a damaged pole: the flickering was asked for again (probe AJ)
    ("es", "el poste de luz esta parpadeando en 900 Tuckaseegee Rd"),
    ("en", "the light on the pole at 900 Tuckaseegee Rd keeps flickering"),
])
async def test_a_flickering_light_on_its_pole_is_flickering(convo, lang: str, text: str) -> None:
    c = convo(lang)
    await c.say(text)
    assert c.last["label"] == "report_streetlight", c.last["intent_ranking"]
    assert c.attributes.get("light_problem") == "flickering", c.attributes


@pytest.mark.parametrize(("lang", "text", "label", "expected"), [
    # what the hole did to the car is not how big it is
    ("en", "a pothole on Tryon St just popped my tire", "report_pothole", {"size": None}),
    ("es", "un bache en la calle Tryon me ponchó la llanta", "report_pothole", {"size": None}),
    # a resident who names "my / the landlord" is the tenant
    ("en", "my landlord won't fix the heat in my apartment", "report_housing_code", {"occupant": "tenant"}),
    ("es", "mi casero no quiere arreglar la calefacción", "report_housing_code", {"occupant": "tenant"}),
    ("en", "the ceiling is leaking and the landlord does nothing", "report_housing_code", {"occupant": "tenant"}),
    # "next week" is when, not how many items
    ("en", "can the city pick up my old couch and a table next week", "report_bulky_pickup", {"item_count": None}),
])
async def test_first_message_words_that_answer_nothing_are_not_taken(convo, lang: str, text: str, label: str,
                                                                     expected: dict[str, str | None]) -> None:
    c = convo(lang)
    await c.say(text)
    assert c.last["label"] == label, c.last["intent_ranking"]
    assert {k: c.attributes.get(k) for k in expected} == expected, c.attributes


async def test_a_parking_ticket_is_a_question_not_a_status_check(convo) -> None:
    """Rasa learned "can you check my ticket" as a status check; a citation is a knowledge-base question."""
    for text in ("how do i contest a parking ticket", "i want to appeal my parking ticket"):
        c = convo()
        await c.say(text)
        assert c.last["label"] == "faq/parking" and c.requested is None, (text, c.last["intent_ranking"])
    c = convo("es")
    await c.say("como saco un reporte de policia")  # a police report is not a 311 request either
    assert c.last["label"] == "faq/police_reports" and c.requested is None, c.last["intent_ranking"]
    c = convo()
    await c.say("can you check my ticket")
    assert c.last["label"] == "check_request_status"


async def test_a_complaint_to_make_is_a_question_not_a_status_check(convo) -> None:
    """"I want to complain about the trash service on my street" was asked for its request number (probe R)."""
    c = convo()
    await c.say("I want to complain about the trash service on my street.")
    assert c.last["label"] != "check_request_status", c.last["intent_ranking"]
    assert "311-feedback" in str(c.buttons), c.text  # the article answered, or offered in the menu
    c = convo()
    await c.say("I complained about the noise on my street last week, any update?")  # one made before: a status
    assert c.last["label"] == "check_request_status", c.last["intent_ranking"]


async def test_a_question_that_asks_for_a_person_is_a_handoff(convo) -> None:
    """"I got charged twice on my water bill, want to talk to someone" got a "Did you mean…" menu."""
    c = convo()
    await c.say("my water bill doubled this month and i want to talk to someone about it")
    assert c.last["label"] == "request_human", c.last["intent_ranking"]
    # a report that asks for a person started the report's form (probe R)
    for text, lang in (("Hay un árbol caído en la banqueta, quiero hablar con una persona", "es"),
                       ("there's a huge pothole on my street and I'd like to speak to a real person", "en")):
        c = convo(lang)
        await c.say(text)
        assert c.last["label"] == "request_human" and c.last["active_loop"] is None, (text, c.last["intent_ranking"])


async def test_a_greeting_needs_a_greeting_word(convo) -> None:
    """"low water pressure all morning" came out as a greeting and got "Hi! How can I help?"."""
    c = convo()
    await c.say("low water pressure all morning")
    assert c.last["label"] == "faq/water_service", c.last["intent_ranking"]
    for text, lang in (("hey!", "en"), ("good morning to you", "en"), ("hola buenas", "es"), ("buenos días", "es"),
                       ("hello there, how are you?", "en"), ("hola, necesito ayuda", "es"),
                       ("good morning, hope all is well", "en"), ("hola, espero que esté muy bien", "es")):
        c = convo(lang)
        await c.say(text)
        assert c.last["label"] == "greet", (text, c.last["intent_ranking"])


async def test_a_greeting_that_goes_on_to_ask_is_answered(convo) -> None:
    """"hi what day is trash pickup" got only "Hi! I'm the city's 311 assistant…": the question was lost."""
    for text, lang in (("hi what day is trash pickup", "en"), ("hola, que dia pasa la basura?", "es")):
        c = convo(lang)
        await c.say(text)
        assert c.last["label"] == "faq/trash_schedule", (text, c.last["intent_ranking"], c.text)


async def test_a_no_that_says_something_is_missing_is_not_a_plain_no(convo) -> None:
    """"no tengo luz" (no power) was a `deny`, answered "Está bien, no hay problema"."""
    c = convo("es")
    await c.say("no tengo luz")
    assert c.last["label"] == "faq/power_outage" and "Duke Energy" in c.text, c.last["intent_ranking"]
    for lang, text in (("en", "still no water"), ("es", "todavía no hay agua en la casa")):  # probe V
        c = convo(lang)
        await c.say(text)
        assert c.last["label"] not in ("deny", "nlu_fallback") and "no problem" not in c.text.lower() \
            and "no hay problema" not in c.text.lower(), (text, c.text, c.last["intent_ranking"])
    c = convo("es")
    await c.say("no era eso. es que no sé qué hacer con el agua de la lluvia que se mete a mi casa")
    assert c.last["label"] != "deny", c.last["intent_ranking"]  # a new question after the no
    for text in ("no, that's all", "no gracias", "no tengo más preguntas", "no, no hay problema"):
        c = convo()
        await c.say(text)
        assert c.last["label"] == "deny", (text, c.last["intent_ranking"])


async def test_a_pothole_the_size_of_a_tire_is_medium(convo) -> None:
    c = convo()
    await c.say("/report_pothole")
    await c.say("1234 Sharon Amity Rd")
    await c.say("travel lane")
    assert c.requested == "size"
    await c.say("about the size of a tire")
    assert c.attributes.get("size") == "medium" and c.requested == "description"


async def test_summary_change_something_and_cancel(convo) -> None:
    c = convo("es")
    await c.say("/report_graffiti")
    for answer in ("500 W Trade St", "Puente", "omitir", "pintas en el puente", "omitir", "omitir"):
        await c.say(answer)
    assert c.requested == "confirm" and "Este es su reporte" in c.text
    assert [b["title"] for b in c.buttons] == ["Enviar", "Cambiar algo", "Descartar reporte"]
    await c.say("Cambiar algo")
    assert c.requested == "change" and "Superficie" in [b["title"] for b in c.buttons]
    await c.say(next(b["payload"] for b in c.buttons if b["title"] == "Superficie"))
    assert c.requested == "surface" and "surface" not in c.attributes
    await c.say("Letrero")
    assert c.requested == "confirm" and "Superficie: Letrero" in c.text  # straight back to the summary
    await c.say("en realidad es en 600 E 4th St")
    assert c.last["slots"]["location"] == "600 E 4th St" and c.requested == "confirm"
    await c.say("Cancelar")
    assert "cancelé" in c.text and not c.customs("form_complete") and c.last["active_loop"] is None
    assert "attributes" not in c.last["slots"]


async def test_invalid_values_are_reprompted(convo) -> None:
    c = convo()
    await c.say("/report_missed_pickup")
    await c.say("idk")
    assert c.requested == "location" and "need a location" in c.text
    await c.say("banana")
    assert c.requested == "location" and "couldn't recognize" in c.text
    await c.say("35.2271, -80.8431")
    assert c.last["slots"]["location"] == "35.227100,-80.843100"
    assert c.requested == "cart_type"
    await c.say("my cat")
    assert c.requested == "cart_type" and "Garbage, Recycling, Yard waste, Bulky item" in c.text
    await c.say("skip")  # a required choice: why it cannot be skipped, and the way out
    assert c.requested == "cart_type" and "needed to file the report" in c.text and "never mind" in c.text
    await c.say("garbage and recycling")
    assert c.attributes["cart_type"] == ["garbage", "recycling"]
    await c.say("maybe")
    assert c.requested == "cart_at_curb_by_7am" and "didn't catch" in c.text
    await c.say("yes it was")
    await c.say("both carts still full at the curb")
    await c.say("skip")  # no photo
    await c.say("Sam")
    await c.say("12345")
    assert c.requested == "phone" and "10 digits" in c.text
    await c.say("skip")
    assert c.requested == "email"
    await c.say("sam at example")
    assert c.requested == "email" and "doesn't look right" in c.text
    await c.say("no")
    assert c.requested == "confirm"
    await c.say("change the address")  # names a field but no new value: asked again, then the summary
    assert c.requested == "location"
    await c.say("35.2271, -80.8431")
    assert c.requested == "confirm"
    await c.say("yes")
    [done] = c.customs("form_complete")
    assert done["data"] == {"lat": 35.2271, "long": -80.8431, "description": "both carts still full at the curb",
                            "attributes": {"cart_type": ["garbage", "recycling"], "cart_at_curb_by_7am": "yes"},
                            "first_name": "Sam"}


async def test_abandoned_vehicle_plate_and_days_validation(convo) -> None:
    c = convo()
    await c.say("/report_abandoned_vehicle")
    await c.say("Beatties Ford Rd and LaSalle St")
    assert c.requested == "plate"
    await c.say("it's a car")
    assert c.requested == "plate" and "license plate" in c.text
    await c.say("NC plate ABC-1234")
    assert c.attributes["plate"] == "ABC1234" and c.requested == "days_parked"
    await c.say("a long time")
    assert c.requested == "days_parked" and "number of days" in c.text
    await c.say("about two weeks")
    assert c.attributes["days_parked"] == 14
    await c.say("white Honda Civic with a flat tire")
    await c.say("hasn't moved since the 3rd, windows broken")
    await c.say("skip")
    await c.say("skip")
    await c.say("Submit")
    [done] = c.customs("form_complete")
    assert done["data"]["attributes"] == {"plate": "ABC1234", "days_parked": 14,
                                          "vehicle_description": "white Honda Civic with a flat tire"}
    assert "first_name" not in done["data"] and "phone" not in done["data"]


async def test_cancel_leaves_the_form_cleanly(convo) -> None:
    c = convo()
    await c.say("/report_streetlight")
    await c.say("801 E 4th St")
    assert c.requested == "light_problem"
    await c.say("cancel")
    assert "cancelled" in c.text and not c.customs("form_complete")
    assert c.last["active_loop"] is None
    assert "location" not in c.last["slots"] and "requested_slot" not in c.last["slots"]
    await c.say("/greet")
    assert c.last["active_loop"] is None and "311" in c.text


async def test_cancel_in_spanish(convo) -> None:
    c = convo("es")
    await c.say("/report_graffiti")
    await c.say("cancelar")
    assert "cancelé" in c.text and c.last["active_loop"] is None


@pytest.mark.parametrize(("lang", "said", "where"), [
    ("en", "oops the address is wrong, it's 5650 Monroe Rd", "5650 Monroe Rd"),
    ("es", "perdón, la dirección está mal, es 5650 Monroe Rd", "5650 Monroe Rd")])
async def test_saying_what_is_wrong_corrects_it(convo, lang: str, said: str, where: str) -> None:
    """It was refused as an answer to the size question and the report was filed at the old address (probe N)."""
    c = convo(lang)
    await c.say_all("/report_pothole", "5600 Monroe Rd")
    asked = c.requested
    await c.say(said)
    assert c.last["slots"]["location"] == where and c.requested == asked, c.text
    w = convo()
    await w.say_all("/report_pothole", "5600 Monroe Rd", "the address was wrong")
    assert w.requested == "location" and "location" not in w.last["slots"], w.text


@pytest.mark.parametrize("said", ["my name is John Carter, 704-555-1212", "John Carter 704-555-1212"])
async def test_a_name_given_with_a_phone_number_is_both(convo, said: str) -> None:
    """Asked for a name, "my name is John Carter, 704-555-1212" was refused (probe N)."""
    c = convo()
    await c.say_all("/report_pothole", "1401 Elizabeth Ave", "travel lane", "large", "deep hole", "skip")
    assert c.requested == "contact_name"
    await c.say(said)
    slots = c.last["slots"]
    assert slots["contact_name"] == "John Carter" and slots["phone"] == "704-555-1212", c.text
    assert c.requested not in ("contact_name", "phone")


async def test_correction_with_a_value_and_without(convo) -> None:
    c = convo()
    await c.say("/report_pothole")
    await c.say("1234 Sharon Amity Rd")
    assert c.requested == "road_position"
    await c.say("actually it's on 5th street")
    assert c.last["slots"]["location"] == "5th street" and "Updated" in c.text
    assert c.requested == "road_position"  # the question we were on is asked again
    await c.say("shoulder")
    assert c.requested == "size"
    await c.say("change the address")
    assert c.requested == "location" and "location" not in c.last["slots"]
    await c.say("600 E 4th St")
    assert c.last["slots"]["location"] == "600 E 4th St"
    assert c.attributes["road_position"] == "shoulder" and c.requested == "size"
    await c.say("wait, i meant it's in the crosswalk")
    assert c.attributes["road_position"] == "crosswalk" and c.requested == "size"


async def test_an_apology_before_the_address_in_spanish_is_not_taken_for_a_correction(convo) -> None:
    """Probe AG: "perdón" opened the message, so it was read as a correction; the school in it matched a property
    value ("Actualizado: Propiedad pública") and the address was lost."""
    c = convo()
    await c.say("I want to report graffiti")
    assert c.requested == "location", c.text
    await c.say("perdón, no hablo bien inglés. Está en la pared de la escuela en 1500 Central Ave")
    assert c.last["slots"]["location"] == "1500 Central Ave", (c.last["slots"], c.text)
    assert c.requested != "location" and "Propiedad pública" not in c.text, c.text


@pytest.mark.parametrize(("lang", "start", "asked"), [
    ("en", "/report_bulky_pickup", "Where should the items be picked up?"),
    ("es", "/report_bulky_pickup", "¿Dónde hay que recoger los artículos?"),
    ("en", "/report_noise", "Where is the noise coming from?")])
async def test_a_service_that_is_not_a_problem_asks_where_in_its_own_words(convo, lang: str, start: str,
                                                                          asked: str) -> None:
    """Probe AG: a bulky pickup was asked "Where is the problem (bulky item pickup)?"."""
    c = convo(lang)
    await c.say(start)
    assert c.requested == "location" and asked in c.text, c.text
    assert "problem" not in c.text and "problema" not in c.text, c.text


async def test_emergency_mid_form_answers_911_and_resumes(convo) -> None:
    c = convo()
    await c.say("/report_graffiti")
    await c.say("500 W Trade St")
    assert c.requested == "surface"
    await c.say("/emergency")
    assert "911" in c.text
    assert c.customs("emergency") == [{"event": "emergency", "language": "en"}]
    assert c.last["active_loop"] == "report_form" and c.requested == "surface"
    assert "What is the graffiti on?" in c.text  # the form resumes with the same question
    await c.say("bridge")
    assert c.requested == "offensive" and c.last["slots"]["location"] == "500 W Trade St"


async def test_emergency_text_is_recognised_in_both_languages(convo) -> None:
    c = convo()
    await c.say("my neighbor's house is on fire and there's smoke everywhere")
    assert c.last["label"] == "emergency" and "911" in c.text and c.customs("emergency")
    e = convo("es")
    await e.say("hay un incendio en la casa de al lado")
    assert e.last["label"] == "emergency" and "llame al 911" in e.text
    assert e.customs("emergency") == [{"event": "emergency", "language": "es"}]


async def test_spanish_report_flow(convo) -> None:
    c = convo("es")
    await c.say("quiero reportar un bache")
    assert c.last["label"] == "report_pothole" and c.last["language"] == "es"
    assert "¿Dónde está el problema" in c.text
    await c.say("1500 Independence Blvd")
    assert c.buttons[0]["title"] == "Carril de circulación"
    await c.say("en la ciclovía")
    assert c.attributes["road_position"] == "bike_lane"
    await c.say("enorme")
    assert c.attributes["size"] == "large"
    await c.say("un hoyo muy profundo junto a la banqueta")
    assert "omitir" in c.text and "foto" in c.text and "página pública" in c.text
    await c.say("omitir")
    await c.say("omitir")
    assert "Este es su reporte" in c.text and "Tamaño: Grande" in c.text
    await c.say("sí, mándalo")  # typed instead of the button
    [done] = c.customs("form_complete")
    assert done["language"] == "es" and done["data"]["attributes"] == {"road_position": "bike_lane",
                                                                         "size": "large"}
    assert "antes de enviarlo" in c.text


async def test_language_follows_metadata_each_turn(convo) -> None:
    c = convo()
    await c.say("/greet")
    assert c.last["language"] == "en" and "Hi!" in c.text
    await c.say("/greet", lang="es")
    assert c.last["language"] == "es" and "¡Hola!" in c.text


async def test_request_human_escalates_with_last_meaningful_label(convo) -> None:
    c = convo()
    await c.say("how do i pay my water bill")
    label = c.last["label"]
    assert label == "faq/utility_bill" and "https://www.charlottenc.gov/Water" in c.text
    await c.say("thanks")
    await c.say("I want to talk to a real person")
    assert c.last["label"] == "request_human"
    assert c.customs("escalate") == [{"event": "escalate", "reason": "request_human", "label": label,
                                      "language": "en"}]
    assert "connect you with a 311 agent" in c.text


async def test_request_human_mid_form_hands_every_collected_value_to_the_agent(convo) -> None:
    c = convo("es")
    await c.say("hay una fuga de agua a chorros en 1200 Central Ave")
    assert c.last["label"] == "report_water_leak"
    await c.say("Hidrante")
    await c.say("/request_human")
    [esc] = c.customs("escalate")
    assert esc["reason"] == "request_human" and esc["label"] == "report_water_leak" and esc["language"] == "es"
    assert esc["form"] == {"label": "report_water_leak", "service_code": "WATER_LEAK", "data": {
        "address_string": "1200 Central Ave", "attributes": {"leak_location": "hydrant", "severity": "gushing"}}}
    assert "agente del 311" in c.text
    # the form is left, the answers are not wiped (chat_server stores these slots for the agent)
    assert c.last["active_loop"] is None and c.last["slots"]["location"] == "1200 Central Ave"
    assert c.attributes == {"severity": "gushing", "leak_location": "hydrant"}


async def test_a_real_request_for_a_person_phrased_as_a_correction_still_escalates(convo) -> None:
    c = convo()
    await c.say("/report_pothole")
    await c.say("1234 Sharon Amity Rd")
    await c.say("actually, can I talk to a real person instead")
    assert c.customs("escalate") and c.last["active_loop"] is None


# Out-of-scope questions in neither the training data nor the held-out file.
UNSEEN_OUT_OF_SCOPE = [
    ("what's the tallest building in the world", "en"), ("can you order me a burrito", "en"),
    ("who wrote don quixote", "en"), ("how do i get better at chess", "en"),
    ("is it safe to eat raw cookie dough", "en"),
    ("quién escribió don quijote", "es"), ("cuánto cuesta un iphone nuevo", "es"),
    ("cuál es la mejor marca de refrigeradores", "es"), ("cómo aprendo a tocar guitarra", "es"),
    ("qué película ganó el oscar este año", "es"),
]


async def test_unseen_out_of_scope_questions_resolve_to_nlu_fallback(convo) -> None:
    """A rate, like the held-out fallback recall (target ≥ 0.90): single sentences may miss
    (bot/README.md lists known misses), a model that stops generalising fails."""
    missed = []
    for text, lang in UNSEEN_OUT_OF_SCOPE:
        c = convo(lang)
        await c.say(text)
        if c.last["label"] != "nlu_fallback":
            missed.append((text, c.last["intent_ranking"][:1]))
        else:
            assert c.buttons  # the fallback answer offers ways forward
    assert len(missed) <= 2, missed


async def test_two_fallbacks_in_a_row_escalate(convo) -> None:
    c = convo()
    await c.say("/report_fallen_tree")
    await c.say("stop")
    await c.say("/nlu_fallback")
    assert not c.customs("escalate") and "rephrase" in c.text and c.buttons
    await c.say("/nlu_fallback")
    assert c.customs("escalate") == [{"event": "escalate", "reason": "repeated_fallback",
                                      "label": "report_fallen_tree", "language": "en"}]


async def test_fallbacks_separated_by_a_real_message_do_not_escalate(convo) -> None:
    c = convo()
    await c.say("/nlu_fallback")
    await c.say("/greet")
    await c.say("/nlu_fallback")
    assert not c.customs("escalate")


async def test_status_lookup_with_id_in_message(convo) -> None:
    c = convo()
    await c.say("what's the status of 311-1234567?")
    assert c.last["label"] == "check_request_status"
    assert c.customs() == [{"event": "status_lookup", "ticket_id": "311-1234567", "language": "en"}]
    assert not c.texts and c.last["active_loop"] is None and "ticket_id" not in c.last["slots"]


@pytest.mark.parametrize(("lang", "text"), [
    ("en", "when will it be fixed?"), ("en", "any update?"), ("en", "ok so when are they coming out to fix it"),
    ("en", "when will the pothole be fixed"),
    ("es", "¿cuándo lo van a arreglar?"), ("es", "hay alguna novedad?"), ("es", "¿para cuándo estará listo?"),
    ("es", "¿cuánto tardan?"), ("en", "what's the status?"), ("es", "¿ya lo arreglaron?"),
    ("es", "¿cuál es el estado?")])
async def test_when_will_it_be_done_asks_about_the_conversations_request(convo, lang: str, text: str) -> None:
    c = convo(lang)
    await c.say(text, ticket_id="311-1000042")  # the server sends the number of the request this chat filed
    assert c.last["label"] == "check_request_status", c.last["intent_ranking"]
    assert c.customs("status_lookup") == [{"event": "status_lookup", "ticket_id": "311-1000042", "language": lang}]


@pytest.mark.parametrize(("lang", "text"), [
    ("en", "was my graffiti report ever taken care of"), ("en", "still waiting on the streetlight we reported in may"),
    ("en", "i called about the abandoned car weeks ago, is it getting towed"),
    ("es", "ya quitaron el grafiti que reporte?"), ("es", "reporte un bache hace un mes y nada, que paso")])
async def test_asking_about_something_reported_before_is_a_status_check_not_a_new_report(
        convo, lang: str, text: str) -> None:
    """The problem's own words made Rasa start a new report of it (a tester's 8 of 14 such questions)."""
    c = convo(lang)
    await c.say(text)
    assert c.last["label"] == "check_request_status", c.last["intent_ranking"]
    assert c.last["active_loop"] == "status_form" and "311-" in c.text
    n = convo()  # a new problem, though the resident has reported before
    await n.say("I reported a pothole last week and now there is another one on Elm St")
    assert n.last["label"] != "check_request_status" and n.last["active_loop"] != "status_form", n.text


@pytest.mark.parametrize(("lang", "start", "switch", "label"), [
    ("en", "pothole at 1401 Elizabeth Ave", "actually it's a streetlight that's out, not a pothole",
     "report_streetlight"),
    ("es", "hay un bache en 1401 Elizabeth Ave",
     "perdón, en realidad es una lámpara de la calle apagada, no es un bache", "report_streetlight")])
async def test_a_report_switched_mid_form_becomes_the_other_service_and_keeps_the_place(
        convo, lang: str, start: str, switch: str, label: str) -> None:
    """The pothole form went on and filed "streetlight that's out, not a pothole" as its description (probe N)."""
    c = convo(lang)
    await c.say(start)
    assert c.last["slots"]["service"] == "report_pothole" and c.requested not in (None, "location")
    await c.say(switch)
    assert c.last["slots"]["service"] == label and c.last["active_loop"] == "report_form", c.text
    assert c.last["slots"]["location"] == "1401 Elizabeth Ave" and c.requested != "location", c.text
    assert "description" not in c.last["slots"] or not c.last["slots"]["description"]


@pytest.mark.parametrize(("lang", "answer", "said"), [("en", "no", "Crews can pass as early as 7 a.m."),
                                                     ("es", "no", "pueden pasar desde las 7 a.m.")])
async def test_a_choice_with_a_note_says_what_it_means_and_the_form_goes_on(
        convo, lang: str, answer: str, said: str) -> None:
    """"No, the cart wasn't out by 7 a.m." was taken without a word about why that matters (the catalogue's note)."""
    c = convo(lang)
    await c.say_all("/report_missed_pickup", "4521 Sharon Road", "trash" if lang == "en" else "basura")
    assert c.requested == "cart_at_curb_by_7am", c.text
    await c.say(answer)
    assert said in c.text and c.requested not in (None, "cart_at_curb_by_7am"), c.text
    y = convo(lang)
    await y.say_all("/report_missed_pickup", "4521 Sharon Road", "trash" if lang == "en" else "basura",
                    "yes" if lang == "en" else "sí")
    assert said not in y.text and y.requested != "cart_at_curb_by_7am", y.text


async def test_an_exact_address_typed_at_a_choice_updates_the_location(convo) -> None:
    """A vague first location, then "1200 North Tryon Street" at "where in the road?": "Sorry, I didn't catch that"."""
    c = convo()
    await c.say_all("/report_pothole", "enfrente de mi casa en la calle Tryon")
    assert c.requested == "road_position", c.text
    await c.say("1200 North Tryon Street")
    assert c.requested == "road_position" and "Updated: 1200 North Tryon Street" in c.text, c.text
    assert c.last["slots"]["location"] == "1200 North Tryon Street"


@pytest.mark.parametrize("text", ["how long will it take?", "do they take mattresses?",
                                  "hasta que hora atienden por telefono"])
async def test_a_question_is_not_taken_for_a_goodbye(convo, text: str) -> None:
    """"take care" and "hasta luego" are goodbyes, so these were: "Goodbye, and thanks for contacting 311!"
    (probes N and O; an unaccented "hasta que hora" opens a question all the same)."""
    c = convo()
    await c.say(text)
    assert c.last["label"] != "goodbye" and "Goodbye" not in c.text, (c.last["intent_ranking"], c.text)
    bye = convo()
    await bye.say("ok thanks, bye")
    assert bye.last["label"] == "goodbye" and "Goodbye" in bye.text


async def test_a_question_after_a_thank_you_is_answered(convo) -> None:
    """"Thanks. One more: can I put a broken mirror in the trash?" got "You're welcome!" and the question was lost
    (probe R); a thank-you with nothing asked after it is still one."""
    c = convo()
    await c.say("Thanks. One more: how do I pay my water bill online?")
    assert c.last["label"] != "thank" and "welcome" not in c.text.lower(), (c.last["intent_ranking"], c.text)
    assert c.last["label"] == "faq/utility_bill", (c.last["label"], c.text)
    thanks = convo()
    await thanks.say("Thank you so much. Have a great day.")
    assert thanks.last["label"] == "thank", (thanks.last["intent_ranking"], thanks.text)


@pytest.mark.parametrize(("lang", "text"), [("en", "that's all"), ("en", "i'm all set"),
                                            ("en", "that's all for today, bye"),  # goodbye twice: a "tie"
                                            ("es", "eso es todo"), ("es", "eso sería todo"),
                                            ("es", "eso es todo por hoy, adiós"),
                                            # Rasa read a yes: "ok" and "bueno" (probe of the dev file)
                                            ("es", "ok ya quedé, que le vaya bien"), ("es", "bueno, que le vaya bien"),
                                            ("es", "ya quedé")])
async def test_a_message_that_only_signs_off_is_a_goodbye(convo, lang: str, text: str) -> None:
    """"that's all" and "eso es todo" got "Sorry, I didn't understand…" (goodbye 0.40, under the threshold)."""
    c = convo(lang)
    await c.say(text)
    assert c.last["label"] == "goodbye", (c.last["intent_ranking"], c.text)


async def test_a_gas_station_as_a_landmark_is_a_description_not_an_emergency(convo) -> None:
    c = convo()
    for said in ("I want to report a pothole", "1200 Beatties Ford Road", "travel lane", "large"):
        await c.say(said)
    assert c.requested == "description"
    await c.say("it's right by the gas station")
    assert c.requested == "photo" and c.last["slots"]["description"] == "it's right by the gas station", c.text
    e = convo()
    await e.say("the gas station is on fire")  # an emergency stays one
    assert e.last["label"] == "emergency" and "911" in e.text
    # Rasa's next guess stands once the emergency is ruled out (it fell back: emergency 0.51, pothole 0.43; probe O)
    p = convo()
    await p.say("there's a huge pothole on Sharon Amity near the gas station")
    assert p.last["label"] == "report_pothole" and p.requested is not None, (p.last["intent_ranking"], p.text)


@pytest.mark.parametrize(("lang", "text"), [
    ("en", "i missed my court date for a speeding ticket"),
    ("es", "se me pasó la fecha de mi audiencia en el tribunal por exceso de velocidad")])
async def test_a_court_date_is_a_question_not_a_report(convo, lang: str, text: str) -> None:
    c = convo(lang)
    await c.say(text)
    assert not str(c.last["label"]).startswith("report_") and c.last["active_loop"] is None, c.last["intent_ranking"]
    assert "court" in c.text.lower() or "tribunal" in c.text.lower() or "juzgado" in c.text.lower(), c.text


async def test_a_schedule_question_in_a_chat_with_a_request_is_not_a_status_check(convo) -> None:
    c = convo()
    await c.say("when will my trash be picked up this week?", ticket_id="311-1000042")
    assert c.last["label"] != "check_request_status" and not c.customs("status_lookup")


async def test_status_lookup_asks_for_the_id(convo) -> None:
    c = convo("es")
    await c.say("/check_request_status")
    assert "311-" in c.text and c.last["active_loop"] == "status_form"
    await c.say("es el de la semana pasada")
    assert "No encontré" in c.text and c.last["active_loop"] == "status_form"
    await c.say("es el 311-7654321")
    assert c.customs("status_lookup") == [{"event": "status_lookup", "ticket_id": "311-7654321",
                                           "language": "es"}]
    assert c.last["active_loop"] is None
    c = convo()  # the digits alone, as residents copy them from the confirmation
    await c.say("/check_request_status")
    await c.say("1000023")
    assert c.customs("status_lookup") == [{"event": "status_lookup", "ticket_id": "311-1000023", "language": "en"}]


@pytest.mark.parametrize(("lang", "answers"), [
    ("en", ["I don't have the number"]),
    ("es", ["no lo tengo, se me perdió"]),
    ("en", ["the one from last week", "the pothole one"]),  # a second answer without a number
])
async def test_a_resident_without_a_request_number_is_told_where_it_is_not_asked_again(
        convo, lang: str, answers: list[str]) -> None:
    """"I don't have the number" was "I couldn't find a request number in that…" again and again (probe N)."""
    c = convo(lang)
    await c.say("/check_request_status")
    for answer in answers:
        await c.say(answer)
    assert c.last["active_loop"] is None and not c.customs("status_lookup"), c.text
    assert "311-" in c.text and [b["payload"] for b in c.buttons] == ["/request_human"], c.text
    assert ("agent" if lang == "en" else "agente") in c.text


async def test_faq_answer_in_the_residents_language(convo) -> None:
    c = convo("es")
    await c.say("qué día pasa la basura en mi calle")
    assert c.last["label"] == "faq/trash_schedule" and c.last["language"] == "es"
    assert "La basura se recoge una vez por semana" in c.text and "¿Le sirvió" in c.text
    e = convo()
    await e.say("when is garbage pickup on my street")
    assert e.last["label"] == "faq/trash_schedule" and "Garbage is collected once a week" in e.text


async def test_shared_location_payload_fills_the_location(convo) -> None:
    c = convo()
    await c.say("/report_illegal_dumping")
    await c.say('/share_location{"lat": 35.2, "long": -80.8}')
    assert c.last["slots"]["location"] == "35.200000,-80.800000" and c.requested == "material"
    await c.say('/share_location{"lat": 135.2, "long": -80.8}')  # out of range while on another question
    assert c.requested == "material"
    await c.say("tires and an old couch")
    assert c.attributes["material"] == ["tires", "furniture"]


async def test_location_shared_before_the_report_is_used_and_not_by_the_next_report(convo) -> None:
    """The widget's 📍 first, then "a pothole": the form does not ask where again; a later report does."""
    c = convo()
    await c.say('/share_location{"lat": 35.2271, "long": -80.8431}')
    await c.say("/report_pothole")
    assert c.last["active_loop"] == "report_form" and c.last["slots"].get("location") == "35.227100,-80.843100", c.last
    assert c.requested == "road_position" and "the location you shared (📍 35.22710, -80.84310)" in c.text
    await c.say("cancel")
    assert c.last["active_loop"] is None
    await c.say("/report_pothole")
    assert c.requested == "location" and c.last["slots"].get("location") is None


async def test_a_photo_sent_just_before_the_report_is_its_photo_but_not_one_sent_with_a_question(convo) -> None:
    """A bare photo, then "a pothole": the form keeps it and says so (it will be public). A photo sent with a
    question of its own ("how do I pay this parking ticket?") is about that, not the next report."""
    c = convo()
    await c.say("(photo)", media_url="http://localhost:8080/media/bare.jpg")
    await c.say("/report_pothole")
    assert c.last["slots"].get("photo") == "http://localhost:8080/media/bare.jpg" and "the photo you sent" in c.text
    q = convo()
    await q.say("how do i pay this parking ticket? pic attached", media_url="http://localhost:8080/media/ticket.jpg")
    await q.say("/report_pothole")
    assert q.last["active_loop"] == "report_form" and q.last["slots"].get("photo") is None, q.last["slots"]


async def test_by_text_no_button_is_mentioned(convo) -> None:
    """SMS and e-mail have no 📍 or 📷 button: the questions said to use them (and the emoji made every SMS
    cost more segments)."""
    for channel in ("sms", "email", "api"):  # an app was told to use "the 📍 button" of a widget it is not (probe R)
        c = convo("en", channel)
        await c.say("/report_pothole")
        assert c.requested == "location" and "Type the street address" in c.text and "📍" not in c.text, c.text
    web = convo()
    await web.say("/report_pothole")
    assert "📍 button" in web.text
    es = convo("es", "sms")
    await es.say("/report_pothole")
    assert "Escriba la dirección" in es.text and "📍" not in es.text
    await es.say("no sé")  # asked again: still no location to share by text
    assert es.requested == "location" and "comparta su ubicación" not in es.text, es.text


async def _at_the_phone_step(c: Any, contact: str, name: str = "Ana Ruiz") -> None:
    """A graffiti report brought to the step after the name, each turn carrying the channel's `contact`."""
    for said in ("/report_graffiti", "500 W Trade St", "Bridge / overpass", "no", "tags all over the overpass",
                 "skip", name):
        await c.say(said, contact=contact)


async def test_by_text_the_form_offers_the_contact_the_resident_writes_from(convo) -> None:
    """By SMS "What phone number can we reach you at?" asked for the number the text came from, and "this
    number" was refused as not a US phone number; by e-mail the address was asked for the same way (probe R)."""
    sms = convo("en", "sms")
    await _at_the_phone_step(sms, "+17045550177")
    assert sms.requested == "phone" and "Can we reach you at 704-555-0177, the number you are texting from?" in sms.text
    assert [(b["title"], b["payload"]) for b in sms.buttons] == [("Yes, this number", "704-555-0177"),
                                                                 ("Skip", "skip")]
    await sms.say("the same number", contact="+17045550177")
    assert sms.requested == "email" and "And your email address" in sms.text  # an SMS has no address to offer
    await sms.say("skip", contact="+17045550177")
    assert sms.requested == "confirm" and "704-555-0177" in sms.text, sms.text

    other = convo("es", "sms")
    await _at_the_phone_step(other, "+17045550178", "Luis Pérez")
    assert "el número desde el que escribe" in other.text, other.text
    await other.say("704 555 0199", contact="+17045550178")  # another number typed is that number
    assert other.requested == "email" and other.last["slots"]["phone"] == "704-555-0199"
    again = convo("es", "sms")
    await _at_the_phone_step(again, "+17045550178", "Luis Pérez")
    await again.say("a este mismo número", contact="+17045550178")
    assert again.last["slots"]["phone"] == "704-555-0178", again.text

    mail = convo("en", "email")
    await _at_the_phone_step(mail, "ana.ruiz@example.com")
    assert mail.requested == "phone" and "What phone number can we reach you at?" in mail.text  # none known
    await mail.say("skip", contact="ana.ruiz@example.com")
    assert "Can we write to you at ana.ruiz@example.com, the address you are writing from?" in mail.text
    await mail.say("yes", contact="ana.ruiz@example.com")
    assert mail.requested == "confirm" and "ana.ruiz@example.com" in mail.text, mail.text

    web = convo()  # the widget sends no contact, and a made-up one is not offered on the web
    await _at_the_phone_step(web, "+17045550177")
    assert "What phone number can we reach you at?" in web.text and "texting from" not in web.text


async def test_a_photo_sent_with_another_answer_is_the_reports_photo(convo) -> None:
    """An SMS photo sent with the description was stored, then the form asked "Do you have a photo?" (probe J)."""
    c = convo("en", "sms")
    await c.say("I want to report a streetlight out at 600 E 4th St")
    for _ in range(6):
        if c.requested == "description":
            break
        await c.say("skip" if c.buttons and "Skip" in [b["title"] for b in c.buttons] else c.buttons[0]["payload"]
                    if c.buttons else "skip")
    assert c.requested == "description", c.text
    await c.say("the light has been out a week, photo attached", media_url="http://localhost:8080/media/light.jpg")
    assert c.last["slots"].get("photo") == "http://localhost:8080/media/light.jpg", c.last["slots"]
    assert c.requested != "photo", c.text


async def test_bad_request_is_rejected(rasa_stack: Any) -> None:
    async with aiohttp.ClientSession() as session, session.post(
            f"{rasa_stack.url}/webhooks/chat311/webhook", json={"message": "hi"}) as resp:
        assert resp.status == 400


# --------------------------------------------------------------------------- routing and every service

# Misroutes from issue 16 and one natural first message per new service, in neither training file.
ROUTING = [
    ("the traffic light at my corner is stuck on red", "en", "report_traffic_signal"),
    ("el semáforo no funciona en la esquina", "es", "report_traffic_signal"),
    ("someone parked in front of my driveway", "en", "report_blocked_driveway"),
    ("the streetlight on my block is out", "en", "report_streetlight"),
    ("a car has been abandoned on my street for weeks", "en", "report_abandoned_vehicle"),
    ("somebody dumped a pile of tires behind the church", "en", "report_illegal_dumping"),
    ("the stop sign on our corner got knocked over", "en", "report_sign"),
    ("the storm drain in front of my house is totally blocked", "en", "report_storm_drain"),
    ("a stray dog keeps getting into our yard", "en", "report_stray_animal"),
    ("my upstairs neighbors blast music until 3am", "en", "report_noise"),
    ("please pick up my old mattress and dresser", "en", "report_bulky_pickup"),
    ("hay un perro muerto en la orilla de la calle", "es", "report_dead_animal"),
    ("el drenaje huele horrible en mi cuadra", "es", "report_sewer"),
    ("mi casero no quiere arreglar el moho del baño", "es", "report_housing_code"),
    ("un carro está estacionado bloqueando mi entrada", "es", "report_blocked_driveway"),
]


@pytest.mark.parametrize("text,lang,label", ROUTING)
async def test_natural_first_messages_route_to_their_service(rasa_stack: Any, text: str, lang: str,
                                                             label: str) -> None:
    assert (await parse(rasa_stack, text))["intent"]["name"] == label


async def test_where_is_the_landfill_does_not_start_a_dumping_report(convo) -> None:
    c = convo()
    await c.say("where is the nearest landfill or dump")
    assert c.last["label"] != "report_illegal_dumping" and c.last["active_loop"] is None


def _answer(attr: Any, lang: str) -> str:
    if attr.values:
        return attr.values[0].name(lang)
    if attr.datatype == "number":
        return "3"
    return {"plate": "ABC1234", "vehicle": "white Honda Civic", "pole_number": "CL 40213"}.get(attr.format or "",
                                                                                               "something")


async def _file(c: Conversation, service: Any) -> dict:
    skip = "omitir" if c.lang == "es" else "skip"
    await c.say(f"/{service.label}")
    assert c.last["active_loop"] == "report_form", (service.label, c.text)
    for _ in range(20):
        step = c.requested
        if step == "confirm":
            break
        attr = service.attribute(step)
        if attr is not None:
            assert attr.prompt(c.lang) in c.text, (service.label, c.lang, step, c.text)
            if attr.values:
                assert [b["title"] for b in c.buttons][:len(attr.values)] == [v.name(c.lang) for v in attr.values]
            await c.say(_answer(attr, c.lang))
        else:
            await c.say({"location": "600 E 4th St", "description": "reported by the catalogue test"}.get(step, skip))
        assert c.requested != step, (service.label, c.lang, step, c.text)
    await c.say("Enviar" if c.lang == "es" else "Submit")
    [done] = c.customs("form_complete")
    return done


async def test_every_catalogue_service_can_be_filed_in_english_and_spanish(convo) -> None:
    """Generated over the catalogue: each service's questions are the catalogue's prompts with its values as
    quick replies, and what the bot files passes the same catalogue's Open311 validation."""
    gate = asyncio.Semaphore(6)

    async def one(service: Any, lang: str) -> None:
        async with gate:
            done = await _file(convo(lang), service)
        assert done["label"] == service.label and done["language"] == lang
        attributes = service.validate_attributes(done["data"]["attributes"])  # raises when they disagree
        assert {a.code for a in service.attributes if a.required} <= set(attributes)
        assert done["data"]["address_string"] == "600 E 4th St"

    await asyncio.gather(*(one(s, lang) for s in CATALOGUE.labelled for lang in ("en", "es")))


async def test_a_photo_at_a_choice_an_email_for_the_phone_and_a_greeting_for_the_description(convo) -> None:
    """Probe V: a photo sent at a button question got "Sorry, I didn't catch that" though it was kept; an e-mail
    typed at the phone question was refused and dropped; "hola" was filed as the description."""
    c = convo()
    await c.say_all("I need to report a pothole", "1234 Sharon Amity Rd")
    assert c.requested == "road_position"
    await c.say("(photo)", media_url="http://localhost:8080/media/crater.jpg")
    assert "Got your photo" in c.text and "didn't catch" not in c.text and c.requested == "road_position", c.text
    assert c.last["slots"]["photo"] == "http://localhost:8080/media/crater.jpg"
    await c.say_all(c.buttons[0]["payload"], "skip")
    assert c.requested == "description", c.text
    await c.say("hola")
    assert c.requested == "description" and not c.last["slots"].get("description"), c.text
    await c.say("deep hole in the travel lane")
    assert c.requested == "contact_name", c.text  # the photo was given already
    await c.say("Jane Doe")
    assert c.requested == "phone"
    await c.say("jane.doe@example.com")
    assert c.last["slots"]["email"] == "jane.doe@example.com" and c.requested == "confirm", c.text


async def test_a_message_of_emoji_only_says_what_the_emoji_say(convo) -> None:
    """Probe V: each emoji was `nlu_fallback` ("Sorry, I didn't understand"), and two in a row offered a person."""
    c = convo()
    for said, label in (("👍", "affirm"), ("👍👍", "affirm"), ("🙏🏽", "thank"), ("❤️", "thank"), ("👍 🙏", "thank"),
                        ("👎", "deny")):
        await c.say(said)
        assert c.last["label"] == label, (said, c.last["intent_ranking"], c.text)
        assert c.customs("escalate") == [] and "didn't understand" not in c.text, (said, c.text)
    await c.say("😡")  # says no more than that: still a message the bot did not understand
    assert c.last["label"] == "nlu_fallback", c.last["intent_ranking"]
