"""BM25 over articles with English/Spanish Snowball stemming and accent folding.

An inverted index in plain dicts rather than a library: one article edit must go live in
seconds at 2,000 articles, and replacing or removing one article here touches only its own
postings (bm25s and tantivy rebuild or re-commit whole segments). Each article is one document
per language (title + sample questions + answer); a query is scored against both languages,
each stemmed with its own stemmer, so a mis-detected language still finds the article.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

import Stemmer

from chat_server.knowledge.articles import LANGUAGES, Article

_WORD = re.compile(r"[a-z0-9]+")
_STEMMER_NAMES = {"en": "english", "es": "spanish"}


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that say nothing about the topic in resident questions (after folding).
_STOP = {
    "en": _wordset("""a an the to of and or is are am be do does did i me my we our you your it its in on at for
        with about can could would should how what when where who why which there this that from get have has
        please hi hello need want know tell any some if so just will was were by as up"""),
    "es": _wordset("""el la los las un una unos unas de del al y o e u es son ser esta estan mi mis me yo tu su sus
        en con por para que como cuando donde quien cual hay este esta ese esa lo le les se si no ya
        puedo puede quiero necesito saber hola favor"""),
}
# Words that ask for help without saying with what: "help", "necesito ayuda", "tengo un problema" matched
# the articles with "help" in their titles (energy help, down-payment help) and got a menu of them. A message
# with nothing else gets the bot's fallback, which lists what it can do.
_ASKING_ONLY = _wordset("""help helping question questions info information problem problems issue something thing
    ayuda ayudar ayudame ayudeme ayudenme pregunta preguntas informacion problema problemas algo cosa duda dudas
    tengo tenemos""")
K1 = 1.2
B = 0.75
# A query word this long that no article uses is read as the article word one typo away ("recylcing").
# Shorter words have too many neighbours ("bil" is one edit from bill, bid, oil).
TYPO_MIN_LENGTH = 5


def fold(text: str) -> str:
    """Lower case without accents: residents often type 'basura' and 'recolección' as 'recoleccion'."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@cache
