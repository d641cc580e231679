"""Knowledge base engine, in process: article validation, hybrid search with the real multilingual
model, live edits (and refused ones), the calibration fit and `chat311 kb-eval`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from chat_server import cli
from chat_server.knowledge.articles import (
    KNOWLEDGE_DIR,
    ArticleError,
    load_articles,
    load_rules,
    parse_article,
)
from chat_server.knowledge.calibrate import fit, judged, score_rows
from chat_server.knowledge.evaluate import EvalRow
from chat_server.knowledge.labels import (
    LONG_MESSAGE_WORDS,
    MENU_MIN_AFTER_RASA_FALLBACK,
    REPORT_OVERRULE_BELOW,
    ReportGuess,
    decision_label,
    for_intent,
)
from chat_server.knowledge.lexical import LexicalIndex, asks_only_for_help, content_words
from chat_server.knowledge.ranking import (
    VAGUE_ANSWER_MARGIN,
    Calibration,
    CalibrationError,
    Features,
    Kind,
    combine,
    decide_kind,
    parse_calibration,
    top_two,
)
from chat_server.knowledge.scope import OutOfScope, load_out_of_scope, parse_out_of_scope
from chat_server.knowledge.search import FALLBACK_LABEL, Decision, IndexUpdateError, KnowledgeSearch
from chat_server.knowledge.semantic import UniversalSentenceEncoder
from chat_server.knowledge.specifics import without_lead_in, without_specifics
from chat_server.tickets.catalogue import load_catalogue
from tests.support.servers import ROOT

FIXTURE = Path(__file__).parent / "data" / "knowledge_fixture"
WATER = FIXTURE / "water" / "water-bill-pay.yml"
FAQ_TOPICS = ("utility_bill", "trash_schedule", "animal_adoption", "flooding", "property_tax", "voting",
              "hours_contact", "power_outage", "financial_help", "speaker_request")
# Fixed numbers (not the shipped calibration file, which kb-calibrate rewrites).
CALIBRATION = Calibration(lexical_weight=0.2, answer_min=0.9, answer_margin=0.0, menu_min=0.6)


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.fixture(scope="module")
def model() -> UniversalSentenceEncoder:
    return UniversalSentenceEncoder()


@pytest.fixture()
def search(rules, model) -> KnowledgeSearch:
    return KnowledgeSearch(model, CALIBRATION, load_articles(FIXTURE, rules))


def water_data() -> dict:
    return yaml.safe_load(WATER.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------ loader
def broken(change) -> str:  # type: ignore[no-untyped-def]
    data = water_data()
    change(data)
    return yaml.safe_dump(data, allow_unicode=True)


@pytest.mark.parametrize(("change", "field", "words"), [
    (lambda d: d.pop("owner"), "owner", "missing"),
    (lambda d: d["answer"].pop("es"), "answer.es", "missing"),
    (lambda d: d.update(topic="weather"), "topic", "unknown topic"),
    (lambda d: d["answer"].update(en="Pay: https://www.charlottenc.gov/Water " + "x" * 300), "answer.en", "most 320"),
    (lambda d: d["answer"].update(es="Pague su factura en línea o llame al 311."), "answer.es", "link"),
    (lambda d: d["questions"].update(es=["uno", "dos", "tres"]), "questions.es", "at least 4"),
    (lambda d: d.update(service_code="FIX_MY_ROOF"), "service_code", "unknown service"),
    (lambda d: d.update(id="water-bill"), "id", "file name"),
    (lambda d: d.update(review_by="next year"), "review_by", "date"),
    (lambda d: d.update(url="http://www.charlottenc.gov/Water"), "url", "https"),
    (lambda d: d.update(anwser="typo"), "anwser", "unknown field"),
    # a content editor's slips the page let through
    (lambda d: d.update(url="https://"), "url", "address of a web page"),
    (lambda d: d.update(url="https://10.0.0.5/water"), "url", "address of a web page"),
    # links residents click in the answer and the details (probe AA: each was published as a link)
    (lambda d: d["answer"].update(en="Pay at http://www.charlottenc.gov/Water today."), "answer.en", "https://"),
    (lambda d: d["answer"].update(es="Pague en https://localhost:9010/admin hoy."), "answer.es", "localhost"),
    (lambda d: d["answer"].update(en="Pay at https://10.0.0.5/x now."), "answer.en", "host name"),
    (lambda d: d.update(details={"en": "See https://www.charlottenc.gov/Water and http://bad.example/x.",
                                 "es": "Vea https://www.charlottenc.gov/Water."}), "details.en", "http://bad"),
    (lambda d: d.update(url="https://<script>"), "url", "HTML tag"),
    (lambda d: d["title"].update(en="Pay your bill\u0007"), "title.en", "control character"),
    (lambda d: d["answer"].update(es=d["answer"]["en"]), "answer.es", "write it in Spanish"),
    (lambda d: d["questions"].update(en=["how do i pay"] * 4), "questions.en[1]", "repeats questions.en[0]"),
    (lambda d: d["title"].update(en="Adopt \u202egod a\u202c or cat"), "title.en", "invisible character"),
    (lambda d: d["answer"].update(es="<b>Pague</b> en https://www.charlottenc.gov/water"), "answer.es", "HTML tag"),
    (lambda d: d["questions"]["en"].insert(0, "dog " * 100), "questions.en[0]", "at most 300"),
    (lambda d: d["questions"].update(es=[f"pregunta {i}" for i in range(201)]), "questions.es", "at most 200"),
    (lambda d: d.update(review_by="9999-12-31"), "review_by", "years ahead"),
    # beside an https link, other schemes were published (probe AI)
    (lambda d: d["answer"].update(en="Schedule [here](javascript:alert(1)) or at https://www.charlottenc.gov/x"),
     "answer.en", "not a web address"),
    (lambda d: d["answer"].update(es="Formulario: data:text/html;base64,PHNj o https://www.charlottenc.gov/x"),
     "answer.es", "not a web address"),
    (lambda d: d["answer"].update(en="Schedule [online](https://www.charlottenc.gov/x) today."), "answer.en",
     "[text](link)"),
    # English pasted into the Spanish box, to translate later (probe AI)
    (lambda d: d["answer"].update(es="Pay online with your account number at https://www.charlottenc.gov/Water."),
     "answer.es", "reads as English"),
])
def test_invalid_article_names_file_and_field(rules, change, field, words) -> None:  # type: ignore[no-untyped-def]
    path = "training_data/knowledge/water/water-bill-pay.yml"
    with pytest.raises(ArticleError) as caught:
        parse_article(path, broken(change), rules)
    assert (caught.value.file, caught.value.field) == (path, field)
    assert words in caught.value.message
    assert str(caught.value).startswith(f"{path}: {field}: ")


def test_duplicate_id_across_departments_is_refused(rules, tmp_path: Path) -> None:
    for dept in ("water", "billing"):
        (tmp_path / dept).mkdir()
        (tmp_path / dept / "water-bill-pay.yml").write_text(WATER.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ArticleError) as caught:
        load_articles(tmp_path, rules)
    assert caught.value.field == "id"
    assert "duplicate id 'water-bill-pay'" in caught.value.message
    assert caught.value.file.endswith("water/water-bill-pay.yml")


def test_article_round_trips_through_its_data_shape(rules) -> None:
    article = parse_article(WATER, WATER.read_text(encoding="utf-8"), rules)
    again = parse_article(WATER, yaml.safe_dump(article.to_data(), allow_unicode=True), rules)
    assert again == article


def test_fixture_covers_the_ten_faq_topics(rules) -> None:
    articles = load_articles(FIXTURE, rules)
    assert sorted(a.topic for a in articles) == sorted(FAQ_TOPICS)


def test_shipped_knowledge_base_loads_and_covers_the_faq_topics(rules) -> None:
    articles = load_articles(KNOWLEDGE_DIR, rules)
    missing = set(FAQ_TOPICS) - {a.topic for a in articles}
    assert not missing, f"no shipped article for {sorted(missing)}"


def test_every_reportable_service_has_an_article_that_offers_its_form(rules) -> None:
    """A resident who asks about a problem ("who do I call about bushes over the sidewalk") gets the
    article's answer with "Report it"; a service no article names could only be reached by Rasa's report
    intent. GENERAL is the callback request, not a problem to ask about."""
    catalogue = load_catalogue(ROOT / "chat_server" / "tickets" / "catalogue.yml")
    offered = {a.service_code for a in load_articles(KNOWLEDGE_DIR, rules)}
    missing = set(catalogue.services) - offered - {"GENERAL"}
    assert not missing, f"no article offers the form of {sorted(missing)}"


# ------------------------------------------------------------------------------------------ search
@pytest.mark.parametrize(("text", "lang", "article_id"), [
    ("my water bill is way too high this month", "en", "water-bill-pay"),
    ("what day do they come for the garbage", "en", "collection-day"),
    ("i want to adopt a puppy", "en", "adopt-a-pet"),
    ("the street in front of my house is flooded", "en", "report-flooding"),
    ("when are property taxes due", "en", "property-tax-pay"),
    ("where do i vote", "en", "register-to-vote"),
    ("what are your hours", "en", "contact-311"),
    ("my power is out", "en", "power-outage"),
    ("i need help paying my bills", "en", "financial-navigator"),
    ("can someone from the city speak at our school", "en", "speakers-bureau"),
    ("quiero pagar el recibo del agua", "es", "water-bill-pay"),
    ("qué día pasa el camión de la basura", "es", "collection-day"),
    ("quiero adoptar un perrito", "es", "adopt-a-pet"),
    ("se inundó mi calle", "es", "report-flooding"),
    ("cuándo vence el impuesto de mi casa", "es", "property-tax-pay"),
    ("dónde me toca votar", "es", "register-to-vote"),
    ("a qué hora abren", "es", "contact-311"),
    ("se fue la luz en mi casa", "es", "power-outage"),
    ("necesito ayuda para pagar mis cuentas", "es", "financial-navigator"),
    ("pueden mandar a alguien a dar una charla en nuestra iglesia", "es", "speakers-bureau"),
])
def test_search_finds_the_article(search: KnowledgeSearch, text: str, lang: str, article_id: str) -> None:
    hits = search.search(text, lang)
    assert hits and hits[0].article_id == article_id, [(h.article_id, round(h.score, 3)) for h in hits]


def test_spanish_question_finds_an_article_written_only_in_english(search: KnowledgeSearch) -> None:
    """Cross-lingual: the Spanish side of this article is a copy of the English one."""
    power = search.get("power-outage")
    assert power is not None
    english_only = replace(power, title={"en": power.title["en"], "es": power.title["en"]},
                           questions={"en": power.questions["en"], "es": power.questions["en"]})
    search.upsert(english_only)
    decision, hits = search.explain("se fue la luz en todo el barrio", "es")
    assert hits[0].article_id == "power-outage"
    assert decision.language == "es"


def test_decision_json_answers_in_the_residents_language(search: KnowledgeSearch) -> None:
    decision = search.decide("cuándo pasa la basura", "es").to_json()
    assert decision["kind"] == "answer"
    assert decision["label"] == "faq/trash_schedule"
    assert decision["article"]["id"] == "collection-day"
    assert decision["article"]["answer"].startswith("La basura se recoge")
    assert decision["article"]["service_code"] == "MISSED_PICKUP"
    assert decision["language"] == "es"


@pytest.mark.parametrize(("plain", "punctuated", "lang"), [
    ("a qué hora abren", "¿a qué hora abren?", "es"),
    ("how do i pay my water bill", "How do I pay my water bill?!", "en")])
def test_question_marks_and_capitals_do_not_change_the_scores(search: KnowledgeSearch, plain: str, punctuated: str,
                                                 lang: str) -> None:
    """Residents type "¿…?" and capitals or not, at random; the articles' own questions have neither."""
    assert [(h.article_id, round(h.score, 4)) for h in search.search(punctuated, lang)] == \
        [(h.article_id, round(h.score, 4)) for h in search.search(plain, lang)]


