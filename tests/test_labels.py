"""The one resolved-label rule and the one held-out reader (pure functions, no servers)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from chat_server import bot_model
from chat_server.heldout import HeldoutRow, read_heldout
from chat_server.knowledge.articles import CATALOGUE_FILE, ArticleError, load_rules, parse_within
from chat_server.knowledge.labels import ReportGuess
from chat_server.labels import FALLBACK, resolve_label, runner_up
from chat_server.tickets.catalogue import load_catalogue
from chat_server.training.nlu_eval import Result, at_file_topics, report_guess, summary

ROOT = Path(__file__).resolve().parent.parent


def faq_parse(intent_conf: float, selector_conf: float | None, key: str | None = "faq/trash_schedule") -> dict:
    response: dict = {"intent_response_key": key} if key else {}
    if selector_conf is not None:
        response["confidence"] = selector_conf
    return {"intent": {"name": "faq", "confidence": intent_conf}, "response_selector": {"faq": {"response": response}}}


@pytest.mark.parametrize(("parse", "threshold", "expected"), [
    ({"intent": {"name": "greet", "confidence": 0.93}}, 0.0, ("greet", 0.93)),
    (faq_parse(0.99, 0.62), 0.0, ("faq/trash_schedule", 0.62)),  # the selector's confidence counts
    (faq_parse(0.8, None), 0.0, ("faq/trash_schedule", 0.8)),  # no selector confidence: the intent's
    (faq_parse(0.8, 0.5, key=None), 0.0, ("faq", 0.8)),  # no topic chosen
    (faq_parse(0.99, 0.62), 0.7, (FALLBACK, 0.62)),
    ({"intent": {"name": "greet", "confidence": 0.4}}, 0.5, (FALLBACK, 0.4)),
    ({"intent": {"name": FALLBACK, "confidence": 0.7}}, 0.0, (FALLBACK, 0.7)),
    ({}, 0.0, (FALLBACK, 0.0)),
    (None, 0.0, (FALLBACK, 0.0)),
    ({"intent": {"name": None, "confidence": None}}, 0.0, (FALLBACK, 0.0)),
])
def test_resolve_label(parse: dict | None, threshold: float, expected: tuple[str, float]) -> None:
    assert resolve_label(parse, threshold) == expected


def test_the_bot_uses_the_same_rule() -> None:
    """The chat311 channel and the actions (bot/.venv, cwd bot/) resolve labels with bot/chat311_labels.py,
    the file chat_server loads: one implementation, not copies."""
    code = ("import sys; sys.path.insert(1, '.')\n"
            "import chat311_channel, actions.actions as actions\n"
            "print(chat311_channel.resolve_label.__code__.co_filename)\n"
            "print(actions.resolve_label.__code__.co_filename)\n")
    out = subprocess.run([str(bot_model.BOT_PYTHON), "-c", code], cwd=bot_model.BOT_DIR, capture_output=True,
                         text=True, timeout=300, env={**bot_model.rasa_env(), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    files = {Path(line).resolve() for line in out.stdout.split()}
    assert files == {Path(resolve_label.__code__.co_filename).resolve()}, files


def test_read_heldout(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text('text,label,lang\n"hello, there",greet,en\n Quiero pagar mi factura ,faq/pay_water_bill,ES\n',
                    encoding="utf-8")
    assert read_heldout(good) == [HeldoutRow("hello, there", "greet", "en"),
                                  HeldoutRow("Quiero pagar mi factura", "faq/pay_water_bill", "es")]


@pytest.mark.parametrize(("body", "message"), [
    ("text,label\nhi,greet\n", "missing lang"),
    ("hi,greet,en\n", "header must be text,label,lang"),
    ("text,label,lang\nhi,greet,fr\n", ":2: lang must be one of en, es"),
    ("text,label,lang\nhi,greet,en\n,greet,en\n", ":3: empty text"),
    ("text,label,lang\nhi,,en\n", ":2: empty label"),
    ("text,label,lang\n", "no rows"),
])
def test_read_heldout_refuses_malformed_files(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as exc:
        read_heldout(path)
    assert str(path) in str(exc.value)


def _result(gold: str, label: str | None) -> Result:
    return Result(HeldoutRow(text="q", label=gold, lang="en"), label, 1.0, "en", {})


def test_a_finer_topic_counts_as_the_coarse_label_only_at_the_files_granularity() -> None:
    within = {"stormwater": "flooding", "recycling": "trash_schedule"}
    results = [_result("faq/flooding", "faq/stormwater"),  # finer topic within the label: right at file topics
               _result("faq/flooding", "faq/recycling"),  # finer topic within another label: still wrong
               _result("faq/voting", "faq/voting"),
               _result("nlu_fallback", "faq/stormwater")]  # out of scope answered: wrong either way
    assert at_file_topics(results, within) == ["faq/flooding", "faq/trash_schedule", "faq/voting", "faq/flooding"]
    scores = summary(results, within)
    assert scores["label_accuracy"] == 0.25 and scores["label_accuracy_at_file_topics"] == 0.5
    # a file that uses the finer label itself is scored on it
    finer = [*results, _result("faq/stormwater", "faq/stormwater")]
    assert at_file_topics(finer, within)[0] == "faq/stormwater"


def test_a_report_form_the_coarse_answer_pointed_to_counts_at_the_files_granularity() -> None:
    within = {"report_storm_drain": "flooding"}
    results = [_result("faq/flooding", "report_storm_drain"), _result("faq/voting", "report_storm_drain"),
               _result("faq/flooding", "report_pothole")]
    assert at_file_topics(results, within) == ["faq/flooding", "faq/flooding", "report_pothole"]
    assert summary(results, within)["label_accuracy_at_file_topics"] == round(1 / 3, 4)
    # a file that labels the report itself is scored on it
    assert at_file_topics([*results, _result("report_storm_drain", "report_storm_drain")], within)[0] \
        == "report_storm_drain"


def test_the_shipped_within_section_names_known_topics_one_level_deep() -> None:
    rules = load_rules()
    assert rules.within, "topics.yml should say which finer topics were part of the ten coarse ones"
    assert set(rules.within.values()) <= set(rules.topics) and not set(rules.within.values()) & set(rules.within)
    assert {key for key in rules.within if key.startswith("report_")}, "report forms the coarse answers pointed to"


@pytest.mark.parametrize(("within", "message"), [
    ({"recycling": "nowhere"}, "unknown topic 'nowhere'"),
    ({"report_nothing": "recycling"}, "unknown topic or report label 'report_nothing'"),
    ({"recycling": "trash_schedule", "trash_schedule": "utility_bill"}, "one level only"),
    (["recycling"], "must be a mapping"),
])
def test_a_bad_within_section_names_the_field(within: object, message: str) -> None:
    topics = {"recycling": {}, "trash_schedule": {}, "utility_bill": {}}
    with pytest.raises(ArticleError, match=message) as err:
        parse_within("topics.yml", {"within": within}, topics, frozenset({"report_pothole"}))
    assert str(err.value).startswith("topics.yml: within")


def test_runner_up_is_rasas_best_other_guess_only_when_it_deferred_to_the_knowledge_base() -> None:
    fell_back = {"intent": {"name": FALLBACK, "confidence": 0.5},
                 "intent_ranking": [{"name": FALLBACK, "confidence": 0.5},
                                    {"name": "report_water_leak", "confidence": 0.46},
                                    {"name": "faq", "confidence": 0.3}]}
    assert runner_up(fell_back) == ("report_water_leak", 0.46)
    # behind faq, or behind the fallback with faq next: the best intent that is neither
    chose_faq = {"intent": {"name": "faq", "confidence": 0.56},
                 "intent_ranking": [{"name": "faq", "confidence": 0.56},
                                    {"name": "report_streetlight", "confidence": 0.42}]}
    assert runner_up(chose_faq) == ("report_streetlight", 0.42)
    faq_next = {"intent": {"name": FALLBACK, "confidence": 0.5},
                "intent_ranking": [{"name": FALLBACK, "confidence": 0.5}, {"name": "faq", "confidence": 0.45},
                                   {"name": "report_sewer", "confidence": 0.31}]}
    assert runner_up(faq_next) == ("report_sewer", 0.31)
    assert runner_up({"intent": {"name": "greet", "confidence": 0.9},
                      "intent_ranking": [{"name": "greet", "confidence": 0.9}]}) is None
    assert runner_up({"intent": {"name": FALLBACK, "confidence": 0.5}, "intent_ranking": []}) is None
    assert runner_up(None) is None
    # as the bot sends it: only a catalogue report form is a guess, with the service's code
    catalogue = load_catalogue(CATALOGUE_FILE)
    assert report_guess(fell_back, catalogue) == ReportGuess("report_water_leak", "WATER_LEAK", 0.46)
    greet_guess = {**fell_back, "intent_ranking": [{"name": FALLBACK, "confidence": 0.5},
                                                  {"name": "greet", "confidence": 0.41}]}
    assert report_guess(greet_guess, catalogue) is None


def test_a_message_the_guard_answers_is_an_emergency_whatever_rasa_made_of_it() -> None:
    """The guard answers first and the bot is sent `/emergency`, so nlu-eval scores what the bot does."""
    from chat_server.training.nlu_eval import kb_resolver, resolve_turn

    kb = kb_resolver()
    unsure = {"intent": {"name": FALLBACK, "confidence": 0.5},
              "intent_ranking": [{"name": FALLBACK, "confidence": 0.5}, {"name": "affirm", "confidence": 0.3}]}
    assert resolve_turn("mi esposo se desmayó y no responde", unsure, kb)[:2] == ("emergency", "es")
    pothole = {"intent": {"name": "report_pothole", "confidence": 0.89},
               "intent_ranking": [{"name": "report_pothole", "confidence": 0.89}]}
    assert resolve_turn("a huge pothole on Sharon Amity near the gas station", pothole, kb)[0] == "report_pothole"
