"""Held-out NLU data is really held out: a dev file (thresholds are tuned on it) and a test file (never
tuned on), both well-formed, disjoint, covering every label, and with no row that is a (near-)copy of a
training example in training_data/nlu_*.yml, nor of a knowledge-base sample question of its own answer
(an article of the row's topic, or of a finer topic within it), since `faq` rows are answered by that
search (tests/support/near_copies.py says what a near-copy is).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from chat_server.heldout import HeldoutRow, read_heldout
from chat_server.knowledge.articles import load_articles, load_rules
from tests.support.bot import DESIGN_LABELS
from tests.support.near_copies import copies_any, fold, near_duplicate

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "tests" / "data" / "heldout_dev.csv"
TEST = ROOT / "tests" / "data" / "heldout_test.csv"


def training_examples() -> list[str]:
    out = []
    for path in sorted((ROOT / "training_data").glob("nlu_*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            if isinstance(item, dict) and "intent" in item:
                out.extend(line.strip()[2:].strip() for line in str(item.get("examples", "")).splitlines()
                           if line.strip().startswith("- "))
    return out


def copies_of_training(rows: list[HeldoutRow]) -> list[tuple[str, str]]:
    trained = sorted({fold(t) for t in training_examples()})
    found = []
    for row in rows:
        text = fold(row.text)
        match = next((t for t in trained if near_duplicate(text, t)), None)
        if match is not None:
            found.append((row.text, match))
    return found


def copies_of_knowledge(rows: list[HeldoutRow]) -> list[str]:
    within = load_rules().within
    samples: dict[str, list[str]] = {}
    for article in load_articles():
        for topic in {article.topic, within.get(article.topic, article.topic)}:
            samples.setdefault(f"faq/{topic}", []).extend(fold(q) for qs in article.questions.values() for q in qs)
    return [row.text for row in rows if copies_any(row.text, samples.get(row.label, []))]


def test_near_duplicate_rule() -> None:
    assert fold("Hello, THERE!") == fold("hello there") == "hello there"
    assert fold("where do i pay my [water](utility) bill?") == "where do i pay my water bill"
    assert near_duplicate(fold("When is my trash picked up?"), fold("when is my trash picked up"))
    assert near_duplicate(fold("when is trash picked up"), fold("when is my trash picked up"))  # difflib
    assert near_duplicate(fold("pay my water bill online"), fold("pay water bill online my"))  # Jaccard
    assert not near_duplicate(fold("how do I adopt a dog"), fold("my dog got loose, who do I call"))


@pytest.mark.parametrize("path", [DEV, TEST], ids=["dev", "test"])
def test_heldout_file_covers_every_label(path: Path) -> None:
    rows = read_heldout(path)
    counts = Counter((r.label, r.lang) for r in rows)
    for label in DESIGN_LABELS:
        assert counts[(label, "en")] >= 3 and counts[(label, "es")] >= 3, (path.name, label, counts[(label, "en")],
                                                                           counts[(label, "es")])
    assert counts[("nlu_fallback", "en")] >= 10 and counts[("nlu_fallback", "es")] >= 10, path.name
    assert len({fold(r.text) for r in rows}) == len(rows), f"{path.name} repeats a row"


def test_dev_and_test_are_disjoint() -> None:
    dev = {fold(r.text) for r in read_heldout(DEV)}
    overlap = [r.text for r in read_heldout(TEST) if copies_any(r.text, dev)]
    assert overlap == []


@pytest.mark.parametrize("path", [DEV, TEST], ids=["dev", "test"])
def test_no_heldout_row_copies_training_data(path: Path) -> None:
    assert copies_of_training(read_heldout(path)) == []


@pytest.mark.parametrize("path", [DEV, TEST], ids=["dev", "test"])
def test_no_heldout_row_copies_a_knowledge_sample_question(path: Path) -> None:
    assert copies_of_knowledge(read_heldout(path)) == []
