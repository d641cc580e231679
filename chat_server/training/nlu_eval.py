"""Evaluate the trained bot model on labelled CSVs: `python -m chat_server.training.nlu_eval FILE.csv [FILE.csv ...]`.

FILE has the header `text,label,lang` (label = resolved label per DESIGN.md: the intent name, or
`faq/<topic>` for a knowledge-base answer; `nlu_fallback` for out-of-scope messages; lang = en|es).
The label is resolved as the bot does it: a message chat_server's emergency guard answers is `emergency`
(the bot is sent `/emergency` whatever Rasa makes of the words); when the intent is `faq` or
`nlu_fallback`, the knowledge base decides (an in-process KnowledgeSearch over training_data/knowledge/,
the same calibration).

Every text goes through the model via a Rasa server's `POST /model/parse` — the server given by
--rasa-url / CHAT311_RASA_URL when it is reachable, otherwise a private `rasa run --enable-api` started
here on a free port with the current model and stopped afterwards — and through the project's language
detector. Prints a per-label table (precision, recall, F1, support), optionally a FallbackClassifier
threshold sweep, and last a single JSON line:
    {"n": N, "label_accuracy": x, "language_accuracy": y, "fallback_recall": z,
     "label_accuracy_at_file_topics": w}
`label_accuracy` is strict. The held-out files were labelled with the ten coarse FAQ topics the bot had
before the knowledge base; `label_accuracy_at_file_topics` scores at the file's own granularity: an
answer from a finer topic that was part of a coarse one, or a report form for a service the coarse
answer told residents to report (`within` in training_data/knowledge/topics.yml), counts as that
coarse label when the file never uses the finer label itself.

It lives with training because the training page scores with the same label resolution
(`resolve_turn`, `kb_resolver`): training/evaluate.py gives that page its accuracy and macro-F1 for
a served or a freshly trained model, this module the full report for the command line.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from chat_server import bot_model
from chat_server.heldout import HeldoutRow, errors_to_list, read_heldout
from chat_server.knowledge.articles import CATALOGUE_FILE, load_rules
from chat_server.knowledge.labels import KB_INTENTS, ReportGuess
from chat_server.labels import FALLBACK, resolve_label, runner_up
from chat_server.safety import emergency_language
from chat_server.tickets.catalogue import Catalogue, load_catalogue

if TYPE_CHECKING:
    from chat_server.knowledge.search import Decision, KnowledgeSearch

# Trained intent for "not a 311 question"; bot/chat311_nlu.py reports it as nlu_fallback.
OUT_OF_SCOPE = "out_of_scope"
EMERGENCY_INTENT = "emergency"


@dataclass
class Result:
    row: HeldoutRow
    label: str | None
    confidence: float
    lang: str
    parse: dict[str, Any]
    kb_labels: dict[str | None, str] | None = None  # the KB's label per deferring intent (faq, nlu_fallback)


# (text, language, Rasa's intent, its best report intent: the runner-up, or the report it chose) →
# faq/<topic>, report_<service> or nlu_fallback, as the bot decides (knowledge/labels.py)
KbResolver = Callable[[str, str, str | None, ReportGuess | None], str]


def turn_label(intent: str | None, kb: Callable[[str | None], str]) -> str | None:
    """The turn's label, as the bot resolves it: `faq` and `nlu_fallback` defer to the knowledge base."""
    return kb(intent) if intent in KB_INTENTS else intent


def resolve_turn(text: str, parse: dict[str, Any], kb: KbResolver,
                 ) -> tuple[str | None, str, dict[str | None, str]]:
    """(label, detected language, the KB's label per deferring intent) of one parsed message, as the bot
    labels the turn; nlu-eval and the training page's train & test both score with this."""
    from chat_server.language import detect_language

    lang, _ = detect_language(text)
    guess = report_guess(parse, _catalogue())
    # for_intent weighs the guess for both
    kb_labels: dict[str | None, str] = {name: kb(text, lang, name, guess) for name in KB_INTENTS}
    if emergency_language(text) is not None:  # the guard answers first (the bot is sent `/emergency`, or the words)
        return EMERGENCY_INTENT, lang, kb_labels
    chosen = chosen_report(parse, _catalogue())
    if chosen is not None:  # the report form asks the knowledge base before it starts
        return kb(text, lang, chosen.intent, chosen), lang, kb_labels
    return turn_label(resolve_label(parse)[0], kb_labels.__getitem__), lang, kb_labels