@pytest.mark.parametrize(("text", "expected"), [
    ("what is my pickup day for 4500 Park Rd", "what is my pickup day for"),
    ("street flooding on Little Sugar Creek", "street flooding on Creek"),
    ("hit a huge hole on Brookshire Blvd this morning", "hit a huge hole on this morning"),
    ("bache en la calle Tryon cerca de la escuela", "bache en la calle cerca de la escuela"),
    ("can I reserve a shelter at Freedom Park", "can I reserve a shelter at Park"),
    # no house number and no capitals: nothing tells the street name from ordinary words
    ("pothole on tryon street", "pothole on tryon street"),
    # capitalised words that open a question are not a name
    ("My Street is flooded", "My Street is flooded"),
    ("Duke Energy outage", "Duke Energy outage"),
    # contact details say nothing about the topic
    ("how do i pay my water bill, my email is jane.doe@example.com", "how do i pay my water bill,"),
    ("mi teléfono es 704 555 0142, se fue la luz", ", se fue la luz"),
    ("call me at (704) 555-0142 about my trash", "call me at about my trash"),
])
def test_addresses_places_and_contact_details_are_left_out_of_the_query(text: str, expected: str) -> None:
    assert " ".join(without_specifics(text).split()) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("thanks!! when is yard waste picked up", "when is yard waste picked up"),
    ("ok thanks, what day is recycling", "what day is recycling"),
    ("hi! how do I pay my bill", "how do I pay my bill"),
    ("Buenas tardes, me llegó el recibo del agua", "me llegó el recibo del agua"),
    ("gracias, y ¿cuándo pasa la basura?", "cuándo pasa la basura?"),
    # nothing of its own after it: the words stay
    ("thanks a lot", "thanks a lot"), ("and on holidays?", "and on holidays?"),
    # a word that only starts like one
    ("okra and yams in the compost", "okra and yams in the compost"),
])
def test_pleasantries_before_a_question_are_left_out_of_the_query(text: str, expected: str) -> None:
    assert without_lead_in(text) == expected