def _stemmer(lang: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(_STEMMER_NAMES[lang])


def _content(text: str) -> list[str]:
    return [w for w in _WORD.findall(fold(text)) if w not in _STOP["en"] and w not in _STOP["es"]]


def content_words(text: str) -> int:
    """How many words of `text` are in neither language's stop list: "permit" and "what time is it" have one."""
    return len(_content(text))


def asks_only_for_help(text: str) -> bool:
    """Some words beyond the stop lists, all of them a request for help with nothing named."""
    words = _content(text)
    return bool(words) and all(w in _ASKING_ONLY for w in words)


def analyze(text: str, lang: str) -> list[str]:
    """Folded, stop-word-free, stemmed terms of `text` in `lang`."""
    words = [w for w in _WORD.findall(fold(text)) if w not in _STOP[lang]]
    return list(_stemmer(lang).stemWords(words))


def document_text(article: Article, lang: str) -> str:
    return " ".join((article.title[lang], *article.questions[lang], article.answer[lang]))


def _deletions(term: str) -> set[str]:
    """The term and every form of it with one letter dropped: two words share one when they are one
    substitution, insertion, deletion or swap apart (a symmetric-delete index, so no scan of the vocabulary)."""
    return {term, *(term[:i] + term[i + 1:] for i in range(len(term)))}


@dataclass
class _LanguageIndex:
    postings: dict[str, dict[str, int]]  # term → {article id: term frequency}
    lengths: dict[str, int]
    total_length: int = 0
    near: dict[str, set[str]] = field(default_factory=dict)  # one-letter deletion → indexed terms

    def add(self, article_id: str, terms: list[str]) -> None:
        for term, tf in Counter(terms).items():
            if term not in self.postings:
                self.postings[term] = {}
                for key in _deletions(term):
                    self.near.setdefault(key, set()).add(term)
            self.postings[term][article_id] = tf
        self.lengths[article_id] = len(terms)
        self.total_length += len(terms)

    def remove(self, article_id: str, terms: Iterable[str]) -> None:
        for term in set(terms):
            docs = self.postings.get(term)
            if docs is not None:
                docs.pop(article_id, None)
                if not docs:
                    del self.postings[term]
                    self._forget(term)
        self.total_length -= self.lengths.pop(article_id, 0)

    def _forget(self, term: str) -> None:
        for key in _deletions(term):
            near = self.near.get(key)
            if near is not None:
                near.discard(term)
                if not near:
                    del self.near[key]

    def corrected(self, term: str) -> str:
        """`term`, or the most widely used indexed term one typo away when no article has it."""
        if term in self.postings or len(term) < TYPO_MIN_LENGTH:
            return term
        candidates = {t for key in _deletions(term) for t in self.near.get(key, ())}
        return max(candidates, key=lambda t: (len(self.postings[t]), t), default=term)

    def idf(self, term: str) -> float:
        n = len(self.lengths)
        df = len(self.postings.get(term, ()))
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def score(self, query: list[str]) -> tuple[dict[str, float], float]:
        """BM25 per article, and the best score any document could get for this query.

        The ceiling (each query term matched with saturated tf) makes scores comparable across
        queries; unknown words count in it, so 'blah blah water' is a weak water match.
        """
        n = len(self.lengths)
        if not n or not query:
            return {}, 0.0
        avg = self.total_length / n
        scores: dict[str, float] = {}
        ceiling = 0.0
        # The loop below runs once per posting (thousands per long message): names bound locally.
        lengths, current, saturated = self.lengths, scores.get, K1 + 1
        for term in map(self.corrected, query):
            idf = self.idf(term)
            ceiling += idf * saturated
            for article_id, tf in self.postings.get(term, {}).items():
                norm = K1 * (1 - B + B * lengths[article_id] / avg)
                scores[article_id] = current(article_id, 0.0) + idf * tf * saturated / (tf + norm)
        return scores, ceiling


class LexicalIndex:
    """BM25 index of articles; not thread-safe on its own (KnowledgeSearch serialises access)."""

    def __init__(self) -> None:
        self._langs = {lang: _LanguageIndex({}, {}) for lang in LANGUAGES}
        self._terms: dict[str, dict[str, list[str]]] = {}  # article id → lang → terms (for removal)

    def __len__(self) -> int:
        return len(self._terms)

    def upsert(self, article: Article) -> None:
        self.remove(article.id)
        terms = {lang: analyze(document_text(article, lang), lang) for lang in LANGUAGES}
        for lang, index in self._langs.items():
            index.add(article.id, terms[lang])
        self._terms[article.id] = terms

    def copy(self) -> LexicalIndex:
        """An independent index with the same postings (a fork for a draft; term lists are shared, never mutated)."""
        out = LexicalIndex()
        for lang, index in self._langs.items():
            out._langs[lang] = _LanguageIndex({t: dict(d) for t, d in index.postings.items()}, dict(index.lengths),
                                              index.total_length, {k: set(v) for k, v in index.near.items()})
        out._terms = dict(self._terms)
        return out

    def remove(self, article_id: str) -> None:
        old = self._terms.pop(article_id, None)
        if old is not None:
            for lang, index in self._langs.items():
                index.remove(article_id, old[lang])

    def knows(self, text: str, lang: str) -> bool:
        """Whether some word of `text` (or a word one typo away) is in an article in `lang`."""
        index = self._langs[lang]
        return any(index.corrected(term) in index.postings for term in analyze(text, lang))

    def scores(self, text: str) -> dict[str, float]:
        """Article id → BM25 score normalised to 0..1 by the query's ceiling, best language wins."""
        best: dict[str, float] = {}
        for lang, index in self._langs.items():
            raw, ceiling = index.score(analyze(text, lang))
            for article_id, score in raw.items():
                normalised = score / ceiling
                if normalised >= best.get(article_id, 0.0):
                    best[article_id] = normalised
        return best
