"""The Rasa project's data: `rasa data validate`, generated files in sync, label coverage
(held-out hygiene: tests/test_heldout_data.py)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

from chat_server import bot_model
from chat_server.knowledge.articles import load_articles
from tests.support.bot import DESIGN_LABELS, FAQ_TOPICS

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"
DATA = ROOT / "training_data"
BOT_PYTHON = BOT / ".venv" / "bin" / "python"

# The intents the model is trained on: DESIGN's labels, but one `faq` intent for every question (the
# knowledge base then decides faq/<topic>).
TRAINED_INTENTS = [label for label in DESIGN_LABELS if not label.startswith("faq/")] + ["faq"]
# Rasa 3.6 false positive: form prompts (utter_ask_*) are used by forms, not by rules; and the
# knowledge-base buttons' intents only ever arrive as payloads (/kb_article{...}), never typed.
KNOWN_WARNINGS = (re.compile(r"The utterance 'utter_ask_\w+' is not used in any story or rule"),
                  re.compile(r"The intent 'kb_(article|details|feedback|none)' is listed in the domain file, "
                             r"but is not found in the NLU training data\."))


def _env() -> dict[str, str]:
    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONWARNINGS": "ignore", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "MPLCONFIGDIR": str(ROOT / "var" / "mpl")}


def test_rasa_data_validate_is_clean() -> None:
    proc = subprocess.run(
        [str(BOT / ".venv" / "bin" / "rasa"), "data", "validate", "--domain", "domain.yml",
         "--data", *map(str, bot_model.training_files()), "--config", "config.yml"],
        cwd=BOT, env=_env(), capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    warnings = [line.split("UserWarning: ", 1)[1].strip() for line in output.splitlines()
                if "UserWarning: " in line]
    unexpected = [w for w in warnings if not any(p.search(w) for p in KNOWN_WARNINGS)]
    assert unexpected == [], unexpected
    assert "No story structure conflicts found" in output


def test_generated_domain_and_form_rules_are_in_sync() -> None:
    code = ("import sys; sys.path.insert(0, 'bot'); import build_domain as b\n"
            "stale = [str(p) for p, t in b.outputs().items() if p.read_text(encoding='utf-8') != t]\n"
            "print('\\n'.join(stale)); sys.exit(1 if stale else 0)")
    proc = subprocess.run([str(BOT_PYTHON), "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"re-run bot/build_domain.py; stale: {proc.stdout}{proc.stderr}"


def _examples() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted(DATA.glob("nlu_*.yml")):
        lang = path.stem.rsplit("_", 1)[-1]
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            if "intent" in item:
                lines = [ln[2:].strip() for ln in item["examples"].splitlines() if ln.strip().startswith("- ")]
                out.setdefault(f"{item['intent']}|{lang}", []).extend(lines)
    return out


def test_every_trained_intent_has_20_examples_per_language() -> None:
    examples = _examples()
    for label in TRAINED_INTENTS:
        for lang in ("en", "es"):
            assert len(examples.get(f"{label}|{lang}", [])) >= 20 * (len(FAQ_TOPICS) if label == "faq" else 1), \
                (label, lang)
    intents = {key.split("|")[0] for key in examples}
    # the only other intents: the catalogue's other report labels, a form helper, and out_of_scope
    # (reported as nlu_fallback)
    assert intents - set(TRAINED_INTENTS) == {*_catalogue_labels(), "share_location", "out_of_scope"} - set(
        TRAINED_INTENTS)
    for label in _catalogue_labels():  # every service the bot can file has natural phrases in both languages
        for lang in ("en", "es"):
            assert len(examples.get(f"{label}|{lang}", [])) >= 9, (label, lang)
    assert "nlu_fallback" not in intents and not any(i.startswith("faq/") for i in intents)


def test_every_faq_topic_has_knowledge_base_articles() -> None:
    """faq/<topic> labels (held-out file, stored labels, reports) keep meaning what they did."""
    topics = {article.topic for article in load_articles()}
    assert set(FAQ_TOPICS) <= topics


def _catalogue_labels() -> list[str]:
    from chat_server.tickets.catalogue import load_catalogue

    return [s.label for s in load_catalogue(ROOT / "chat_server" / "tickets" / "catalogue.yml").labelled]


def test_the_bot_reads_the_same_catalogue_as_open311_and_the_console() -> None:
    """One source: the action server's view of every service (through bot/actions/catalogue.py, in the bot's
    own venv) equals chat_server's, attribute by attribute and value by value; there is no second copy."""
    from chat_server.tickets.catalogue import load_catalogue

    code = ("import json, sys; sys.path.insert(0, 'bot'); from actions.catalogue import CATALOGUE\n"
            "print(json.dumps({s.service_code: [s.label, [[a.code, a.datatype, a.required, a.prompts,"
            " [v.key for v in a.values]] for a in s.attributes]] for s in CATALOGUE}))")
    proc = subprocess.run([str(BOT_PYTHON), "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    server = load_catalogue(ROOT / "chat_server" / "tickets" / "catalogue.yml")
    expected = {s.service_code: [s.label, [[a.code, a.datatype, a.required, a.prompts, [v.key for v in a.values]]
                                           for a in s.attributes]] for s in server}
    import json

    assert json.loads(proc.stdout) == expected
    assert not (BOT / "actions" / "services.py").exists()
    domain = yaml.safe_load((BOT / "domain.yml").read_text(encoding="utf-8"))
    assert {i for i in domain["intents"] if i.startswith("report_")} == {s.label for s in server.labelled}