def test_an_address_in_the_question_does_not_pull_the_score_down(search: KnowledgeSearch) -> None:
    """The name weighs on both scores; without this the question below fell under the menu threshold."""
    plain = search.search("cuál es mi día de recolección", "es")
    with_address = search.search("cuál es mi día de recolección para 4500 Park Rd", "es")
    assert with_address[0].article_id == plain[0].article_id == "collection-day"
    assert with_address[0].score == pytest.approx(plain[0].score, abs=0.05)  # 0.49 vs 0.73 with the address


def test_a_typo_still_matches_the_article_word(rules) -> None:
    index = LexicalIndex()
    for article in load_articles(FIXTURE, rules):
        index.upsert(article)
    right, typo = index.scores("recycling week"), index.scores("recylcing week")
    assert typo and max(typo, key=typo.__getitem__) == max(right, key=right.__getitem__)
    assert typo == pytest.approx(right)
    # short words are not corrected: "bil" is one edit from too many words
    assert index.scores("bil") == {}


def test_a_removed_article_takes_its_words_out_of_the_typo_index(rules) -> None:
    index = LexicalIndex()
    articles = load_articles(FIXTURE, rules)
    for article in articles:
        index.upsert(article)
    owners = [a for a in articles if "floodplain" in " ".join(a.questions["en"]).lower()]
    assert owners, "the fixture should have an article about floodplains"
    assert {a.id for a in owners} <= set(index.scores("flodplain"))
    for article in owners:
        index.remove(article.id)
    assert index.scores("flodplain") == {}
    index.upsert(owners[0])
    assert owners[0].id in index.scores("flodplain")


