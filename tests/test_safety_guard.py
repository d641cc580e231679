"""The emergency guard (chat_server/safety.py): wordings, look-alikes, normalisation, and the measured
recall / false-alarm rate on the held-out set (issue 13, item 2). Pure and fast: no services."""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from chat_server import emergency_examples, safety, safety_eval
from chat_server.cli import main as cli_main
from chat_server.safety import emergency_language, emergency_reply, normalise

DATA = Path(__file__).parent / "data"
EXAMPLES = emergency_examples.EXAMPLES  # the dev set: the patterns are tuned on it, the semantic net learns from it


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        # missed by the old patterns (issue 13)
        ("my house is burning", "en"),
        ("my h0use is 0n f1re", "en"),
        ("there's smoke coming out of my neighbour's window", "en"),
        ("my friends took too many pills and won't wake up", "en"),
        ("my neighbor is beating his wife", "en"),
        ("my baby is choking", "en"),
        ("the carbon monoxide alarm is going off and we're all dizzy", "en"),
        ("apuñalaron a alguien", "es"),
        # wordings the brief names
        ("someone collapsed in the parking lot", "en"),
        ("gas smell in the whole building", "en"),
        ("I can't breathe", "en"),
        ("my son overdosed", "en"),
        ("shooting on my street right now", "en"),
        ("domestic violence next door", "en"),
        ("FIIIIRE in the kitchen!!!", "en"),
        ("$moke everywhere", "en"),
        ("mi casa se está quemando", "es"),
        ("MI BEBÉ NO RESPIRA", "es"),
        ("hay humo saliendo de la casa del vecino", "es"),
        # missed by the patterns until residents tried them (2026-12-06)
        ("my son cut his hand really bad on the broken lid, theres a lot of blood", "en"),
        ("there's so much blood", "en"),
        ("se cortó la mano bien feo", "es"),
        ("hay sangre por todos lados", "es"),
        # a shared word ("911") is answered in the language of the rest of the message
        # missed by the guard in probe Q's messages (2026-12-07)
        ("my dad fell in the bathroom and isn't answering me", "en"),
        ("mi abuela se cayó y no me contesta", "es"),
        ("there's a kid in the pond at Freedom Park he went under and hasnt come up", "en"),
        ("hay alguien adentro de mi casa, estoy escondida en el cuarto", "es"),
        ("huele muy fuerte a gas en mi cocina", "es"),
        ("the stop sign was hit by a truck and the driver is hurt", "en"),
        ("the pole is down, a cyclist got hit by a car", "en"),
        ("911 ayuda por favor", "es"),
        ("llamen al 911", "es"),
        ("911 please", "en"),
        ("I called 911 but he's still bleeding", "en"),  # what happened before is no reason to stop
        # missed in probe AC's fresh messages (2026-12-07), one per kind
        ("im going to end it tonight", "en"),
        ("I'm thinking of killing myself", "en"),
        ("quiero morirme", "es"),
        ("voy a terminar con todo esta noche", "es"),
        ("theres a man on the ledge of the parking deck threatening to jump", "en"),
        ("mi novia dice que se va a tirar del edificio", "es"),
        ("he's not responding", "en"),
        ("le duele el pecho", "es"),
        ("mi hermano esta atrapado", "es"),
        ("it smells really strong like rotten eggs in my whole house", "en"),
        ("there's a little kid alone walking on the highway", "en"),
        ("hay un senor con un machete amenazando gente en la tienda", "es"),
        ("the water is up to the windows and we can't get out", "en"),
        ("the electrical box is smoking and sparking inside my apartment", "en"),
        ("me tome un monton de pastillas para dormir", "es"),
    ],
)
def test_emergency_wordings_are_caught_in_the_residents_language(text: str, lang: str) -> None:
    assert emergency_language(text) == lang
    assert "911" in emergency_reply(lang)


@pytest.mark.parametrize(
    "text",
    [
        # false alarms of the old patterns (issue 13)
        "what are the shooting range hours",
        "I need a fire inspection for my business",
        "how do I change the smoke detector battery",
        "the gas station sign on Wilkinson is broken",
        "is the pool at the rec center heated",
        # look-alikes the brief names
        "fire hydrant leaking",
        "fireworks permit",
        "how do I get a fire department job",
        "do I need a burn permit",
        "where do I get a gun permit",
        "emergency rental assistance",
        "what is the non-emergency police number",
        "hidrante de incendios con fuga",
        "permiso para fuegos artificiales",
        "pothole on 5th street",
        "blood drive at the library this saturday",
        "the crew cut the branches off really bad",
        "ok called 911. its at 2200 Park Rd",  # told once; the form goes on
        "I've already called 911, the tree is on Sharon Rd",
        "ya llamamos al 911, la dirección es 5512 Albemarle Rd",
        "hay basura tirada en la calle Oak",  # litter "lying" in the street is no person
        "hay un perro tirado en la calle",  # a dead animal: a 311 report
        "hay un árbol caído tapando la calle y no podemos salir del vecindario",  # a blocked road, nobody trapped
        "the light pole at the entrance to our neighborhood got hit by a car a while back",  # a streetlight report
        "the tree fell and the city is not answering my calls",
        # a report of a crash that is over, and a hurt animal (probe T: both got the 911 answer instead of theirs)
        "how do i get a police report for a car accident",
        "como saco el reporte de mi accidente de carro",
        "found an injured cat in the street",
        "encontre un gato herido en la calle",
    ],
)
def test_look_alikes_are_not_emergencies(text: str) -> None:
    assert emergency_language(text) is None


