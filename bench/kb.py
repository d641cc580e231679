"""Knowledge-base search benchmark: `python -m bench.kb` (also part "kb" of `make bench`).

Runs in its own process pinned to one core (the chat_server worker's share of a small machine):
model load time, RSS added by the model and by the index, `decide()` latency p50/p99 (wall clock
and CPU time: on a machine busy with other work the wall clock mostly measures waiting) at the
shipped size and at 2,000 synthetic articles (copies of the shipped ones whose sample questions
get two extra words each, so no two vectors coincide), and the time to upsert one article at that
size (embedding + re-index: what a published edit costs before it is live). `python -m bench.kb N`
uses N synthetic articles instead (`make bench QUICK=1`: 300); the keys name the count.
Queries are the dev set's texts (tests/data/kb_dev.csv), falling back to the articles' questions.
Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from dataclasses import replace
from typing import Any

import psutil

from bench.stats import median, percentile
from chat_server.config import PROJECT_ROOT
from chat_server.knowledge.articles import KNOWLEDGE_DIR, Article, load_articles, load_rules
from chat_server.knowledge.evaluate import read_rows
from chat_server.knowledge.ranking import load_calibration
from chat_server.knowledge.search import KnowledgeSearch
from chat_server.knowledge.semantic import UniversalSentenceEncoder

FIXTURE = PROJECT_ROOT / "tests" / "data" / "knowledge_fixture"
DEV = PROJECT_ROOT / "tests" / "data" / "kb_dev.csv"
SYNTHETIC = 2000


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def percentiles(samples: list[float]) -> tuple[float, float]:
    return median(samples) * 1000, percentile(samples, 99) * 1000


def latency(search: KnowledgeSearch, queries: list[tuple[str, str]]) -> tuple[float, float, float, float]:
    """Wall-clock p50/p99, then CPU-time p50/p99 (what the query costs when the core is not shared)."""
    for text, lang in queries[:20]:
        search.decide(text, lang)
    wall, cpu = [], []
    for text, lang in queries:
        start, start_cpu = time.perf_counter(), time.thread_time()
        search.decide(text, lang)
        wall.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
    return (*percentiles(wall), *percentiles(cpu))


def synthetic(articles: list[Article], n: int) -> list[Article]:
    rng = random.Random(15)
    words = sorted({w for a in articles for qs in a.questions.values() for q in qs for w in q.split()})
    out = []
    for i in range(n):
        base = articles[i % len(articles)]
        questions = {lang: tuple(f"{q} {rng.choice(words)} {rng.choice(words)}" for q in qs)
                     for lang, qs in base.questions.items()}
        out.append(replace(base, id=f"{base.id}-s{i}", questions=questions))
    return out


def main(synthetic_count: int = SYNTHETIC) -> dict[str, Any]:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    rules = load_rules()
    articles = load_articles(KNOWLEDGE_DIR, rules) or load_articles(FIXTURE, rules)
    queries = ([(r.text, r.lang) for r in read_rows(DEV)] if DEV.exists()
               else [(q, lang) for a in articles for lang, qs in a.questions.items() for q in qs])
    out: dict[str, Any] = {"kb_articles": len(articles), "kb_queries": len(queries)}
    base = rss_mb()
    start = time.perf_counter()
    model = UniversalSentenceEncoder()
    model.embed(["warm up"])
    out["kb_model_load_s"] = round(time.perf_counter() - start, 2)
    out["kb_model_rss_mb"] = round(rss_mb() - base, 1)
    with_model = rss_mb()
    start = time.perf_counter()
    search = KnowledgeSearch(model, load_calibration(), articles)
    out["kb_index_build_s"] = round(time.perf_counter() - start, 2)
    out["kb_index_rss_mb"] = round(rss_mb() - with_model, 1)
    (out["kb_search_p50_ms"], out["kb_search_p99_ms"], out["kb_search_cpu_p50_ms"],
     out["kb_search_cpu_p99_ms"]) = (round(v, 2) for v in latency(search, queries))

    big = synthetic(articles, synthetic_count)
    n = synthetic_count
    before = rss_mb()
    start = time.perf_counter()
    search.upsert_many(big)
    out[f"kb_{n}_build_s"] = round(time.perf_counter() - start, 1)
    out[f"kb_{n}_index_rss_mb"] = round(rss_mb() - before, 1)
    out[f"kb_{n}_articles"] = len(search)
    (out[f"kb_{n}_search_p50_ms"], out[f"kb_{n}_search_p99_ms"], out[f"kb_{n}_search_cpu_p50_ms"],
     out[f"kb_{n}_search_cpu_p99_ms"]) = (round(v, 2) for v in latency(search, queries))
    edits = []
    for article in big[:20]:
        edited = replace(article, answer={**article.answer, "en": article.answer["en"] + " (updated)"})
        start = time.perf_counter()
        search.upsert(edited)
        edits.append(time.perf_counter() - start)
    out["kb_upsert_one_ms"] = round(median(edits) * 1000, 1)
    out["kb_load"] = " ".join(f"{v:.2f}" for v in os.getloadavg())  # other work on the machine skews all of it
    return out


async def run(bench: Any) -> None:
    """Part "kb" of `python -m bench`: this module in a child process (its own RSS, one core)."""
    import asyncio

    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.kb", str(bench.args.kb_articles),
                                                cwd=PROJECT_ROOT, stdout=asyncio.subprocess.PIPE)
    stdout, _ = await proc.communicate()
    results = json.loads(stdout.decode().strip().splitlines()[-1])
    bench.results.update(results)
    for key, value in results.items():
        bench.row("kb", key.removeprefix("kb_"), value)


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else SYNTHETIC)), flush=True)
    sys.exit(0)
