"""KnowledgeSearch: the one search the bot, the agents' panel and the content page share.

Holds the articles, their BM25 postings and their vectors. An edit is prepared (validated,
analysed, embedded) outside the lock and swapped in only when everything about it is sound,
so a refused edit leaves the last good version serving. Reads and swaps take a short lock,
so a worker thread can apply edits while the event loop searches (a search is ~1–3 ms).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from chat_server.knowledge.articles import LANGUAGES, Article, check_unique
from chat_server.knowledge.lexical import LexicalIndex, asks_only_for_help, content_words
from chat_server.knowledge.ranking import (
    VAGUE_MAX_CONTENT_WORDS,
    Calibration,
    Features,
    Kind,
    Ranked,
    combine,
    decide_kind,
    top_two,
)
from chat_server.knowledge.scope import OutOfScope, words
from chat_server.knowledge.semantic import Embedder, SemanticIndex, article_texts, embed_all, one_blas_thread
from chat_server.knowledge.specifics import without_lead_in, without_specifics

FALLBACK_LABEL = "nlu_fallback"
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
    article: Article | None = None  # kind answer, and report (the article that agreed)
    options: tuple[Hit, ...] = ()  # kind menu (best first)
    report: str | None = None  # kind report: the report form's intent, report_<service>

    @property
    def label(self) -> str:
        if self.report:
            return self.report
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
        if self.report:
            out["report"] = self.report
        if self.kind is Kind.MENU:
            out["options"] = [{"id": h.article_id, "title": h.title[lang], "score": round(h.score, 4)}
                              for h in self.options]
        return out


# Question marks and capitals carry no topic, yet "¿a qué hora abren?" / "a qué hora abren" and "When is
# my trash picked up" / "when is …" embed differently enough to flip an answer into a menu; the
# articles' own questions are written in lower case without them.
SENTENCE_MARKS = "¿¡?!.,;: "


def _article_words(article: Article) -> str:
    """Every text of the article as padded folded words: an outside name it mentions is not outside."""
    texts = [article.url, *(t for m in (article.title, article.answer, article.details or {}) for t in m.values()),
             *(q for qs in article.questions.values() for q in qs)]
    return words(" ".join(texts))


class KnowledgeSearch:
    def __init__(self, embedder: Embedder, calibration: Calibration, articles: Iterable[Article] = (),
                 scope: OutOfScope | None = None) -> None:
        self._embedder = embedder
        self.calibration = calibration
        self.scope = scope or OutOfScope()
        examples = [self._normalise(t) for t in self.scope.examples()]
        self._outside = (embedder.embed(examples).astype(np.float32) if examples
                         else np.zeros((0, 0), dtype=np.float32))
        self._lock = threading.Lock()
        self._articles: dict[str, Article] = {}
        self._words: dict[str, str] = {}  # article id → _article_words
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
        flat = embed_all(self._embedder, every)
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
                self._words[article.id] = _article_words(article)
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
        copy.scope, copy._outside = self.scope, self._outside
        with self._lock:
            copy._articles = dict(self._articles)
            copy._words = dict(self._words)
            copy._lexical = self._lexical.copy()
            copy._semantic = self._semantic.copy()
            copy._dim = self._dim
        copy.upsert_many(articles)
        return copy

    def remove(self, article_id: str) -> bool:
        with self._lock:
            if self._articles.pop(article_id, None) is None:
                return False
            self._words.pop(article_id, None)
            self._lexical.remove(article_id)
            self._semantic.remove(article_id)
            return True

    # ------------------------------------------------------------------ search
    @staticmethod
    def _normalise(text: str) -> str:
        question = without_specifics(without_lead_in(text[:MAX_QUERY_CHARS]))
        return " ".join(question.strip(SENTENCE_MARKS).lower().split())

    def knows_words(self, text: str, lang: str) -> bool:
        """Whether any article in `lang` has a word of `text`: "asdfgh qwerty zxcv" has none."""
        with self._lock:
            return self._lexical.knows(text, lang)

    def features(self, text: str) -> Features:
        """Raw scores per candidate article and the out-of-scope signal: what `kb-calibrate` fits on."""
        text = self._normalise(text)
        if not text or asks_only_for_help(text):
            return Features({}, {})
        query = self._embedder.embed([text])[0]
        with self._lock:
            lexical = self._lexical.scores(text)
            strongest = sorted(lexical, key=lexical.__getitem__, reverse=True)[:16]
            semantic = self._semantic.scores(query, also=strongest)
            # A name no article mentions ("raleigh", "walmart") marks the message as outside the city's services.
            outside_name = any(all(f" {n} " not in w for w in self._words.values()) for n in self.scope.named(text))
        # Only the semantic candidates (which include the best lexical ones) can rank: the cosine dominates.
        lexical = {a: lexical[a] for a in semantic if a in lexical}
        words, vague = len(text.split()), content_words(text) <= VAGUE_MAX_CONTENT_WORDS
        if outside_name:
            return Features(semantic, lexical, math.inf, words, vague)
        if not len(self._outside) or not semantic:
            return Features(semantic, lexical, words=words, vague=vague)
        with one_blas_thread():
            nearest_outside = float((self._outside @ query).max())
        return Features(semantic, lexical, nearest_outside, words, vague)

    def _rank(self, features: Features) -> list[Ranked]:
        return combine(features.semantic, features.lexical, self.calibration.lexical_weight)

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
        return self._hits(self._rank(self.features(text)), k)

    def decide(self, text: str, lang: str) -> Decision:
        """Answer, a top-3 menu, or fallback, by the calibrated thresholds."""
        return self.explain(text, lang)[0]

    def explain(self, text: str, lang: str) -> tuple[Decision, list[Hit]]:
        """The decision and the top 3 behind it (the content page's test box, kb-eval)."""
        lang = lang if lang in LANGUAGES else LANGUAGES[0]
        features = self.features(text)
        ranked = self._rank(features)
        top, second = top_two(ranked)
        kind = decide_kind(top, second, self.calibration, features.outside(top, self.calibration.outside_per_word),
                           features.vague)
        hits = self._hits(ranked, 3)
        article = self._articles.get(hits[0].article_id) if hits else None
        if kind is Kind.ANSWER and article is not None:
            return Decision(kind, lang, article=article), hits
        if kind is not Kind.FALLBACK and hits:
            return Decision(Kind.MENU, lang, options=tuple(hits)), hits
        return Decision(Kind.FALLBACK, lang), hits
