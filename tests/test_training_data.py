"""Edits of Rasa training data on a temporary copy of the project's training_data/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from chat_server.training.data import DataError, TrainingData

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def data(tmp_path: Path) -> TrainingData:
    shutil.copytree(ROOT / "training_data", tmp_path / "training_data")
    return TrainingData(tmp_path / "training_data")


def test_labels_come_from_the_files(data: TrainingData) -> None:
    labels = data.labels()
    assert "greet" in labels and "faq/utility_bill" in labels and "report_pothole" in labels
    assert "nlu_fallback" not in labels
    assert labels.index("faq/utility_bill") > labels.index("report_pothole")


def test_add_example_goes_to_the_language_file_and_stays_valid(data: TrainingData) -> None:
    before = (data.root / "nlu_faq_es.yml").read_text()
    path = data.add_example("faq/trash_schedule", "¿Pasan   a recoger la basura el [phone …34] feriado?", "es")
    assert path.name == "nlu_faq_es.yml"
    after = path.read_text()
    assert after.startswith(before.split("\n")[0]) and len(after.splitlines()) == len(before.splitlines()) + 1
    assert "¿Pasan a recoger la basura el phone …34 feriado?" in data.examples("faq/trash_schedule")
    for f in data.files():
        yaml.safe_load(f.read_text())
    # The comment header and every other block are untouched.
    assert [line for line in after.splitlines() if not line.endswith("feriado?")] == before.splitlines()
    with pytest.raises(DataError, match="already an example"):
        data.add_example("greet", "¿PASAN a recoger la basura el phone …34 feriado?", "es")
    with pytest.raises(DataError, match="unknown label"):
        data.add_example("made_up", "something", "en")


def test_add_faq_writes_answers_and_examples(data: TrainingData) -> None:
    en = ("Food trucks need a city permit. Apply online at charlottenc.gov/foodtrucks at least 10 days ahead: "
          "it costs $50.")
    es = "Los camiones de comida necesitan un permiso: solicítelo en charlottenc.gov/foodtrucks # con 10 días."
    changed = data.add_faq("food_trucks", en, es, [("how do I get a food truck permit", "en"),
                                                     ("permiso para camión de comida", "es")])
    assert {p.name for p in changed} == {"faq_responses.yml", "nlu_faq_en.yml", "nlu_faq_es.yml"}
    assert data.faq_answer("food_trucks", "en") == en and data.faq_answer("food_trucks", "es") == es
    assert "faq/food_trucks" in data.labels()
    responses = yaml.safe_load((data.root / "faq_responses.yml").read_text())["responses"]
    assert responses["utter_faq/food_trucks"][1]["condition"][0] == {"type": "slot", "name": "language",
                                                                     "value": "es"}
    assert "food_trucks" in data.faq_keys()
    with pytest.raises(DataError, match="exists already"):
        data.add_faq("food_trucks", "x", "y", [("another question", "en")])
    with pytest.raises(DataError, match="key"):
        data.add_faq("Bad Key!", "x", "y", [("q", "en")])
    data.add_example("faq/food_trucks", "food truck license", "en")
    assert data.examples("faq/food_trucks") == ["how do I get a food truck permit", "food truck license",
                                                "permiso para camión de comida"]