def test_gibberish_falls_back_and_empty_text_too(search: KnowledgeSearch) -> None:
    assert search.decide("zxqv blorf wibble", "en").to_json() == {"kind": "fallback", "label": "nlu_fallback",
                                                                 "language": "en"}
    assert search.decide("   ", "en").kind is Kind.FALLBACK


def test_menu_offers_the_top_three(rules, model) -> None:
    search = KnowledgeSearch(model, replace(CALIBRATION, answer_min=2.0), load_articles(FIXTURE, rules))
    decision = search.decide("how do i pay my water bill", "en").to_json()
    assert decision["kind"] == "menu" and decision["label"] == "nlu_fallback"
    assert len(decision["options"]) == 3
    assert decision["options"][0]["id"] == "water-bill-pay"
    assert decision["options"][0]["score"] >= decision["options"][1]["score"] >= decision["options"][2]["score"]


# ------------------------------------------------------------------------------------------ live edits
def test_edit_goes_live_and_remove_takes_it_out(search: KnowledgeSearch) -> None:
    water = search.get("water-bill-pay")
    assert water is not None
    edited = replace(water, answer={**water.answer, "en": "New way to pay: https://www.charlottenc.gov/Water/Pay"},
                     questions={**water.questions, "en": (*water.questions["en"], "can i pay with venmo")})
    search.upsert(edited)
    decision = search.decide("can i pay with venmo", "en")
    assert decision.article is not None and decision.article.answer["en"].startswith("New way to pay")
    assert search.remove("water-bill-pay")
    assert all(h.article_id != "water-bill-pay" for h in search.search("how do i pay my water bill", "en", k=10))
    assert not search.remove("water-bill-pay")


def test_invalid_edit_is_refused_and_the_last_good_version_keeps_serving(search: KnowledgeSearch, rules) -> None:
    before = search.decide("how do i pay my water bill", "en").to_json()
    with pytest.raises(ArticleError):
        search.upsert(parse_article(WATER, broken(lambda d: d["answer"].update(en="no link here")), rules))
    assert search.decide("how do i pay my water bill", "en").to_json() == before


class _NanForMarker:
    """The embedding model misbehaving on one text (a stand-in for a broken third-party model build)."""

    def __init__(self, real: UniversalSentenceEncoder, marker: str) -> None:
        self.real, self.marker = real, marker

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = self.real.embed(texts)
        out[[self.marker in t for t in texts]] = np.nan
        return out


def test_edit_that_would_break_the_index_is_refused(rules, model) -> None:
    search = KnowledgeSearch(_NanForMarker(model, "\u2063"), CALIBRATION, load_articles(FIXTURE, rules))
    water = search.get("water-bill-pay")
    assert water is not None
    before = search.decide("how do i pay my water bill", "en").to_json()
    poisoned = replace(water, answer={**water.answer, "en": "changed https://x.example"},
                       questions={**water.questions, "en": (*water.questions["en"], "pay\u2063 bill")})
    with pytest.raises(IndexUpdateError) as caught:
        search.upsert(poisoned)
    assert caught.value.article_id == "water-bill-pay"
    assert search.get("water-bill-pay") == water
    assert search.decide("how do i pay my water bill", "en").to_json() == before


# ------------------------------------------------------------------------------------------ calibrate / eval
def test_fit_reaches_the_targets_on_separable_scores() -> None:
    topics = {"a": "ta", "b": "tb"}
    rows = [EvalRow("x", "ta", "en"), EvalRow("y", "tb", "en"), EvalRow("z", "nlu_fallback", "en"),
            EvalRow("w", "ta", "en")]
    features = [Features({"a": 0.95, "b": 0.3}, {}), Features({"a": 0.2, "b": 0.9}, {"b": 0.5}),
                Features({"a": 0.35, "b": 0.3}, {}), Features({"a": 0.7, "b": 0.66}, {})]
    calibration, metrics = fit(rows, features, topics)
    assert metrics["answered_precision"] == 1.0 and metrics["fallback_recall"] == 1.0
    assert metrics["coverage"] == 1.0
    assert 0.35 < calibration.menu_min <= 0.66
    assert calibration.answer_min <= 0.9
    # the last row's two articles are 0.04 apart: a menu, not a coin-flip answer, however the dev set scores
    assert calibration.answer_margin >= 0.05


@pytest.mark.parametrize(("text", "count"), [("permit", 1), ("what time is it", 1), ("¿Dónde pago el agua?", 2),
                                             ("how do i pay my water bill", 3), ("hola", 0)])
