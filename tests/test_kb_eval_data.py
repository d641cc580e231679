"""The knowledge-base evaluation files measure what the issue asks of them: a dev file (the calibration
is fitted on it) and a test file (never tuned on) of resident questions written independently of the
articles' sample questions. A row that is a near-copy of a sample question of its own answer (or of an
out-of-scope example, for an out-of-scope row) measures memory: the search has that text indexed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from chat_server.knowledge.articles import load_articles
from chat_server.knowledge.evaluate import EvalRow, read_rows
from chat_server.knowledge.scope import load_out_of_scope
from chat_server.knowledge.search import FALLBACK_LABEL
from tests.support.near_copies import copies_any, fold

DATA = Path(__file__).resolve().parent / "data"
DEV = DATA / "kb_dev.csv"
TEST = DATA / "kb_test.csv"


def sample_questions() -> dict[str, list[str]]:
    """Folded sample questions by every label that can name them: article id, topic, fallback."""
    by_label: dict[str, list[str]] = {}
    for article in load_articles():
        folded = [fold(q) for qs in article.questions.values() for q in qs]
        by_label.setdefault(article.id, []).extend(folded)
        by_label.setdefault(article.topic, []).extend(folded)
    by_label[FALLBACK_LABEL] = [fold(q) for qs in load_out_of_scope().questions.values() for q in qs]
    return by_label


def copies_of_own_samples(rows: list[EvalRow]) -> list[str]:
    samples = sample_questions()
    return [row.text for row in rows if copies_any(row.text, samples.get(row.label, []))]


@pytest.mark.parametrize("path", [DEV, TEST], ids=["dev", "test"])
def test_rows_are_well_formed(path: Path) -> None:
    rows = read_rows(path)
    labels = set(sample_questions())
    assert [r.label for r in rows if r.label not in labels] == []
    assert [r.lang for r in rows if r.lang not in ("en", "es")] == []
    assert len({fold(r.text) for r in rows}) == len(rows), f"{path.name} repeats a row"
    langs = Counter(r.lang for r in rows)
    assert min(langs["en"], langs["es"]) >= len(rows) // 4, langs
    out_of_scope = sum(not r.in_scope for r in rows)
    assert 0.1 * len(rows) <= out_of_scope <= 0.3 * len(rows), out_of_scope


def test_test_file_is_large_enough() -> None:
    assert len(read_rows(TEST)) >= 400


def test_dev_and_test_are_disjoint() -> None:
    dev = [fold(r.text) for r in read_rows(DEV)]
    overlap = [r.text for r in read_rows(TEST) if copies_any(r.text, dev)]
    assert overlap == []


@pytest.mark.parametrize("path", [DEV, TEST], ids=["dev", "test"])
def test_no_row_copies_a_sample_question_of_its_answer(path: Path) -> None:
    assert copies_of_own_samples(read_rows(path)) == []


def test_a_copy_is_caught() -> None:
    """The rule itself: a sample question is a copy of its own article, not of another one."""
    article = load_articles()[0]
    other = next(a for a in load_articles() if a.topic != article.topic)
    question = article.questions["en"][0]
    assert copies_of_own_samples([EvalRow(question.upper() + "?", article.id, "en")]) == [question.upper() + "?"]
    assert copies_of_own_samples([EvalRow(question, other.id, "en")]) == []
