"""The forms of personal data a security review found unmasked, and the resident text that must stay as typed.

Pure tests of `redact()` / `mask_payment_cards()`: no servers."""

from __future__ import annotations

import re

import pytest

from chat_server.redaction import mask_payment_cards, redact


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@pytest.mark.parametrize("phone", [
    "(704)555-0188", "(704) 555-0188", "704-5550188", "704 - 555 - 0188", "704\u2010555\u20100188",
    "704\u2013555\u20130188", "704.555.0188", "7045550188", "1-704-555-0188", "+1 704 555 0188", "555-0188",
    "555.0188", "+44 20 7946 0958", "+52 55 1234 5678", "+52 (55) 1234-5678",
    # dialled abroad with its exit code (probe U): 011 from here, 00 from most other countries
    "011 52 55 1234 5678", "011-44-20-7946-0958", "0044 20 7946 0958", "00 52 55 1234 5678",
])
def test_phone_forms_are_masked(phone: str) -> None:
    out = redact(f"call me at {phone} after 5")
    assert out == f"call me at [phone …{_digits(phone)[-2:]}] after 5"


@pytest.mark.parametrize(("text", "masked"), [
    ("SSN 123456789", "SSN [ssn]"),
    ("my ssn: 123456789", "my ssn: [ssn]"),
    ("social security number is 123456789", "social security number is [ssn]"),
    ("my social is 123 45 6789", "my social is [ssn]"),
    ("mi número de seguro social es 123456789", "mi número de seguro social es [ssn]"),
    ("ssn 123 456 789", "ssn [ssn]"),
    ("ssn is 123.45.6789", "ssn is [ssn]"),
    ("it is 123.45.6789", "it is [ssn]"),
    ("it is 123-45-6789", "it is [ssn]"),
    ("it is 123\u201345\u20136789", "it is [ssn]"),
])
def test_ssn_forms_are_masked(text: str, masked: str) -> None:
    assert redact(text) == masked


@pytest.mark.parametrize("kept", ["account 123456789", "social media 123456789", "case 123 456 789"])
def test_nine_digits_without_an_ssn_word_are_not_an_ssn(kept: str) -> None:
    assert redact(kept) == kept


@pytest.mark.parametrize("card", ["4111.1111.1111.1111", "4111 1111 1111 1111", "4111-1111-1111-1111",
                                  "4111\u20131111\u20131111\u20131111", "4111111111111111"])
def test_card_forms_are_masked(card: str) -> None:
    assert redact(f"my card {card} exp 09/27") == "my card [card …1111] exp 09/27"
    assert mask_payment_cards(f"my card {card} exp 09/27") == "my card [card …1111] exp 09/27"


def test_mask_payment_cards_keeps_the_luhn_rule_with_dots() -> None:
    assert mask_payment_cards("5500.0000.0000.0004") == "[card …0004]"
    for kept in ("4111.1111.1111.1112", "account 1234.5678.9012.3456", "12.07.2026", "$1,250.50"):
        assert mask_payment_cards(kept) == kept


@pytest.mark.parametrize(("text", "masked"), [
    ("my name is: Maria Lopez", "my name is: [name]"),
    ("My name is Maria Lopez", "My name is [name]"),
    ("name: Maria Lopez", "name: [name]"),
    ("Name: maria lopez, 45 Birch Lane", "Name: [name], 45 Birch Lane"),
    ("my name is maria lopez", "my name is [name]"),
    ("me llamo maria lopez", "me llamo [name]"),
    ("mi nombre es maria lopez", "mi nombre es [name]"),
    ("mi nombre es: Maria Lopez", "mi nombre es: [name]"),
    ("i'm Maria Lopez", "i'm [name]"),
    ("I’m Maria Lopez, call me", "I’m [name], call me"),
    ("soy Maria Lopez", "soy [name]"),
    ("Maria Lopez here", "[name] here"),
    ("Hi, Maria Lopez here again about the cart", "Hi, [name] here again about the cart"),
    ("Mr. John Smith", "Mr. [name]"),
    ("Mr John Smith said", "Mr [name] said"),
    ("Mrs. Ana Ruiz", "Mrs. [name]"),
    ("Ms. Lopez", "Ms. [name]"),
    ("Dr. Smith", "Dr. [name]"),
    ("la señora Ana Pérez", "la señora [name]"),
    ("el señor Juan Ruiz", "el señor [name]"),
    ("Sr. Juan Ruiz", "Sr. [name]"),
    ("Sra. Ana Pérez", "Sra. [name]"),
    # lower case after "i'm"/"soy"/"this is": only when it starts with a common first name
    ("i'm maria lopez", "i'm [name]"),
    ("i'm maria lopez calling about my cart", "i'm [name] calling about my cart"),
    ("soy maria lopez de charlotte", "soy [name] de charlotte"),
    ("this is john smith", "this is [name]"),
    ("I'm Sean O'Brien", "I'm [name]"),
    # probe U: a surname in lower case after a capitalised first name, and a title in lower case
    ("I'm Maria lopez", "I'm [name]"),
    ("this is John smith from Elm St", "this is [name] from Elm St"),
    ("mr smith next door", "mr [name] next door"),
    ("ask mrs. lopez", "ask mrs. [name]"),
    ("mr john smith said so", "mr [name] said so"),
])
def test_name_forms_are_masked(text: str, masked: str) -> None:
    out = redact(text)
    assert out == masked
    assert not {"Maria", "maria", "Lopez", "lopez", "John", "john", "Smith", "smith", "Pérez", "Ruiz"} & set(
        re.findall(r"[\w’']+", out))