@pytest.mark.parametrize("text", [
    "what number do I call for non emergencies", "cual es el numero para cosas que no son emergencia",
    "when should i call 911 instead of 311", "que pasa si llamo al 911 por accidente",
    "the drowning prevention program at the pool, how do i sign up my son",
    "this heat wave is killing me lol", "we can't get out of our driveway, a tree is blocking it",
    "my tap water smells like rotten eggs",
])
def test_questions_about_911_and_emergency_programs_are_not_emergencies(text: str) -> None:
    """Probe AC: any message with "911" or "non emergencies" got only the 911 answer, its question unanswered."""
    assert emergency_language(text) is None


@pytest.mark.parametrize(("text", "asks"), [
    ("what should i do if i ever smell gas in my house", True),
    ("que hago si algun dia huele a gas en mi casa", True),
    ("last year our house burned down and I still need the debris removed", True),
    ("hubo una balacera en mi colonia la semana pasada, pueden poner mas luces", True),
    ("EMERGENCY: my garbage cart was stolen!!!", True),  # only the word: it may be one, and it is a question
    ("911", True),
    ("i smell gas in my house", False),
    ("my husband is not breathing", False),
    ("i want to kill myself", False),
    ("explosion at the plant on my street", False),
    ("la señora de al lado lleva una hora gritando auxilio", False),
])
def test_a_question_about_emergencies_is_told_apart_from_one_happening(text: str, asks: bool) -> None:
    """The guard answers both; the bot hears the words of the first kind too, so its question is answered."""
    assert emergency_language(text) is not None
    assert safety.asks_about_emergencies(text) is asks


@pytest.mark.parametrize(("typed", "read"), [
    ("ther is a fier in my aparment", "ther is a fire in my aparment"),
    ("my nieghbor is unconsious", "my nieghbor is unconscious"),
    ("someone is drownding in the lake", "someone is drowning in the lake"),
    ("uele a gas en mi casa", "huele a gas en mi casa"),
    ("se esta aogando un niño", "se esta ahogando un nino"),
    ("my neighbors are shouting", "my neighbors are shouting"),  # a word of its own, one letter from "shooting"
    ("a fir tree fell", "a fir tre fel"),  # short words: only two letters swapped count
])
def test_misspelt_key_words_are_read_as_meant(typed: str, read: str) -> None:
    """Probe AD: "fier", "unconsious", "drownding", "uele a gas" went unanswered while the words spelt right did not."""
    assert normalise(typed) == read


def test_no_misspelling_the_guard_corrects_is_a_word_residents_write() -> None:
    """A variant that is an ordinary word ("turning" for "burning", "showing" for "shooting") would turn 311 questions
    into emergencies; the only ones residents write are forms of the same word ("incendios", "atrapada")."""
    root = Path(__file__).resolve().parent.parent
    files = [*root.glob("training_data/**/*.yml"), *root.glob("chat_server/resident_texts/*.yml")]
    def folded(text: str) -> set[str]:  # as normalise folds a word, before it corrects one
        ascii_text = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode("ascii")
        return {re.sub(r"([a-z])\1+", r"\1", w) for w in re.findall(r"[a-z0-9]+", ascii_text.replace("'", ""))}

    texts = [f.read_text(encoding="utf-8") for f in files]
    texts += [r.text for r in emergency_examples.read_rows(EXAMPLES) if r.label != "emergency"]
    words = {w for text in texts for w in folded(text)}
    corrected = {typo: meant for typo, meant in safety._TYPOS.items() if typo in words}
    assert all(meant[:5] == typo[:5] for typo, meant in corrected.items()), corrected


def test_the_dev_set_stays_caught() -> None:
    """Every wording added for a miss keeps working (the dev set holds probe AC's fresh messages too)."""
    rows = emergency_examples.read_rows(EXAMPLES)
    summary = safety_eval.summarise(safety_eval.evaluate(rows))
    assert summary.recall == 1.0, summary
    assert summary.false_alarm_rate <= 0.05, summary
    # the false alarms left are past events, hypotheticals and questions: the bot answers them too
    alarms = [r.text for r in rows if r.label != "emergency" and emergency_language(r.text)]
    assert [t for t in alarms if not safety.asks_about_emergencies(t)] == []