@functools.cache
def _catalogue() -> Catalogue:
    return load_catalogue(CATALOGUE_FILE)


def report_guess(parse: dict[str, Any], catalogue: Catalogue) -> ReportGuess | None:
    """Rasa's overruled best intent, when it is one of the catalogue's report forms (as the bot sends it)."""
    guess = runner_up(parse)
    service = catalogue.by_label(guess[0]) if guess else None
    if guess is None or service is None or service.label is None:
        return None
    return ReportGuess(service.label, service.service_code, guess[1])


def chosen_report(parse: dict[str, Any], catalogue: Catalogue) -> ReportGuess | None:
    """The report form Rasa chose itself, with its confidence (as the report form sends it)."""
    intent, confidence = resolve_label(parse)[:2]
    service = catalogue.by_label(intent)
    if service is None or service.label is None:
        return None
    return ReportGuess(service.label, service.service_code, confidence)


def kb_resolver(search: KnowledgeSearch | None = None,
                decided: dict[str | None, Decision] | None = None) -> KbResolver:
    """The knowledge base's label as the bot acts on it, from `search` or an in-process KnowledgeSearch over
    the shipped articles (loads the model: a few seconds). `decided` collects each intent's decision."""
    from chat_server.knowledge.labels import decision_label, for_intent
    from chat_server.knowledge.loading import build_search

    found = build_search() if search is None else search

    def resolve(text: str, lang: str, intent: str | None, guess: ReportGuess | None) -> str:
        decision = for_intent(found.decide(text, lang), intent, found, guess, text)
        if decided is not None:
            decided[intent] = decision
        return decision_label(decision)
    return resolve


def bot_decision(text: str, parse: dict[str, Any], search: KnowledgeSearch) -> tuple[str | None, str | None]:
    """(label, kind) of what a resident gets for `text`: the resolved label, and when the knowledge base decided
    the turn, its decision's kind (answer, menu, fallback, report). The content page's test box shows it."""
    decided: dict[str | None, Decision] = {}
    label = resolve_turn(text, parse, kb_resolver(search, decided))[0]
    if label == EMERGENCY_INTENT:
        return label, None
    chosen = chosen_report(parse, _catalogue())
    decision = decided.get(chosen.intent if chosen else resolve_label(parse)[0])
    return label, (str(decision.kind) if decision is not None else None)


# ----------------------------------------------------------------------------- Rasa server

def _get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def _reachable(base: str, token: str | None) -> bool:
    try:
        status, body = _get(_with_token(f"{base}/status", token))
    except (OSError, ValueError):
        return False
    if status != 200:
        return False
    try:
        return bool(json.loads(body).get("model_file"))
    except ValueError:
        return False


def _with_token(url: str, token: str | None) -> str:
    return f"{url}?{urllib.parse.urlencode({'token': token})}" if token else url


