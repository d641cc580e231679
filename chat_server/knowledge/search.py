"""KnowledgeSearch: the one search the bot, the agents' panel and the content page share.

Holds the articles, their BM25 postings and their vectors. An edit is prepared (validated,
analysed, embedded) outside the lock and swapped in only when everything about it is sound,
so a refused edit leaves the last good version serving. Reads and swaps take a short lock,
so a worker thread can apply edits while the event loop searches (a search is ~1–3 ms).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from chat_server.knowledge.articles import LANGUAGES, Article, check_unique
from chat_server.knowledge.lexical import LexicalIndex
from chat_server.knowledge.ranking import Calibration, Kind, Ranked, combine, decide_kind, top_two
from chat_server.knowledge.semantic import Embedder, SemanticIndex, article_texts

FALLBACK_LABEL = "nlu_fallback"
EMBED_BATCH = 256  # texts per model call when indexing: bigger batches pad more and stream more memory
MAX_QUERY_CHARS = 500  # longer messages are cut: the cost of a query grows with its length


class IndexUpdateError(ValueError):
    """An edit was refused before it reached the index; the previous version keeps serving."""

    def __init__(self, article_id: str, message: str) -> None:
        super().__init__(f"{article_id}: {message}")
        self.article_id = article_id


@dataclass(frozen=True)
class Hit:
    article_id: str
    topic: str
    title: Mapping[str, str]
    score: float
    semantic: float
    lexical: float


@dataclass(frozen=True)
class Decision:
    kind: Kind
    language: str
    article: Article | None = None  # kind answer
    options: tuple[Hit, ...] = ()  # kind menu (best first)

    @property
    def label(self) -> str:
        return self.article.label if self.article else FALLBACK_LABEL

    def to_json(self) -> dict[str, Any]:
        """The decision JSON of docs/knowledge.md (texts in the resident's language)."""
        lang = self.language
        out: dict[str, Any] = {"kind": str(self.kind), "label": self.label, "language": lang}
        if self.article is not None:
            a = self.article
            out["article"] = {"id": a.id, "topic": a.topic, "title": a.title[lang], "answer": a.answer[lang],
                              "details": a.details[lang] if a.details else None, "url": a.url,
                              "service_code": a.service_code}
        if self.kind is Kind.MENU:
            out["options"] = [{"id": h.article_id, "title": h.title[lang], "score": round(h.score, 4)}
                              for h in self.options]
        return out


# Question marks and capitals carry no topic, yet "¿a qué hora abren?" / "a qué hora abren" and "When is
# my trash picked up" / "when is …" embed differently enough to flip an answer into a menu; the
# articles' own questions are written in lower case without them.
SENTENCE_MARKS = "¿¡?!.,;: "


class KnowledgeSearch:
    def __init__(self, embedder: Embedder, calibration: Calibration, articles: Iterable[Article] = ()) -> None:
        self._embedder = embedder
        self.calibration = calibration
        self._lock = threading.Lock()
        self._articles: dict[str, Article] = {}
        self._lexical = LexicalIndex()
        self._semantic = SemanticIndex()
        self._dim: int | None = None
        self.upsert_many(list(articles))

    # ------------------------------------------------------------------ content
    def __len__(self) -> int:
        return len(self._articles)

    def get(self, article_id: str) -> Article | None:
        return self._articles.get(article_id)

    def articles(self) -> list[Article]:
        with self._lock:
            return list(self._articles.values())

    def _vectors(self, articles: list[Article]) -> list[np.ndarray]:
        """Embed all of them in one batch, then refuse any article whose vectors are unusable."""
        texts = [article_texts(a) for a in articles]
        every = [t for group in texts for t in group]
        chunks = [self._embedder.embed(every[i:i + EMBED_BATCH]) for i in range(0, len(every), EMBED_BATCH)]
        flat = np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)
        out, start = [], 0
        for article, group in zip(articles, texts, strict=True):
            vectors = np.asarray(flat[start:start + len(group)], dtype=np.float32)
            start += len(group)
            dim = self._dim or vectors.shape[-1]
            if vectors.shape != (len(group), dim) or not np.isfinite(vectors).all() or not vectors.any():
                raise IndexUpdateError(article.id, f"the embedding model returned unusable vectors {vectors.shape}")
            out.append(vectors)
        return out

    def upsert_many(self, articles: list[Article]) -> None:
        """Add or replace articles all-or-nothing (startup and bulk imports)."""
        check_unique([(a.id, a) for a in articles])
        vectors = self._vectors(articles)
        with self._lock:
            for article in articles:
                self._lexical.upsert(article)
                self._articles[article.id] = article
            self._semantic.upsert([(a.id, v) for a, v in zip(articles, vectors, strict=True)])
            if vectors:
                self._dim = vectors[0].shape[-1]

    def upsert(self, article: Article) -> None:
        """Add or replace one article (a published edit); raises IndexUpdateError and changes nothing."""
        self.upsert_many([article])

    def fork(self, articles: list[Article]) -> KnowledgeSearch:
        """A copy with `articles` upserted, the original untouched: how a draft is tested before it is
        published (the content page's test box) and how a publish is checked against the index.

        Copies the postings and the vector table (~tens of ms at 2,000 articles), then embeds only
        `articles`; raises IndexUpdateError like `upsert`.
        """
        copy = KnowledgeSearch(self._embedder, self.calibration)
        with self._lock:
            copy._articles = dict(self._articles)
            copy._lexical = self._lexical.copy()
            copy._semantic = self._semantic.copy()
            copy._dim = self._dim
        copy.upsert_many(articles)
        return copy

    def remove(self, article_id: str) -> bool:
        with self._lock:
            if self._articles.pop(article_id, None) is None:
                return False
            self._lexical.remove(article_id)
            self._semantic.remove(article_id)
            return True

    # ------------------------------------------------------------------ search
    def scores(self, text: str) -> tuple[dict[str, float], dict[str, float]]:
        """Raw (semantic, lexical) scores per candidate article: what `kb-calibrate` fits on."""
        text = " ".join(text.strip(SENTENCE_MARKS).lower().split())[:MAX_QUERY_CHARS]
        if not text:
            return {}, {}
        query = self._embedder.embed([text])[0]
        with self._lock:
            lexical = self._lexical.scores(text)
            strongest = sorted(lexical, key=lexical.__getitem__, reverse=True)[:16]
            semantic = self._semantic.scores(query, also=strongest)
        # Only the semantic candidates (which include the best lexical ones) can rank: the cosine dominates.
        return semantic, {a: lexical[a] for a in semantic if a in lexical}

    def _rank(self, text: str) -> list[Ranked]:
        return combine(*self.scores(text), self.calibration.lexical_weight)

    def _hits(self, ranked: list[Ranked], k: int) -> list[Hit]:
        out = []
        for r in ranked:
            article = self._articles.get(r.article_id)  # None if removed since ranking
            if article is not None:
                out.append(Hit(r.article_id, article.topic, article.title, r.score, r.semantic, r.lexical))
            if len(out) == k:
                break
        return out

    def search(self, text: str, lang: str, k: int = 3) -> list[Hit]:
        """The k best articles for `text`; `lang` is the resident's language (en|es)."""
        return self._hits(self._rank(text), k)

    def decide(self, text: str, lang: str) -> Decision:
        """Answer, a top-3 menu, or fallback, by the calibrated thresholds."""
        return self.explain(text, lang)[0]

    def explain(self, text: str, lang: str) -> tuple[Decision, list[Hit]]:
        """The decision and the top 3 behind it (the content page's test box, kb-eval)."""
        lang = lang if lang in LANGUAGES else LANGUAGES[0]
        ranked = self._rank(text)
        kind = decide_kind(*top_two(ranked), self.calibration)
        hits = self._hits(ranked, 3)
        article = self._articles.get(hits[0].article_id) if hits else None
        if kind is Kind.ANSWER and article is not None:
            return Decision(kind, lang, article=article), hits
        if kind is not Kind.FALLBACK and hits:
            return Decision(Kind.MENU, lang, options=tuple(hits)), hits
        return Decision(Kind.FALLBACK, lang), hits