def test_content_words_leave_out_both_languages_stop_words(text: str, count: int) -> None:
    assert content_words(text) == count


@pytest.mark.parametrize(("text", "only_help"), [
    ("help", True), ("Can you help me?", True), ("necesito ayuda por favor", True), ("tengo una pregunta", True),
    ("hello", False), ("help with my water bill", False), ("ayuda con la basura", False), ("tengo basura", False),
])
def test_a_bare_request_for_help_names_nothing(text: str, only_help: bool, search: KnowledgeSearch) -> None:
    """"help" matched the articles with "help" in their titles; it gets the fallback, which says what the bot does."""
    assert asks_only_for_help(text) is only_help
    if only_help:
        assert search.decide(text, "en").kind is Kind.FALLBACK


def test_a_vague_message_needs_a_clear_winner_for_a_direct_answer() -> None:
    calibration = replace(CALIBRATION, answer_min=0.5, answer_margin=0.05)
    assert decide_kind(1.0, 0.92, calibration) is Kind.ANSWER
    assert decide_kind(1.0, 0.92, calibration, vague=True) is Kind.MENU
    assert decide_kind(1.0, 1.0 - VAGUE_ANSWER_MARGIN - 0.01, calibration, vague=True) is Kind.ANSWER
    # a calibrated margin larger than the vague one still applies
    assert decide_kind(1.0, 0.75, replace(calibration, answer_margin=0.3), vague=True) is Kind.MENU
    # kb-calibrate judges dev rows by the same rule, so the fit and the served bot agree
    scored = score_rows([EvalRow("permit", "a", "en")], [Features({"a": 1.0, "b": 0.92}, {}, vague=True)],
                        {"a": "ta", "b": "tb"}, 0.0)
    assert [j.kind for j in judged(scored, calibration)] == [Kind.MENU]


def test_a_one_word_message_gets_the_menu_unless_one_article_clearly_leads(rules, model) -> None:
    search = KnowledgeSearch(model, replace(CALIBRATION, answer_min=0.6), load_articles(FIXTURE, rules))
    assert search.features("water").vague and not search.features("how do i pay my water bill").vague
    hits = search.search("water", "en")
    assert hits[0].score - hits[1].score < VAGUE_ANSWER_MARGIN  # the bill and flooding articles, nearly alike
    assert search.decide("water", "en").kind is Kind.MENU
    assert search.decide("voting", "en").kind is Kind.ANSWER  # the elections article, far ahead
    assert search.decide("how do i pay my water bill", "en").kind is Kind.ANSWER


def test_fit_uses_the_out_of_scope_examples_when_scores_cannot_separate() -> None:
    """Out-of-scope rows scoring like in-scope ones ("water bill in raleigh") are caught by the examples'
    margin instead of a menu_min that would also drop the weaker in-scope rows."""
    topics = {"a": "ta", "b": "tb"}
    rows = [EvalRow("in1", "ta", "en"), EvalRow("in2", "tb", "en"), EvalRow("in3", "ta", "en"),
            EvalRow("out1", "nlu_fallback", "en"), EvalRow("out2", "nlu_fallback", "en")]
    # nearest_outside: the best cosine to an out-of-scope example; the gap to the top score is -0.5, -0.3, -0.2 in
    # scope and +0.05, +0.1 out of scope
    features = [Features({"a": 0.9, "b": 0.3}, {}, nearest_outside=0.4),
                Features({"a": 0.2, "b": 0.6}, {}, nearest_outside=0.3),
                Features({"a": 0.65, "b": 0.2}, {}, nearest_outside=0.45),
                Features({"a": 0.85, "b": 0.2}, {}, nearest_outside=0.9),
                Features({"a": 0.7, "b": 0.1}, {}, nearest_outside=0.8)]
    calibration, metrics = fit(rows, features, topics)
    assert metrics["fallback_recall"] == 1.0 and metrics["coverage"] == 1.0 and metrics["answered_precision"] == 1.0
    assert -0.2 < calibration.outside_margin <= 0.05
    assert calibration.menu_min <= 0.6


def test_fit_allows_for_length_when_long_questions_sit_as_close_to_the_examples_as_short_out_of_scope_ones() -> None:
    """A long message's cosines to the short out-of-scope examples and to the articles both shrink, so its gap
    looks like an out-of-scope one: no margin alone keeps it and still catches the short out-of-scope row."""
    topics = {"a": "ta", "b": "tb"}
    rows = [EvalRow("short in", "ta", "en"), EvalRow("long in", "tb", "en"), EvalRow("short out", "nlu_fallback", "en")]
    features = [Features({"a": 0.9, "b": 0.3}, {}, nearest_outside=0.4, words=6),  # gap -0.5
                Features({"a": 0.2, "b": 0.6}, {}, nearest_outside=0.45, words=35),  # gap -0.15, 30 words extra
                Features({"a": 0.8, "b": 0.3}, {}, nearest_outside=0.6, words=5)]  # gap -0.2
    calibration, metrics = fit(rows, features, topics)
    assert metrics["fallback_recall"] == 1.0 and metrics["coverage"] == 1.0
    assert calibration.outside_per_word > 0
    assert Features({}, {}, 0.45, 35).outside(0.6, calibration.outside_per_word) < calibration.outside_margin
    # without the long row there is nothing to pay for: no allowance
    assert fit([rows[0], rows[2]], [features[0], features[2]], topics)[0].outside_per_word == 0