class RasaServer:
    """A private `rasa run --enable-api` for the evaluation (in-memory tracker store, no actions)."""

    def __init__(self, model: Path, timeout_s: float = 300.0) -> None:
        self.model = model
        self.timeout_s = timeout_s
        self.token = secrets.token_urlsafe(16)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._workdir = tempfile.TemporaryDirectory(prefix="chat311-nlu-eval-")
        self._log = open(Path(self._workdir.name) / "rasa.log", "wb")  # noqa: SIM115 (closed in stop())
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # cwd is an empty temp dir so the project's endpoints.yml/credentials.yml (Redis, actions) are not used
        cmd = [str(bot_model.RASA_BIN), "run", "--enable-api", f"--auth-token={self.token}",
               "--interface", "127.0.0.1", "--port", str(self.port), "--model", str(self.model)]
        # the model's custom component (chat311_nlu) is imported from bot/
        pythonpath = os.pathsep.join(p for p in (str(bot_model.BOT_DIR), os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, **bot_model.rasa_env(), "PYTHONPATH": pythonpath}
        self.proc = subprocess.Popen(cmd, cwd=self._workdir.name, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rasa exited with {self.proc.returncode}: {self._log_tail()}")
            if _reachable(self.url, self.token):
                return
            time.sleep(1.0)
        raise RuntimeError(f"rasa was not ready after {self.timeout_s:.0f}s: {self._log_tail()}")

    def _log_tail(self) -> str:
        self._log.flush()
        return (Path(self._workdir.name) / "rasa.log").read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self._workdir.cleanup()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_all(base: str, token: str | None, texts: list[str], workers: int = 4) -> list[dict[str, Any]]:
    url = _with_token(f"{base}/model/parse", token)

    def parse(text: str) -> dict[str, Any]:
        req = urllib.request.Request(url, data=json.dumps({"text": text}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=60) as resp:
            parsed: dict[str, Any] = json.loads(resp.read())
            return parsed

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(parse, texts))


# ----------------------------------------------------------------------------- metrics

def per_label_table(results: list[Result]) -> list[tuple[str, float, float, float, int]]:
    gold = Counter(r.row.label for r in results)
    pred = Counter(r.label for r in results)
    hits = Counter(r.row.label for r in results if r.label == r.row.label)
    table = []
    for label in sorted(set(gold) | {p for p in pred if p}):
        p = hits[label] / pred[label] if pred[label] else 0.0
        r = hits[label] / gold[label] if gold[label] else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        table.append((label, p, r, f1, gold[label]))
    return table


def simulate(results: list[Result], threshold: float, ambiguity: float) -> tuple[float, float]:
    """Label accuracy and fallback recall had the fallback classifier used these thresholds."""
    correct = fb_total = fb_hit = 0
    for r in results:
        ranking = [(i.get("name"), float(i.get("confidence") or 0.0))
                   for i in (r.parse.get("intent_ranking") or []) if i.get("name") != FALLBACK]
        top_name, top = ranking[0] if ranking else (None, 0.0)
        second = ranking[1][1] if len(ranking) > 1 else 0.0
        fell_back = top < threshold or top - second < ambiguity or top_name == OUT_OF_SCOPE
        label = turn_label(FALLBACK if fell_back else top_name, (r.kb_labels or {}).__getitem__)
        correct += label == r.row.label
        if r.row.label == FALLBACK:
            fb_total += 1
            fb_hit += label == FALLBACK
    return correct / len(results), (fb_hit / fb_total if fb_total else 1.0)


def at_file_topics(results: list[Result], within: Mapping[str, str]) -> list[str | None]:
    """Each result's label at the file's granularity: `faq/<finer>` (or a report label) → `faq/<coarse>`
    when the file has no row with that label and it is within the coarse one."""
    used = {r.row.label for r in results}

    def coarse(label: str | None) -> str | None:
        key = label.removeprefix("faq/") if label else None
        if key is None or label in used or key not in within:
            return label
        return f"faq/{within[key]}"

    return [coarse(r.label) for r in results]


def summary(results: list[Result], within: Mapping[str, str] | None = None) -> dict[str, Any]:
    n = len(results)
    fb = [r for r in results if r.row.label == FALLBACK]
    out = {
        "n": n,
        "label_accuracy": round(sum(r.label == r.row.label for r in results) / n, 4),
        "language_accuracy": round(sum(r.lang == r.row.lang for r in results) / n, 4),
        "fallback_recall": round(sum(r.label == FALLBACK for r in fb) / len(fb), 4) if fb else None,
    }
    if within is not None:
        labels = at_file_topics(results, within)
        out["label_accuracy_at_file_topics"] = round(
            sum(label == r.row.label for label, r in zip(labels, results, strict=True)) / n, 4)
    return out


def report(results: list[Result], show_errors: int, sweep: bool, out: TextIO = sys.stdout,
           within: Mapping[str, str] | None = None) -> dict[str, Any]:
    errors = [r for r in results if r.label != r.row.label]
    if show_errors and errors:
        print(f"misclassified ({len(errors)}):", file=out)
        for r in errors[:show_errors]:
            print(f"  [{r.row.lang}] {r.row.label:<28} -> {r.label!s:<28} {r.confidence:.2f}  {r.row.text[:70]}",
                  file=out)
        print(file=out)
    lang_errors = [r for r in results if r.lang != r.row.lang]
    if show_errors and lang_errors:
        print(f"language errors ({len(lang_errors)}):", file=out)
        for r in lang_errors[:show_errors]:
            print(f"  {r.row.lang} -> {r.lang}  {r.row.text[:80]}", file=out)
        print(file=out)
    if sweep:
        print("fallback sweep — cells are threshold:label_accuracy/fallback_recall", file=out)
        for amb in (0.0, 0.1, 0.2):
            cells = []
            for th in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
                acc, rec = simulate(results, th, amb)
                cells.append(f"{th:.1f}:{acc:.3f}/{rec:.3f}")
            print(f"  amb {amb:.1f}  " + "  ".join(cells), file=out)
        print(file=out)
    print(f"{'label':<30}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}", file=out)
    for label, p, rec, f1, support in per_label_table(results):
        print(f"{label:<30}{p:>10.3f}{rec:>10.3f}{f1:>10.3f}{support:>9d}", file=out)
    result = summary(results, within)
    print(json.dumps(result), file=out, flush=True)
    return result


# ----------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="chat311 nlu-eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("file", type=Path, nargs="+",
                    help="CSV with header text,label,lang (several: one report and JSON line each, one Rasa)")
    ap.add_argument("--rasa-url", default=os.environ.get("CHAT311_RASA_URL"),
                    help="running Rasa server with --enable-api (default $CHAT311_RASA_URL); else start one")
    ap.add_argument("--token", default=os.environ.get("CHAT311_RASA_TOKEN"), help="that server's --auth-token")
    ap.add_argument("--model", type=Path, default=None, help="model for a self-started server (default: current)")
    ap.add_argument("--show-errors", type=int, default=None, metavar="N",
                    help="list up to N misclassified rows (default 40; 0 for a *_test.csv file)")
    ap.add_argument("--sweep", action="store_true", help="also print a FallbackClassifier threshold sweep")
    args = ap.parse_args(argv)

    try:
        files = {path: read_heldout(path) for path in args.file}
    except (OSError, ValueError) as exc:
        print(f"nlu-eval: {exc}", file=sys.stderr)
        return 2
    rows = [row for file_rows in files.values() for row in file_rows]

    server: RasaServer | None = None
    base, token = (args.rasa_url or "").rstrip("/"), args.token
    try:
        if not base or not _reachable(base, token):
            if base:
                print(f"nlu-eval: {base} not reachable; starting a Rasa server", file=sys.stderr)
            model = args.model
            if model is None:
                model = bot_model.current_model_path()
                if not model.exists():
                    model = bot_model.latest_model()
            if model is None or not Path(model).exists():
                print("nlu-eval: no trained model (run `make train`)", file=sys.stderr)
                return 2
            print(f"nlu-eval: starting Rasa with {Path(model).name} …", file=sys.stderr, flush=True)
            server = RasaServer(Path(model))
            server.start()
            base, token = server.url, server.token
        parses = parse_all(base, token, [r.text for r in rows])
    except (OSError, RuntimeError) as exc:
        print(f"nlu-eval: {exc}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            server.stop()

    kb = kb_resolver()
    within = load_rules().within
    results = []
    for row, parse in zip(rows, parses, strict=True):
        label, lang, kb_labels = resolve_turn(row.text, parse, kb)
        confidence = float((parse.get("intent") or {}).get("confidence") or 0.0)
        results.append(Result(row, label, confidence, lang, parse, kb_labels))
    start = 0
    for path, file_rows in files.items():
        if len(files) > 1:
            print(f"== {path}", flush=True)
        report(results[start:start + len(file_rows)], errors_to_list(path, args.show_errors, 40), args.sweep,
               within=within)
        start += len(file_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