@pytest.mark.parametrize("email", ["maria @ gmail . com", "maria＠gmail.com", "maria@gmail .com", "maria ＠ gmail.com"])
def test_email_forms_are_masked(email: str) -> None:
    assert redact(f"write to {email} please") == "write to [email] please"


@pytest.mark.parametrize("kept", [
    # numbers that are not personal data
    "ticket 311-1000001", "status of 311-8765432?", "is request 311-2718281 closed yet", "45 Birch Lane",
    "1200 N Tryon St", "600 East 4th Street", "28202", "28202-1234", "ZIP 28202-1234 please", "12/07/2026",
    "2026-12-07", "12-07-2026", "7:30", "at 10 am", "$125.50", "$1,250.50", "since 2019", "1990-2005",
    "5 potholes", "for 3 weeks", "it was $200-1000", "250-1500 gallons", "call 311", "911",
    "account 1234 5678 9012", "the sign says 25 mph", "+5 more", "open 8-5",
    # words that are not names
    "i'm calling about my cart", "i'm not sure", "soy de charlotte", "soy residente", "i'm tired of this",
    "I'm Not sure", "I'm Calling about", "I'm a disabled veteran", "soy mamá soltera", "im tired of this pothole",
    "this is a pothole", "this is Tryon St", "this is sharon amity rd", "the pothole on Park Road here is deep",
    "Anyone here?", "Dr. Martin Luther King Jr Blvd is flooded", "1812 Kilborne Dr. Smith", "Freedom Dr Charlotte",
    "street name: Tryon", "a mi nombre antes del lunes", "my name is on the bill", "meet @ park. Then",
    "un señor se desmayo y no respira", "Senior Center", "my neighbor says the light is out",
    "account 00112233", "case 00 12", "mr. oak st", "the mr so and so",
    "aquí en la calle Tryon hay un bache", "Aquí Charlotte Water", "llamo de parte de mi mamá", "ask for Bulk Pickup",
    "quiero hablar con un agente", "hablar con Servicios Sociales", "I have two dogs and one cat", "uno dos tres",
    "lot 250 1200", "pothole here\n\nCentral Avenue", "help\n\nPlease Help", "Big pothole\n\nSharon Amity Rd",
])
def test_resident_text_that_is_not_personal_data_stays(kept: str) -> None:
    assert redact(kept) == kept