def test_an_articles_own_words_outweigh_a_nearby_out_of_scope_example() -> None:
    """"where can i adopt a rescue dog" is about as close in meaning to "where can i buy a puppy" (out of scope)
    as to the adoption article; the article's own word "adopt" (BM25) is what keeps it answered."""
    calibration = Calibration(lexical_weight=0.6, answer_min=0.74, answer_margin=0.07, menu_min=0.71,
                              outside_margin=-0.075)

    def kind(features: Features) -> Kind:
        top, second = top_two(combine(features.semantic, features.lexical, calibration.lexical_weight))
        return decide_kind(top, second, calibration, features.outside(top))

    assert kind(Features({"adopt": 0.73, "lost": 0.6}, {"adopt": 0.5}, nearest_outside=0.70)) is Kind.ANSWER
    assert kind(Features({"adopt": 0.73, "lost": 0.6}, {}, nearest_outside=0.70)) is Kind.FALLBACK


def test_calibration_file_without_the_outside_margin_stays_valid() -> None:
    old = {"lexical_weight": 0.3, "answer_min": 0.7, "answer_margin": 0.1, "menu_min": 0.6}
    assert parse_calibration("c.yml", old) == Calibration(0.3, 0.7, 0.1, 0.6)
    with pytest.raises(CalibrationError, match=r"c\.yml: outside_margin: must be a number between -1 and 2"):
        parse_calibration("c.yml", {**old, "outside_margin": -3})
    with pytest.raises(CalibrationError, match=r"c\.yml: outside_per_word: must be a number between 0 and 0\.1"):
        parse_calibration("c.yml", {**old, "outside_per_word": 0.5})
    assert parse_calibration("c.yml", {**old, "outside_per_word": 0.01}).outside_per_word == 0.01


# ------------------------------------------------------------------------------------------ out of scope
SCOPE = OutOfScope({"en": ("what's the weather forecast for tomorrow", "tell me a joke"),
                    "es": ("va a llover mañana",)}, ("raleigh", "home depot"))


@pytest.fixture()
def scoped(rules, model) -> KnowledgeSearch:
    # menu_min 0: without the out-of-scope list nothing would fall back
    return KnowledgeSearch(model, replace(CALIBRATION, menu_min=0.0), load_articles(FIXTURE, rules), SCOPE)


@pytest.mark.parametrize("text", ["how do i pay my water bill in Raleigh", "what time does Home Depot open",
                                  "is it going to rain tomorrow", "¿va a llover el sábado?"])
def test_out_of_scope_messages_fall_back_whatever_they_score(scoped: KnowledgeSearch, text: str) -> None:
    assert scoped.decide(text, "en").kind is Kind.FALLBACK


def test_a_long_question_is_allowed_for_its_length(scoped: KnowledgeSearch) -> None:
    text = ("hi, my husband and I just moved into a rental off Albemarle Rd last month and the first bill came today, "
            "how do i pay my water bill")
    features = scoped.features(text)
    # counted after the search drops the greeting ("hi,") and the specifics ("Albemarle Rd")
    assert features.words == len(text.split()) - 3 and features.extra_words == features.words - 5
    top = top_two(combine(features.semantic, features.lexical, CALIBRATION.lexical_weight))[0]
    assert features.outside(top, 0.01) == pytest.approx(features.outside(top) - 0.01 * features.extra_words)


def test_in_scope_messages_still_get_answers_with_the_list(scoped: KnowledgeSearch) -> None:
    assert scoped.decide("how do i pay my water bill", "en").to_json()["article"]["id"] == "water-bill-pay"
    assert scoped.decide("se fue la luz en mi casa", "es").kind is not Kind.FALLBACK


def test_a_name_an_article_mentions_is_not_out_of_scope(scoped: KnowledgeSearch) -> None:
    """Content decides: once an article talks about Raleigh, a question naming it is searched normally."""
    assert scoped.features("how do i pay my water bill in raleigh").nearest_outside == float("inf")
    water = scoped.get("water-bill-pay")
    assert water is not None
    scoped.upsert(replace(water, questions={**water.questions,
                                            "en": (*water.questions["en"], "i moved from raleigh, how do i pay")}))
    assert scoped.features("how do i pay my water bill in raleigh").nearest_outside < 1
    assert scoped.decide("how do i pay my water bill in raleigh", "en").kind is Kind.ANSWER
    # a draft fork keeps the list
    assert scoped.fork([]).features("what time does home depot open").nearest_outside == float("inf")


