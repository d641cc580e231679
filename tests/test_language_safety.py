"""Language detection (restricted to en/es, sticky) and the emergency guard's wording."""

from __future__ import annotations

import pytest

from chat_server.language import StickyLanguage, asked_language, detect_language, other_language
from chat_server.safety import emergency_language, emergency_reply
from chat_server.texts import TEXTS


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("my trash was not picked up this morning", "en"),
        ("no recogieron la basura esta mañana", "es"),
        ("hola", "es"),
        ("thank you", "en"),
        ("¿dónde puedo votar?", "es"),
        ("how do I pay my water bill", "en"),
        ("hay un bache enorme en la calle Tryon", "es"),
        ("pothole on Tryon St", "en"),
        # short noun phrases: the n-gram statistics alone take these for Spanish (or English)
        ("gun permit", "en"),
        ("propane tank disposal", "en"),
        ("so long", "en"),
        ("olor a aguas negras", "es"),  # "a" is a Spanish word too: evidence of neither language
        ("bueno, bye", "es"),
    ],
)
def test_detects_supported_language(text: str, lang: str) -> None:
    assert detect_language(text)[0] == lang


def test_sticky_language_needs_confident_long_evidence() -> None:
    sticky = StickyLanguage(switch_probability=0.9, min_chars_to_switch=12)
    assert sticky.update(None, "ok", ui_language="es") == "es"  # UI language is the prior
    assert sticky.update("es", "ok") == "es"  # a short ambiguous word does not switch
    assert sticky.update("es", "311-1000001") == "es"
    assert sticky.update("es", "I need help with my water bill please") == "en"
    # an address or a place's name is not a sentence in the other language
    for place in ("2200 The Plaza", "The Arboretum Shopping Center, Providence Rd", "Northlake Mall parking deck"):
        assert sticky.update("es", place) == "es", place
    assert sticky.update("en", "necesito ayuda con mi factura del agua") == "es"
    # a Spanish first message in the Spanish widget stays Spanish ("a" once counted as English, surely so)
    assert sticky.update(None, "olor a aguas negras", ui_language="es") == "es"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("my house is on fire", "en"),
        ("I smell gas in the kitchen", "en"),
        ("someone is hurt and bleeding on Tryon", "en"),
        ("hay un incendio en mi edificio", "es"),
        ("huele a gas en mi casa", "es"),
        ("cables eléctricos caídos en la calle", "es"),
    ],
)
def test_emergency_wording_detected(text: str, lang: str) -> None:
    assert emergency_language(text) == lang
    assert "911" in emergency_reply(lang)


@pytest.mark.parametrize("text", ["pothole on 5th street", "fire hydrant leaking", "where can I get a flu shot",
                                  "when is trash pickup", "¿cuándo recogen la basura?"])
def test_ordinary_requests_are_not_emergencies(text: str) -> None:
    assert emergency_language(text) is None


def test_every_system_text_is_bilingual() -> None:
    for key, variants in TEXTS.items():
        assert set(variants) >= {"en", "es"}, key
        assert all(v.strip() for v in variants.values()), key


@pytest.mark.parametrize(("text", "lang"), [
    ("perdón, mejor hablo en español, mi inglés no es muy bueno", "es"), ("¿me lo puede explicar en español?", "es"),
    ("can you answer in English?", "en"), ("no hablo bien el inglés", "es"), ("I don't speak Spanish", "en"),
    ("disculpe, no hablo mucho inglés, el bache está enfrente de mi casa", "es"),  # mid-report: stayed English
    ("i don't speak very good spanish", "en"),
    ("english please", "en"), ("the spanish moss tree fell on my car", None), ("mi hijo habla inglés", None),
    ("I want to report a pothole", None)])
def test_a_resident_who_asks_for_a_language_is_heard(text: str, lang: str | None) -> None:
    assert asked_language(text) == lang


@pytest.mark.parametrize(("text", "other"), [
    ("我的垃圾没有被收走", True), ("Привет, у меня нет воды", True), ("Có ổ gà trước nhà tôi", True),
    ("Bonjour, il y a un nid-de-poule devant chez moi", True),
    ("my trash was not picked up", False), ("mi basura no fue recogida", False), ("pothole on Tryon St", False),
    ("😡😡😡🕳️🚗", False), ("👍", False), ("ok", False), ("Beatties Ford Rd and LaSalle St", False),
])
def test_a_language_we_do_not_serve_is_recognised(text: str, other: bool) -> None:
    assert other_language(text) is other
    if other:  # and it switches no conversation to Spanish (probe W: French and Vietnamese did)
        assert StickyLanguage().update(None, text, "en") == "en" and StickyLanguage().update("en", text) == "en"