def test_someone_lying_on_the_ground_is_still_an_emergency() -> None:
    assert emergency_language("mi papá está tirado en el piso y no contesta") == "es"
    assert emergency_language("hay un hombre tirado en la calle") == "es"
    assert emergency_language("tirado en el suelo sin moverse") == "es"


def test_a_masked_look_alike_does_not_hide_an_emergency_in_the_same_message() -> None:
    assert emergency_language("the smoke detector is going off and the hallway is full of smoke") == "en"
    assert emergency_language("someone got shot at the gas station") == "en"
    assert emergency_language("my dog was hit by a car and my son is bleeding") == "en"
    assert emergency_language("el perro mordió a mi hijo y está herido") == "es"


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("My House Is On FIRE!!!", "my house is on fire"),
        ("fiiiire", "fire"),
        ("h0use 0n f1re", "house on fire"),
        ("$m0ke @ my pl@ce", "smoke my place"),
        ("Apuñalaron a alguién ¿¡", "apunalaron a alguien"),
        ("can't   breathe…", "cant breathe"),
        ("can’t breathe", "cant breathe"),
        ("call 911 at 5th st 28202", "cal 911 at sth st 28202"),
        ("call911now", "cal 911 now"),
        ("  ", ""),
    ],
)
def test_normalise(raw: str, folded: str) -> None:
    assert normalise(raw) == folded


def test_patterns_are_folded_like_text() -> None:
    """Doubled letters in a pattern match the folded text ("bleeding" → "bleding")."""
    assert emergency_language("he is bleeding") == "en"
    assert emergency_language("bleeeeding") == "en"


def test_no_pattern_lost_a_quantifier_to_string_formatting() -> None:
    """In an rf-string `.{0,50}` is a tuple, `.(0, 50)`: "my dad fell ... isn't answering me" never matched."""
    fragments = safety._EN + safety._ES + safety._SHARED + safety.NEGATIVES
    assert not [f for f in fragments if re.search(r"\(\d+, \d+\)", f)]


def test_a_pattern_that_can_start_anywhere_is_refused() -> None:
    with pytest.raises(ValueError, match="must begin with"):
        safety._prefixes(r"\w+ burning")


def test_word_start_index_agrees_with_a_plain_scan() -> None:
    """The index is an optimisation only: on every labelled message, before and after masking, it
    finds a match exactly when one plain regex over the same fragments does."""
    fragments = {"en": safety._EN, "es": safety._ES, "shared": safety._SHARED}
    plain = {name: safety._plain(group) for name, group in fragments.items()}
    plain_any = safety._plain(safety._EN + safety._ES + safety._SHARED)
    texts = [row.text for path in (EXAMPLES, DATA / "emergency_test.csv") for row in emergency_examples.read_rows(path)]
    for text in texts:
        folded = normalise(text)
        assert safety._ANY.search(folded) == bool(plain_any.search(folded)), text
        masked = safety._NEGATIVE_RE.sub(" | ", folded)
        for name, index in safety._BY_LANGUAGE.items():
            assert index.search(masked) == bool(plain[name].search(masked)), (name, text)