@pytest.mark.parametrize(("text", "named"), [
    ("what day does the garbage truck come on Sugar Creek Rd near the Food Lion", []),
    ("huge pothole on South Blvd by the Harris Teeter", []),
    ("hay un bache enorme en South Blvd por el Harris Teeter", []),
    ("que dia pasa la basura en mi calle, vivo cerca del Food Lion", []),
    ("how do I register to vote, just moved here from Georgia", []),
    ("me acabo de mudar de Georgia, como me registro para votar", []),
    ("my in laws moved in from Greensboro and we need a bigger trash cart", []),
    ("moving to Texas next month, how do i stop my water service", []),
    ("me voy a mudar a Texas, que hago con los botes de basura", []),
    ("is it cheaper to move to texas", []),  # a destination only: left to the out-of-scope examples
    ("texas driver license renewal", ["texas"]),
    ("voy a walmart, a que hora abre", ["walmart"]),  # going to a shop is not moving away
    ("is the food lion open on sunday", ["food lion"]),
    ("water bill from raleigh", ["raleigh"]),
    ("pothole by the walmart, and what time does walmart open", ["walmart"]),  # one mention is the subject
    # part of a road's name, typed in lower case (the search removes only capitalised ones)
    ("pothole on old statesville rd near the ramp", []),
    ("trash day for brooklyn village ave apartments", []),
    ("hay un bache enorme en la calle statesville", []),
    # a person's name, a shop as the place something happened, where a document is from
    ("my daughter savannah needs her shots", []),
    ("mi hijo orlando necesita las vacunas", []),
    ("me robaron el carro del estacionamiento del walmart", []),
    ("bought paint at lowes, can i throw the leftovers out", []),
    ("tengo licencia de texas, puedo votar", []),
    ("a que hora abre el walmart", ["walmart"]),
    ("el alcalde de raleigh", ["raleigh"]),
])
def test_a_name_that_only_gives_a_landmark_or_an_origin_does_not_count(text: str, named: list[str]) -> None:
    assert load_out_of_scope().named(text) == named


def test_a_landmark_name_leaves_the_question_in_scope(scoped: KnowledgeSearch) -> None:
    assert scoped.features("how do i pay my water bill, i live near the home depot").nearest_outside < 1
    assert scoped.features("what time does home depot open").nearest_outside == float("inf")


def test_shipped_out_of_scope_list_loads() -> None:
    scope = load_out_of_scope()
    assert len(scope.questions["en"]) >= 20 and len(scope.questions["es"]) >= 20
    assert "raleigh" in scope.names and "walmart" in scope.names
    assert scope.named("What time does WALMART close?") == ["walmart"]
    assert scope.named("recycling at the walmartian") == []


@pytest.mark.parametrize(("data", "field"), [
    ({"questions": {"en": ["ok"], "fr": ["non"]}}, "questions"),
    ({"questions": {"en": ["ok", ""]}}, "questions.en"),
    ({"names": ["raleigh", 3]}, "names"),
    ({"nmes": ["raleigh"]}, "(file)"),
])
def test_invalid_out_of_scope_file_names_the_field(data: dict, field: str) -> None:
    with pytest.raises(ArticleError) as caught:
        parse_out_of_scope("training_data/knowledge/out_of_scope.yml", data)
    assert caught.value.file == "training_data/knowledge/out_of_scope.yml" and caught.value.field == field


def test_kb_eval_prints_the_metrics_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = tmp_path / "six.csv"
    csv_file.write_text(
        "text,topic_or_article_id,lang\n"
        "how do i pay my water bill,utility_bill,en\n"  # answered, right (topic label)
        "cómo me registro para votar,register-to-vote,es\n"  # answered, right (article id label)
        "when is my trash day,bulky_waste,en\n"  # answered, wrong; no right article in the top 3
        "my power is out,nlu_fallback,en\n"  # out of scope but answered: not a fallback
        "zxqv blorf wibble,nlu_fallback,en\n"  # fallback
        "qqq zzz vvv,nlu_fallback,en\n",  # fallback
        encoding="utf-8")
    calibration = tmp_path / "calibration.yml"
    calibration.write_text(yaml.safe_dump({"calibration": vars(CALIBRATION)}), encoding="utf-8")
    code = cli.main(["kb-eval", str(csv_file), "--knowledge-dir", str(FIXTURE), "--calibration", str(calibration)])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # in scope: rows 1–3; answered: rows 1–4 (2 right); out of scope: rows 4–6 (2 fell back)
    assert {k: result[k] for k in ("n", "top1", "top3", "answered_precision", "coverage", "fallback_recall")} == {
        "n": 6, "top1": 0.6667, "top3": 0.6667, "answered_precision": 0.5, "coverage": 0.6667,
        "fallback_recall": 0.6667}