@pytest.mark.parametrize(("text", "masked"), [
    # probe AC: forms that reached the content inbox, the fallbacks export and a public description as typed
    ("Mi nombre completo: Ana Sofía Méndez Cruz, tel 704 555 0122", "Mi nombre completo: [name], tel [phone …22]"),
    ("contact: Maria Hernandez", "contact: [name]"),
    ("el dueño de la casa se llama Roberto Gómez y vive aquí", "el dueño de la casa se llama [name] y vive aquí"),
    ("the light is out again. Thanks, Marcus Green", "the light is out again. Thanks, [name]"),
    ("Saludos, Ernesto Vázquez", "Saludos, [name]"),
    ("Regards,\nMarcus Green", "Regards,\n[name]"),
    ("my name's juan carlos perez gutierrez", "my name's [name]"),
    ("Please send the reply to sarah dot jones at yahoo dot com", "Please send the reply to [email]"),
    ("ana punto ruiz arroba gmail punto com", "[email]"),
    ("call me on my mexican cell 55 1234 5678", "call me on my mexican cell [phone …78]"),
    ("My Mexican number is 044 55 1234 5678", "My Mexican number is [phone …78]"),
    ("DOB 03/14/1962, need senior discount", "DOB [date of birth], need senior discount"),
    ("my date of birth is March 14, 1962", "my date of birth is [date of birth]"),
    ("fecha de nacimiento 14 de marzo de 1962", "fecha de nacimiento [date of birth]"),
    ("mi licencia de conducir es 000987654321", "mi licencia de conducir es [id]"),
    ("passport number X12345678 for the ID program", "passport number [id] for the ID program"),
    ("card [card …1111] exp 09/27 cvv 123", "card [card …1111] exp 09/27 cvv [id]"),
    # probe AB: a name's next word was taken with it
    ("I'm Maria Lopez call me at 704-555-0142", "I'm [name] call me at [phone …42]"),
    ("My name is Luis thanks for helping", "My name is [name] thanks for helping"),
    # how Spanish speakers say who writes, whom to ask for, and numbers read out in words
    ("Hola, aquí Lupita Morales, tengo un bache", "Hola, aquí [name], tengo un bache"),
    ("Buenas tardes, le habla Marta Ruiz", "Buenas tardes, le habla [name]"),
    ("de parte de Rosa Díaz", "de parte de [name]"),
    ("pregunten por Rosa cuando vengan", "pregunten por [name] cuando vengan"),
    ("si hay dudas hablen con Pedro Gómez", "si hay dudas hablen con [name]"),
    ("ask for maria lopez at the desk", "ask for [name] at the desk"),
    ("my number is nine eight zero five five five one two three four", "my number is [phone …34]"),
    ("mi número es nueve ocho cero, cinco cinco cinco, uno dos tres cuatro", "mi número es [phone …34]"),
    ("text 980 five five five 0123", "text [phone …23]"),
    # a message signed with a name alone on its last line (probe AG: an anonymous report's public description)
    ("The streetlight is out, dark at night.\n\nRobert Nguyen", "The streetlight is out, dark at night.\n\n[name]"),
    # access codes, published next to the address they open (probe AJ)
    ("call me when you come, gate code 4471", "call me when you come, gate code [code]"),
    ("gate code is 4471, trash is behind the gate", "gate code is [code], trash is behind the gate"),
    ("the code to the gate is #4471#", "the code to the gate is #[code]"),
    ("lockbox combo: 1234 for the meter", "lockbox combo: [code] for the meter"),
    ("Door code 90210* then 2nd floor", "Door code [code] then 2nd floor"),
    ("el código de la puerta es 4471", "el código de la puerta es [code]"),
    ("clave del portón: 2580", "clave del portón: [code]"),
    # the resident's own home (probe AI: kept in the content inbox and exported into the repository)
    ("i live at 5512 albemarle rd apt 3 what day is trash pickup", "i live at [address] what day is trash pickup"),
    ("My address is 12 Oak St. When is bulk pickup?", "My address is [address]. When is bulk pickup?"),
    ("soy [name], vivo en 5512 Albemarle Rd apto 3, mi cel", "soy [name], vivo en [address], mi cel"),
    ("mi dirección es 1500 Central Ave #12", "mi dirección es [address]"),
])
def test_more_personal_data_forms_are_masked(text: str, masked: str) -> None:
    assert redact(text) == masked


@pytest.mark.parametrize("kept", [
    # the city's own numbers and those it gives residents: a staff note "call 311 at 704-336-7600" reached the
    # resident as "[phone …00]" (probe AB)
    "Questions? Call 311 at 704-336-7600", "Piedmont Natural Gas 1-800-752-7504 told me to call",
    "I called (704) 336-7600",
    "This is Charlotte Water's fault", "thanks, Duke Energy", "Thanks for the help", "the street is called Tryon St",
    "it broke on 03/14/2024", "born and raised here",
    "zip code 28202", "code enforcement case 2024-1234", "the gate is broken at 4471 Oak St", "código postal 28205",
    "the access road at 1500 Central Ave", "there is a pothole at 5512 Albemarle Rd", "i live on a busy street",
    "I live at the end of the road",
])
def test_public_numbers_organisations_and_ordinary_dates_stay(kept: str) -> None:
    assert redact(kept) == kept


def test_a_configured_311_number_stays_too() -> None:
    from chat_server.redaction import keep_public_number

    assert redact("call 980-555-3110") == "call [phone …10]"
    keep_public_number("(980) 555-3110")
    assert redact("call 980-555-3110") == "call 980-555-3110"