def _rows(path: Path) -> list[tuple[str, str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [(r["text"], r["label"], r["lang"]) for r in csv.DictReader(fh)]


def test_eval_set_is_the_dev_and_test_sets_and_big_enough() -> None:
    dev, test, full = _rows(EXAMPLES), _rows(DATA / "emergency_test.csv"), _rows(DATA / "emergency_eval.csv")
    assert sorted(full) == sorted(dev + test)
    assert not {t for t, _, _ in dev} & {t for t, _, _ in test}, "dev and test overlap"
    labels = [label for _, label, _ in full]
    assert labels.count("emergency") >= 170 and labels.count("none") >= 330
    assert {lang for _, _, lang in full} == {"en", "es"}


def test_held_out_set_meets_the_goals() -> None:
    """Issue 13: recall ≥ 0.98 and false alarms ≤ 1 % on messages the patterns were not tuned on."""
    summary = safety_eval.summarise(safety_eval.evaluate(emergency_examples.read_rows(DATA / "emergency_test.csv")))
    assert summary.recall >= 0.98, summary
    assert summary.false_alarm_rate <= 0.01, summary
    assert summary.language_accuracy >= 0.95, summary


def test_safety_eval_command_prints_misses_and_one_json_line(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    sample = tmp_path / "sample.csv"
    sample.write_text("text,label,lang\nmy house is on fire,emergency,en\nmy cat is sad,emergency,en\n"
                      "shooting range hours,none,en\ntrash day,none,en\nhay un incendio,emergency,en\n",
                      encoding="utf-8")
    assert cli_main(["safety-eval", str(sample)]) == 0
    out = capsys.readouterr().out
    assert "missed emergencies (1):" in out and "my cat is sad" in out
    assert "false alarms (0):" in out
    assert "wrong language (1):" in out and "hay un incendio" in out
    assert out.strip().splitlines()[-1] == (
        '{"n": 5, "recall": 0.6667, "false_alarm_rate": 0.0, "language_accuracy": 0.5}')


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("words,label\nhi,none\n", "header must be text,label,lang"),
        ("text,label,lang\nhi,maybe,en\n", ":2: label must be emergency or none"),
        ("text,label,lang\n", "no rows"),
    ],
)
def test_safety_eval_rejects_a_bad_file_clearly(tmp_path: Path, content: str, error: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content, encoding="utf-8")
    assert safety_eval.main([str(bad)]) == 2
    assert error in capsys.readouterr().err


def test_the_911_answer_adds_what_to_do_for_gas_and_downed_lines_only() -> None:
    """A gas smell got the downed-line advice when one message served every emergency."""
    gas = emergency_reply("en", "I smell gas near the meter outside my house")
    assert "911" in gas and "Piedmont Natural Gas" in gas and "30 feet" not in gas
    assert "Piedmont Natural Gas" in emergency_reply("es", "huele mucho a gas en mi cocina")
    lines = emergency_reply("es", "cayeron cables de luz en la calle")
    assert "10 metros" in lines and "gas" not in lines
    fire = emergency_reply("en", "my house is on fire")
    assert fire == emergency_reply("en") and "911" in fire
    assert "Piedmont" not in emergency_reply("en", "the gas station sign fell and my house is on fire")
    # thoughts of suicide: 911, and the 988 Suicide & Crisis Lifeline (probe H: only the generic text)
    crisis = emergency_reply("en", "i want to kill myself")
    assert "911" in crisis and "988" in crisis and "988" not in fire
    assert "988" in emergency_reply("es", "me quiero matar") and "marque 2" in emergency_reply("es", "suicidio")
    # poisoning: 911 first, and the Poison Help line (probe V: "my kid just swallowed bleach" got only the generic)
    poison = emergency_reply("en", "my kid just swallowed bleach")
    assert poison.startswith(emergency_reply("en")) and "1-800-222-1222" in poison and "1-800-222-1222" not in fire
    assert "1-800-222-1222" in emergency_reply("es", "mi hijo se tomó cloro") and "988" not in poison
    assert "1-800-222-1222" not in emergency_reply("en", "rat poison for my yard, and my house is on fire")


@pytest.fixture(scope="module")
def meaning_net() -> Any:
    from chat_server.knowledge.semantic import UniversalSentenceEncoder
    from chat_server.safety_semantic import SemanticNet

    return SemanticNet.from_examples(UniversalSentenceEncoder())


@pytest.mark.parametrize("text", [
    # crisis said without the usual words: the net's noise look-alikes must not hide it, so the wordings have it
    "I can't sleep and I don't want to be here anymore", "no puedo dormir y ya no quiero vivir",
    "ya no aguanto más, no duermo y quiero desaparecer",
])
def test_a_crisis_about_sleep_is_still_answered(meaning_net: Any, text: str) -> None:
    assert emergency_language(text) is not None or meaning_net.reads_emergency(text)


@pytest.mark.parametrize(("text", "emergency"), [
    # Typed in capitals, ordinary 311 messages read as emergencies to the case-reading model (probe AG: 17.9 % of the
    # held-out non-emergencies once upper-cased), and got the 911 and 988 lines on every turn of a report.
    ("POTHOLE ON 5TH STREET", False), ("SUBMIT", False), ("I NEED TO TALK TO A PERSON", False),
    ("WHEN IS BULK ITEM PICKUP", False), ("ME PUSIERON UNA MULTA DE ESTACIONAMIENTO", False),
    ("MY GRANDPA IS ON THE FLOOR AND HIS EYES ARE ROLLING BACK", True),
    # what thousands ask during a water main break (probe AG: told to call 911)
    ("we have no water", False), ("why is there no water pressure at my house", False),
    ("no tengo agua en mi casa desde esta mañana", False),
    # a noise report's "is it happening now?" answered in Spanish got the 911 and 988 lines, and the answer was lost
    # (probe AJ); these are not the examples' own words
    ("si, ahorita mismo, no me deja dormir", False), ("la musica no me deja dormir", False),
    ("sí, está pasando ahorita, no puedo dormir", False),
])
def test_the_semantic_net_reads_capitals_as_words_and_outages_as_questions(meaning_net: Any, text: str,
                                                                           emergency: bool) -> None:
    assert meaning_net.reads_emergency(text) is emergency
