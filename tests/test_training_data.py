"""Edits of Rasa training data on a temporary copy of the project's training_data/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from chat_server.training.data import DataError, TrainingData
from chat_server.training.label_names import LabelNamesError, load_label_names, readable

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def data(tmp_path: Path) -> TrainingData:
    shutil.copytree(ROOT / "training_data", tmp_path / "training_data")
    return TrainingData(tmp_path / "training_data")


def test_labels_are_the_plain_intents(data: TrainingData) -> None:
    labels = data.labels()
    assert {"greet", "faq", "report_pothole"} <= set(labels)
    assert labels == sorted(labels)
    assert "nlu_fallback" not in labels
    assert not [label for label in labels if "/" in label]  # no retrieval intents any more


def test_add_example_goes_to_the_language_file_and_stays_valid(data: TrainingData) -> None:
    before = (data.root / "nlu_faq_es.yml").read_text()
    path = data.add_example("faq", "¿Pasan   a recoger la basura el {lunes} [feriado]?", "es")
    assert path.name == "nlu_faq_es.yml"
    after = path.read_text()
    assert len(after.splitlines()) == len(before.splitlines()) + 1
    assert "¿Pasan a recoger la basura el lunes feriado?" in data.examples("faq")
    for f in data.files():
        yaml.safe_load(f.read_text())
    # The comment header and every other block are untouched.
    assert [line for line in after.splitlines() if not line.endswith("feriado?")] == before.splitlines()
    # English goes to the English file of the same group.
    assert data.add_example("faq", "is trash pickup late on the holiday", "en").name == "nlu_faq_en.yml"
    assert data.add_example("report_pothole", "hay un bache enorme en mi calle", "es").name == "nlu_reports_es.yml"
    with pytest.raises(DataError, match="already an example"):
        data.add_example("greet", "¿PASAN a recoger la basura el lunes feriado?", "es")
    with pytest.raises(DataError, match="unknown label"):
        data.add_example("made_up", "something", "en")
    with pytest.raises(DataError, match="knowledge-base articles"):
        data.add_example("faq/trash_schedule", "when is trash day", "en")
    for personal in ("my name is [name], when is leaf season", "call me back at [phone …88] about my bill",
                     "my number is 704-555-0142 and my trash was missed"):
        with pytest.raises(DataError, match="personal data"):
            data.add_example("thank", personal, "en")
    with pytest.raises(DataError, match="not a trainable"):
        data.add_example("nlu_fallback", "who wrote don quixote", "en")
    with pytest.raises(DataError, match="language"):
        data.add_example("faq", "quand passe la poubelle", "fr")


def test_label_names_cover_the_intents_and_bad_files_name_the_key(data: TrainingData, tmp_path: Path) -> None:
    names = load_label_names()
    assert set(data.labels()) <= set(names)  # every intent has a readable name
    assert readable("report_pothole", names) == "Report: pothole"
    assert readable("new_intent", names) == "new intent"
    bad = tmp_path / "names.yml"
    bad.write_text("greet: Greeting\nfaq: ''\n")
    with pytest.raises(LabelNamesError, match=r"names\.yml: faq: the name"):
        load_label_names(bad)
    bad.write_text("faq/trash: Trash\n")
    with pytest.raises(LabelNamesError, match="not an intent name"):
        load_label_names(bad)
