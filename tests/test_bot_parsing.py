"""Form-answer parsing and validation (bot/actions/parsing.py): pure functions, no Rasa needed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bot"))

from actions import parsing
from actions.catalogue import CATALOGUE, service_for_label


def attribute(code: str):  # the first service that has it
    return next(a for s in CATALOGUE for a in s.attributes if a.code == code)


@pytest.mark.parametrize("text,expected", [
    ("1234 Sharon Amity Rd", {"location": "1234 Sharon Amity Rd"}),
    ("it's at 600 E. 4th St.", {"location": "600 E. 4th St"}),
    ("Beatties Ford Rd and LaSalle St", {"location": "Beatties Ford Rd and LaSalle St"}),
    ("35.2271, -80.8431", {"location": "35.227100,-80.843100"}),
    ('/share_location{"lat": 35.2, "long": -80.8}', {"location": "35.200000,-80.800000"}),
    ("en la calle Tryon cerca del parque", {"location": "calle Tryon cerca del parque"}),
    ("5th and Tryon", {"location": "5th and Tryon"}),
    ("tryon & 36th", {"location": "tryon & 36th"}),
    ("Tryon y la 5", {"location": "Tryon y la 5"}),
    ("I said 3310 Monroe Rd", {"location": "3310 Monroe Rd"}),
    ("ok called 911. its at 2200 Park Rd", {"location": "2200 Park Rd"}),
    ("ya le dije, 4500 Central Ave junto a la tienda", {"location": "4500 Central Ave junto a la tienda"}),
    ("across from the school, 500 Main St", {"location": "across from the school, 500 Main St"}),
])
def test_valid_locations(text: str, expected: dict) -> None:
    assert parsing.validate_location(text) == (expected, None)


@pytest.mark.parametrize("text,error", [
    ("banana", "location_implausible"), ("", "location_missing"), ("idk", "location_missing"),
    ("the light is completely out", "location_implausible"), ("night and day", "location_implausible"),
    ("it happened on the 5th and again today", "location_implausible"),
    ("135.2, -80.8", "coords_range"), ('/share_location{"lat": 35.2, "long": -280.8}', "coords_range"),
])
def test_invalid_locations(text: str, error: str) -> None:
    assert parsing.validate_location(text) == (None, error)


@pytest.mark.parametrize("text,expected", [
    ("actually i want to talk to a real person", True), ("can I speak with an agent", True),
    ("quiero hablar con alguien", True), ("necesito un agente humano", True),
    ("actually it's on 5th street", False), ("i meant the crosswalk", False), ("cambiar la dirección", False),
])
def test_asks_for_person(text: str, expected: bool) -> None:
    assert parsing.asks_for_person(text) is expected


@pytest.mark.parametrize(("location", "bare"), [
    ("tryon st", True), ("Beatties Ford Rd", True), ("calle Tryon", True), ("park rd", True), ("Church St", True),
    ("1200 Tryon St", False), ("Tryon St and 5th", False), ("Providence Rd near the Harris Teeter", False),
    ("I-77 northbound", False), ("the park on Central Ave", False), ("Tryon y la 5", False),
])
def test_a_street_alone_is_not_a_findable_place(location: str, bare: bool) -> None:
    assert parsing.names_only_a_street(location) is bare


@pytest.mark.parametrize(("answer", "location"), [
    ("600 block", "600 block of Tryon St"), ("the 600 block", "600 block of Tryon St"),
    ("cuadra 600", "600 block of Tryon St"), ("1200", "1200 Tryon St"),
    ("at 5th St", "Tryon St and 5th St"), ("5th st", "Tryon St and 5th st"),
    ("near the library", "Tryon St near the library"), ("cerca de la escuela", "Tryon St cerca de la escuela"),
    ("behind the library", "Tryon St behind the library"), ("outside the school", "Tryon St outside the school"),
    ("between 3rd and 4th", "Tryon St between 3rd and 4th"), ("Tryon and 36th", "Tryon and 36th"),
    ("1500 East Blvd", "1500 East Blvd"), ("skip", "Tryon St"), ("I don't know", "Tryon St"), ("no sé", "Tryon St"),
    ("600 blk", "600 block of Tryon St"), ("in front of 1423", "1423 Tryon St"),
    ("actually its 1500 Central Ave", "1500 Central Ave"), ("x", "Tryon St"),
    ("its out compleetly", "Tryon St"),  # what is wrong, not where: it was filed as "Tryon St and out compleetly"
    ("it's near the library", "Tryon St near the library"),
])
def test_the_block_or_cross_street_completes_the_street(answer: str, location: str) -> None:
    assert parsing.refine_location("Tryon St", answer) == location


@pytest.mark.parametrize(("answer", "location"), [
    ("bloque 400", "cuadra 400 de calle Oak"), ("y 5th", "calle Oak y 5th"),
    ("cerca de la biblioteca", "calle Oak cerca de la biblioteca"), ("frente al 1423", "1423 calle Oak"),
    ("detrás de la iglesia", "calle Oak detrás de la iglesia"),
])
def test_the_block_or_cross_street_in_spanish(answer: str, location: str) -> None:
    assert parsing.refine_location("calle Oak", answer, "es") == location


@pytest.mark.parametrize(("text", "contact"), [
    ("hi this is John Smith, 704-555-1234, there's a pothole", {"contact_name": "John Smith", "phone": "704-555-1234"}),
    ("my name is maria lopez and I want to report a pothole", {"contact_name": "maria lopez"}),
    ("hola soy Pedro, mi numero es 704 555 1234, hay un bache", {"contact_name": "Pedro", "phone": "704-555-1234"}),
    ("me llamo Ana, correo ana@example.com", {"contact_name": "Ana", "email": "ana@example.com"}),
    ("this is a pothole at 5th st", {}), ("I'm calling about a streetlight", {}), ("soy de Charlotte", {}),
    ("status of 311-7045551234", {}), ("1234 Sharon Amity Rd pothole", {}),
])
def test_contact_details_in_a_message(text: str, contact: dict[str, str]) -> None:
    assert parsing.find_contact_in_text(text) == contact


def test_location_fields() -> None:
    assert parsing.location_fields("35.200000,-80.800000") == {"lat": 35.2, "long": -80.8}
    assert parsing.location_fields("1234 Sharon Amity Rd") == {"address_string": "1234 Sharon Amity Rd"}


def test_address_in_a_longer_message() -> None:
    assert parsing.find_address_in_text("huge pothole at 1234 Sharon Amity Rd near Target") == "1234 Sharon Amity Rd"
    assert parsing.find_address_in_text("pothole near the school") is None


@pytest.mark.parametrize("text,expected", [
    ("704-555-0123", "704-555-0123"), ("(704) 555 0123", "704-555-0123"), ("+1 704.555.0123", "704-555-0123"),
    ("my number is 7045550123", "704-555-0123"), ("12345", None), ("call me maybe", None),
    ("555-0123", None), ("104-555-0123", None),
])
def test_phone(text: str, expected: str | None) -> None:
    assert parsing.validate_phone(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("Jane.Doe@Example.com", "jane.doe@example.com"), ("my email is a.b+c@mail.co", "a.b+c@mail.co"),
    ("jane at example dot com", None), ("jane@", None), ("@example.com", None),
])
def test_email(text: str, expected: str | None) -> None:
    assert parsing.validate_email(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("ABC-1234", "ABC1234"), ("NC plate ABC 1234", "ABC1234"), ("the tag is 7XK3", "7XK3"),
    ("unknown", "unknown"), ("no sé", "unknown"), ("it's a car", None), ("white honda civic parked", None),
    # no plate to give, said so (probe AJ: "That doesn't look like a license plate")
    ("it has no plates", "unknown"), ("no tiene placas", "unknown"), ("the tags are missing", "unknown"),
    ("i dont know its covered", "unknown"), ("no plates on it at all", "unknown"), ("I don't know", "unknown"),
])
def test_plate(text: str, expected: str | None) -> None:
    assert parsing.validate_plate(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("4471", "4471"), ("pole number A-12", "A-12"), ("I don't know", "skipped"),
    ("no idea, it's too high up to see", "skipped"), ("no se, esta muy alto", "skipped"), ("it's tall", None),
])
def test_pole_number(text: str, expected: str | None) -> None:
    assert parsing.validate_pole_number(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("3", 3), ("about 10 days", 10), ("two weeks", 14), ("a month", 30), ("dos semanas", 14),
    ("since yesterday", 1), ("a long time", None), ("99999", None),
    ("hay una troca abandonada hace semanas", None), ("varias semanas", 28), ("una semana", 7),
    ("una ford f150 roja", None), ("3days", None),
])
def test_days(text: str, expected: int | None) -> None:
    assert parsing.validate_number(text) == expected


def test_a_number_outside_the_catalogue_bounds_is_asked_again() -> None:
    items = attribute("item_count")
    assert parsing.validate_attribute(items, "0") == (None, False)
    assert parsing.validate_attribute(items, "about 3") == (3, True)


def test_enum_and_multi_values_in_both_languages() -> None:
    position, carts, material = attribute("road_position"), attribute("cart_type"), attribute("material")
    assert position and carts and material
    assert parsing.validate_attribute(position, "Bike lane") == ("bike_lane", True)
    assert parsing.validate_attribute(position, "en la ciclovía") == ("bike_lane", True)
    assert parsing.validate_attribute(position, "Carril de circulación") == ("lane", True)
    assert parsing.validate_attribute(position, "purple") == (None, False)
    assert parsing.validate_attribute(carts, "garbage and recycling") == (["garbage", "recycling"], True)
    assert parsing.validate_attribute(carts, "basura y desechos de jardín") == (["garbage", "yard_waste"], True)
    # what an SMS "1, 2" to the numbered list becomes (channels/text_shaping.pick_option)
    assert parsing.validate_attribute(carts, "Garbage, Recycling") == (["garbage", "recycling"], True)
    assert parsing.validate_attribute(material, "tires, a couch and paint cans") == (
        ["tires", "furniture", "hazardous"], True)
    offensive = attribute("offensive")
    assert offensive
    assert parsing.validate_attribute(offensive, "yes it is") == ("yes", True)
    assert parsing.validate_attribute(offensive, "no, it's not") == ("no", True)
    assert parsing.validate_attribute(offensive, "Sí") == ("yes", True)


def test_every_button_title_parses_back_to_its_value() -> None:
    for service in CATALOGUE:
        for attr in service.attributes:
            for value in attr.values:
                for title in value.names.values():
                    parsed, ok = parsing.validate_attribute(attr, title)
                    expected = [value.key] if attr.datatype == "multivaluelist" else value.key
                    assert ok and parsed == expected, (service.service_code, attr.code, title, parsed)


@pytest.mark.parametrize("text,expected", [
    ("there is a big pothole on tryon street", "tryon street"),
    ("huge pothole in the bike lane at 1500 N Tryon St", "1500 N Tryon St"),
    ("the traffic light at Tryon St and 5th St is stuck on red", "Tryon St and 5th St"),
    ("hay un bache en la calle Tryon cerca del parque", "calle Tryon cerca del parque"),
    ("huge pothole on Providence Rd by the Harris Teeter, it's been there", "Providence Rd by the Harris Teeter"),
    ("cans left on Sharon Rd by my neighbors for a week", "Sharon Rd"),
    ("la luz de la calle no sirve en la avenida Sharon", "avenida Sharon"),
    ("hay un poste de luz apagado en la calle Graham desde hace una semana", "calle Graham"),
    ("hay un bache en la calle Tuckaseegee y el carro se me dañó", "calle Tuckaseegee"),
    ("John Smith 704-555-1234 pothole on tryon st", "tryon st"),  # not "1234 pothole on tryon st"
    ("hay un bache en clanton rd", "clanton rd"),
    ("pothole on tryon st near Mr. Johnson's house that almost wrecked my tire", "tryon st near Mr. Johnson's house"),
    ("light out on Elm Street near the park and it's dark", "Elm Street near the park"),
    ("dead deer on Providence Rd", "Providence Rd"),
    ("there is a streetlight out on 5th and Tryon", "5th and Tryon"),
    ("graffiti on the signal box at Tryon and 36th", "Tryon and 36th"),
    ("the light is out at night and on weekends", None),
    ("we close on the 15th and move out that week", None),
    ("pothole in the middle of the road", None), ("someone parked in front of my driveway", None),
    ("el semáforo no funciona en la esquina", None),
    ("hay un arbol caido en la calle en 2200 The Plaza", None),  # not "calle en 2200"
    ("un carro en la calle enfrente de mi casa", None),
    # probe N: "Monroe Rd and the" and "3500 de la calle" were filed as the places
    ("there's a big pothole on Monroe Rd and the streetlight next to it is out too", "Monroe Rd"),
    ("hay un bache enorme en la 3500 de la calle Central Ave, en medio de la calle", "3500 Central Ave"),
    # probe R: filed as "2400 de Rozzelles Ferry Rd", and not matched with the English report of the same pothole
    ("Hay un bache muy grande frente al 2400 de Rozzelles Ferry Rd", "2400 Rozzelles Ferry Rd"),
    # probe AJ: a landmark before the street was dropped, and the form asked "where on Beatties Ford rd?"
    ("someone dumped a couch behind the Food Lion on Beatties Ford rd", "Beatties Ford rd behind the Food Lion"),
    ("a car parked outside my house on Oak St", "Oak St"),  # one's own house is no landmark for a crew
])
def test_location_in_a_first_message(text: str, expected: str | None) -> None:
    assert parsing.find_address_in_text(text) == expected


@pytest.mark.parametrize("text", ["cancel", "Cancel.", "stop", "never mind", "cancelar", "cancela el reporte",
                                  "I want to cancel", "quiero cancelar", "olvídalo", "forget it",
                                  "actually nevermind, forget it", "sabes que mejor ya no, olvidalo",
                                  "ya no quiero hacer el reporte", "cancela el reporte porfavor", "i changed my mind",
                                  "Discard report", "Descartar reporte"])
def test_cancel_phrases(text: str) -> None:
    assert parsing.is_cancel(text)


@pytest.mark.parametrize("text", ["the car won't stop leaking oil", "cancel my water service?", "bus stop",
                                  "1234 Stop Rd", "ya no funciona el semáforo", "para el martes", "no"])
def test_not_cancel(text: str) -> None:
    assert not parsing.is_cancel(text)


def test_skip_and_corrections() -> None:
    assert parsing.is_skip("skip") and parsing.is_skip("omitir") and parsing.is_skip("No thanks")
    assert not parsing.is_skip("Noel")
    for said in ("no photo sorry", "no tengo", "nel", "no tengo correo", "no, thanks"):  # as residents typed them
        assert parsing.is_skip(said), said
    assert not parsing.is_skip("no hay luz en la calle")
    assert not parsing.is_skip("no photo of the pothole yet, it's dark")
    assert parsing.is_unknown("no se, no lo vi") and parsing.is_unknown("no lo sé")
    assert parsing.parse_correction("actually it's on 5th street") == "it's on 5th street"
    assert parsing.parse_correction("change the address") == "the address"
    assert parsing.parse_correction("wait, i meant it's large") == "it's large"
    assert parsing.parse_correction("cambiar el teléfono") == "el teléfono"
    assert parsing.parse_correction("large") is None
    assert parsing.strip_filler("it's on 5th street") == "5th street"


def test_ticket_ids() -> None:
    assert parsing.find_ticket_id("status of 311-1234567?") == "311-1234567"
    assert parsing.find_ticket_id("mi número es 311 7654321") == "311-7654321"
    assert parsing.find_ticket_id("call 311 please") is None


@pytest.mark.parametrize(("said", "expected"), [
    ("311-1000023", "311-1000023"), ("es la 311 1000023", "311-1000023"), ("1000023", "311-1000023"),
    ("es el 1000023 creo", "311-1000023"), ("704-555-0142", None), ("7045550142", None), ("no lo tengo", None),
    ("1000023 y 1000024", None),
])
def test_a_request_number_given_when_asked(said: str, expected: str | None) -> None:
    assert parsing.answered_ticket_id(said) == expected


@pytest.mark.parametrize(("text", "keys"), [
    ("actually it was the recycling not the trash", ["recycling"]),
    ("the trash, not the recycling", ["garbage"]),
    ("no fue la basura sino el reciclaje", ["recycling"]),
    ("recycling and trash", ["recycling", "garbage"]),
    ("not sure, the trash i think", ["garbage"]),
])
def test_a_value_said_with_not_is_not_chosen(text: str, keys: list[str]) -> None:
    """Probe V: "the recycling not the trash" filed "Missed: Recycling, Garbage"."""
    service = service_for_label("report_missed_pickup")
    assert service is not None
    attr = next(a for a in service.attributes if a.code == "cart_type")
    assert parsing.match_values(attr, text) == keys


@pytest.mark.parametrize(("text", "question"), [
    ("wait, what day is trash pickup", True), ("oye, ¿a qué hora abren?", True),
    ("quiero saber donde votar", True), ("I want to know where to vote", True),
    ("oye, quisiera saber cuándo pasa la basura", True), ("me puede decir donde voto", True),
    ("necesito saber el horario", True),
    ("quiero reportar un bache", False), ("it is big", False), ("que le vaya bien", False),
    ("necesito un bache arreglado", False), ("I want to report a pothole", False),
])
def test_what_opens_as_a_question(text: str, question: bool) -> None:
    """Probe W: "quiero saber donde votar" at a choice got the choice's "no le entendí"; it asks as much as
    "¿dónde voto?"."""
    assert parsing.opens_with_question(text) is question


@pytest.mark.parametrize("typed", ["SUBMIT", "Submit.", "skip", "OK", "Enviar", "Descartar reporte", "listo"])
def test_a_forms_own_words_are_no_name(typed: str) -> None:
    """"SUBMIT", typed in capitals at the name question, became a report's contact name (probe AG)."""
    assert parsing.validate_name(typed) is None


@pytest.mark.parametrize("typed", ["Maria Lopez", "sam", "José Ángel Pérez", "Noah", "Oksana"])
def test_names_are_still_names(typed: str) -> None:
    assert parsing.validate_name(typed) == typed
