"""Scores a model on the held-out CSV (text,label[,lang]): accuracy, macro-F1, fallback rate.

Two ways to get predictions, same scoring:
- `score_running` asks the Rasa server that is serving residents (`POST /model/parse`): the
  "before" score of the published model, with no extra process.
- `score_model_file` loads a model file that is not served yet in a short-lived Rasa process
  (bot/.venv) — the "after" score of a freshly trained model.
The resolved label is the intent, or faq/<key> for the retrieval intent (DESIGN.md).
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp

from chat_server import bot_model


def read_heldout(path: Path) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh):
            if len(row) < 2 or not row[0].strip() or row[0].startswith("#"):
                continue
            if (row[0].strip().lower(), row[1].strip().lower()) == ("text", "label"):
                continue
            rows.append((row[0].strip(), row[1].strip(), (row[2].strip() if len(row) > 2 else "") or "en"))
    return rows


def resolved_label(parse: dict[str, Any]) -> tuple[str, float]:
    intent = parse.get("intent") or {}
    name = str(intent.get("name") or "nlu_fallback")
    confidence = float(intent.get("confidence") or 0.0)
    if name == "faq":
        response = ((parse.get("response_selector") or {}).get("faq") or {}).get("response") or {}
        key = response.get("intent_response_key")
        if key:
            name = str(key)
    return name, confidence


def score(rows: list[tuple[str, str, str]], predicted: Iterable[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 over the gold labels, fallback rate, and the first misclassifications."""
    preds = list(predicted)
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    errors = []
    for (text, gold, lang), pred in zip(rows, preds, strict=True):
        if pred == gold:
            tp[gold] += 1
        else:
            fp[pred] += 1
            fn[gold] += 1
            if len(errors) < 25:
                errors.append({"text": text, "label": gold, "predicted": pred, "lang": lang})
    f1s = []
    for label in sorted({g for _, g, _ in rows}):
        p_den, r_den = tp[label] + fp[label], tp[label] + fn[label]
        precision = tp[label] / p_den if p_den else 0.0
        recall = tp[label] / r_den if r_den else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    n = len(rows)
    return {
        "n": n,
        "accuracy": round(sum(tp.values()) / n, 4) if n else None,
        "macro_f1": round(sum(f1s) / len(f1s), 4) if f1s else None,
        "fallback_rate": round(sum(1 for p in preds if p == "nlu_fallback") / n, 4) if n else None,
        "errors": errors,
    }


async def score_running(rasa_url: str, token: str, rows: list[tuple[str, str, str]]) -> dict[str, Any]:
    preds = []
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for text, _, _ in rows:
            async with session.post(f"{rasa_url}/model/parse", params={"token": token}, json={"text": text}) as r:
                r.raise_for_status()
                preds.append(resolved_label(await r.json())[0])
    return score(rows, preds)


# Runs inside bot/.venv (Rasa): parse every text with the given model, print JSON predictions.
_PARSE_SCRIPT = r"""
import asyncio, json, sys, logging
logging.disable(logging.WARNING)
from rasa.core.agent import Agent
async def main():
    agent = Agent.load(sys.argv[1])
    texts = json.load(open(sys.argv[2], encoding="utf-8"))
    out = []
    for text in texts:
        out.append(await agent.parse_message(text))
    json.dump(out, open(sys.argv[3], "w", encoding="utf-8"))
asyncio.run(main())
"""


async def score_model_file(model: Path, rows: list[tuple[str, str, str]], work_dir: Path) -> dict[str, Any]:
    work_dir.mkdir(parents=True, exist_ok=True)
    texts_path, out_path = work_dir / "eval-texts.json", work_dir / "eval-parsed.json"
    texts_path.write_text(json.dumps([t for t, _, _ in rows]), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        str(bot_model.BOT_PYTHON), "-c", _PARSE_SCRIPT, str(model), str(texts_path), str(out_path),
        cwd=bot_model.BOT_DIR, env={**os.environ, **bot_model.rasa_env()},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"evaluating {model.name} failed: {err.decode(errors='replace')[-1500:]}")
    parsed = json.loads(out_path.read_text(encoding="utf-8"))
    return score(rows, [resolved_label(p)[0] for p in parsed])