def test_kb_eval_lists_a_test_files_wrong_rows_only_when_asked(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A *_test.csv file is never tuned on: measuring it must not print the rows that would tempt a fix."""
    csv_file = tmp_path / "kb_test.csv"
    csv_file.write_text("text,topic_or_article_id,lang\nwhen is my trash day,bulky_waste,en\n", encoding="utf-8")
    args = ["kb-eval", str(csv_file), "--knowledge-dir", str(FIXTURE)]
    assert cli.main(args) == 0
    quiet = capsys.readouterr()
    assert "errors (" not in quiet.out and "when is my trash day" not in quiet.out
    assert "listed only with --show-errors N" in quiet.err
    assert cli.main([*args, "--show-errors", "5"]) == 0
    asked = capsys.readouterr().out
    assert "errors (1)" in asked and "when is my trash day" in asked
    dev_file = tmp_path / "kb_dev.csv"
    dev_file.write_text(csv_file.read_text(encoding="utf-8"), encoding="utf-8")
    assert cli.main(["kb-eval", str(dev_file), "--knowledge-dir", str(FIXTURE)]) == 0
    assert "when is my trash day" in capsys.readouterr().out


def test_kb_eval_refuses_a_bad_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("text,label,lang\nhi,greet,en\n", encoding="utf-8")
    assert cli.main(["kb-eval", str(csv_file), "--knowledge-dir", str(FIXTURE)]) == 2
    assert "header must be text,topic_or_article_id,lang" in capsys.readouterr().err



def test_rasas_runner_up_report_counts_when_the_article_is_about_that_service(search: KnowledgeSearch) -> None:
    """Rasa deferred to the knowledge base (nlu_fallback or faq) but its best other intent is a report form,
    and the knowledge base's article is about that service: the report is offered first, labelled with the
    report's intent. The other way round, a report Rasa chose itself but unsurely gives way to a confident
    answer about something else."""
    decision = search.decide("when is my trash day", "en")
    assert decision.kind is not Kind.FALLBACK
    guess = ReportGuess("report_missed_pickup", "MISSED_PICKUP", 0.45)
    offered = for_intent(decision, FALLBACK_LABEL, search, guess)
    assert offered.kind is Kind.REPORT and decision_label(offered) == "report_missed_pickup"
    shown = offered.to_json()
    assert shown["report"] == "report_missed_pickup" and shown["article"]["id"] == "collection-day"
    assert shown["article"]["service_code"] == "MISSED_PICKUP"
    # the same when Rasa chose faq with the report as its runner-up
    assert for_intent(decision, "faq", search, guess) == offered
    # a weak guess, a guess for another service, or Rasa sure of another intent: the knowledge base's own decision
    for intent in (FALLBACK_LABEL, "faq"):
        assert for_intent(decision, intent, search, replace(guess, confidence=0.2)).kind is not Kind.REPORT
        other = ReportGuess("report_pothole", "POTHOLE", 0.45)
        assert for_intent(decision, intent, search, other).kind is not Kind.REPORT
    # Rasa chose the report itself: the form starts (a report decision with no article to offer) ...
    chosen = for_intent(decision, "report_missed_pickup", search, guess)
    assert chosen.kind is Kind.REPORT and chosen.article is None and decision_label(chosen) == "report_missed_pickup"
    # ... unless Rasa was unsure and the knowledge base answers confidently about another service
    assert decision.kind is Kind.ANSWER
    unsure = ReportGuess("report_pothole", "POTHOLE", REPORT_OVERRULE_BELOW - 0.01)
    assert for_intent(decision, "report_pothole", search, unsure) == decision
    surer = replace(unsure, confidence=REPORT_OVERRULE_BELOW)
    assert for_intent(decision, "report_pothole", search, surer).report == "report_pothole"
    # a question about the service itself gets its article (with "Report it"), however sure Rasa is
    sure = replace(guess, confidence=0.99)
    asked = for_intent(decision, "report_missed_pickup", search, sure, "when will they come back for my trash?")
    assert asked.kind is Kind.ANSWER and asked.article == decision.article
    assert for_intent(decision, "report_missed_pickup", search, sure, "they skipped my trash").kind is Kind.REPORT
    # a menu stands when Rasa chose faq; when Rasa itself fell back, only a strong menu stands
    hits = search.search("when is my trash day", "en")[:3]
    assert len(hits) == 3
    weak = Decision(Kind.MENU, "en", options=tuple(replace(h, score=MENU_MIN_AFTER_RASA_FALLBACK - 0.01 - i / 10)
                                                    for i, h in enumerate(hits)))
    strong = Decision(Kind.MENU, "en", options=(replace(hits[0], score=MENU_MIN_AFTER_RASA_FALLBACK),
                                                *weak.options[1:]))
    for menu in (weak, strong):
        assert for_intent(menu, "faq", search) == menu
    assert for_intent(weak, FALLBACK_LABEL, search).kind is Kind.FALLBACK
    story = " ".join(["word"] * LONG_MESSAGE_WORDS)  # a long story dilutes every score: its menu stands
    assert for_intent(weak, FALLBACK_LABEL, search, text=story) == weak
    assert for_intent(weak, FALLBACK_LABEL, search, text=story.rsplit(" ", 1)[0]).kind is Kind.FALLBACK
    assert for_intent(strong, FALLBACK_LABEL, search) == strong
    assert for_intent(strong, "report_pothole", search, unsure).report == "report_pothole"  # only an answer overrules
    # nothing the knowledge base recognises: still the fallback, whatever Rasa guessed
    unknown = search.decide("asdf qwer zxcv", "en")
    assert for_intent(unknown, FALLBACK_LABEL, search, guess).kind is Kind.FALLBACK
