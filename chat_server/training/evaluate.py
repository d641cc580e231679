"""Scores a model on the held-out CSV (text,label,lang): accuracy, macro-F1, fallback rate.

Two ways to get predictions, same scoring:
- `score_running` asks the Rasa server that is serving residents (`POST /model/parse`): the
  "before" score of the published model, with no extra process.
- `score_model_file` loads a model file that is not served yet in a short-lived Rasa process
  (bot/.venv) — the "after" score of a freshly trained model.
Labels are resolved exactly as `chat311 nlu-eval` resolves them (chat_server/training/nlu_eval.py
`resolve_turn`: the bot's rule in chat_server/labels.py, then `faq`/`nlu_fallback` through the
knowledge base), so the page's scores and nlu-eval's agree on the same file and model.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp

from chat_server import bot_model
from chat_server.heldout import HeldoutRow
from chat_server.labels import FALLBACK
from chat_server.rasa_parse import RasaReader
from chat_server.training.nlu_eval import KbResolver, resolve_turn


def _labels(rows: list[HeldoutRow], parses: list[dict[str, Any]], kb: KbResolver) -> list[str | None]:
    return [resolve_turn(row.text, parse, kb)[0] for row, parse in zip(rows, parses, strict=True)]


def score(rows: list[HeldoutRow], predicted: Iterable[str | None]) -> dict[str, Any]:
    """Accuracy, macro-F1 over the gold labels, fallback rate, and the first misclassifications."""
    preds = list(predicted)
    tp: Counter[str] = Counter()
    fp: Counter[str | None] = Counter()
    fn: Counter[str] = Counter()
    errors: list[dict[str, Any]] = []
    for row, pred in zip(rows, preds, strict=True):
        if pred == row.label:
            tp[row.label] += 1
        else:
            fp[pred] += 1
            fn[row.label] += 1
            if len(errors) < 25:
                errors.append({"text": row.text, "label": row.label, "predicted": pred, "lang": row.lang})
    f1s = []
    for label in sorted({row.label for row in rows}):
        p_den, r_den = tp[label] + fp[label], tp[label] + fn[label]
        precision = tp[label] / p_den if p_den else 0.0
        recall = tp[label] / r_den if r_den else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    n = len(rows)
    return {
        "n": n,
        "accuracy": round(sum(tp.values()) / n, 4) if n else None,
        "macro_f1": round(sum(f1s) / len(f1s), 4) if f1s else None,
        "fallback_rate": round(sum(1 for p in preds if p == FALLBACK) / n, 4) if n else None,
        "errors": errors,
    }


async def score_running(rasa_url: str, token: str, rows: list[HeldoutRow], kb: KbResolver) -> dict[str, Any]:
    reader = RasaReader([rasa_url], token, 30.0)
    parses = []
    async with aiohttp.ClientSession(timeout=reader.timeout) as session:
        for row in rows:
            parsed = await reader.parse(row.text, session)
            if parsed is None:
                raise RuntimeError(f"{rasa_url} did not parse a held-out text")
            parses.append(parsed)
    return score(rows, await asyncio.to_thread(_labels, rows, parses, kb))


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


async def score_model_file(model: Path, rows: list[HeldoutRow], work_dir: Path, kb: KbResolver) -> dict[str, Any]:
    work_dir.mkdir(parents=True, exist_ok=True)
    texts_path, out_path = work_dir / "eval-texts.json", work_dir / "eval-parsed.json"
    texts_path.write_text(json.dumps([row.text for row in rows]), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        str(bot_model.BOT_PYTHON), "-c", _PARSE_SCRIPT, str(model), str(texts_path), str(out_path),
        cwd=bot_model.BOT_DIR, env={**os.environ, **bot_model.rasa_env()},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"evaluating {model.name} failed: {err.decode(errors='replace')[-1500:]}")
    parsed = json.loads(out_path.read_text(encoding="utf-8"))
    return score(rows, await asyncio.to_thread(_labels, rows, parsed, kb))
