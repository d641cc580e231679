"""Knowledge-base articles: the `Article` type and its validation (one YAML file per article).

Content staff write these files by hand, so every rule failure names the file and the field
(`training_data/knowledge/water/x.yml: answer.es: missing`) and nothing half-valid is ever
indexed. Parsing is pure (`parse_article_data`, `parse_article`); only `load_*` read files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from chat_server import strict_yaml
from chat_server.config import PROJECT_ROOT, display_path
from chat_server.language import detect_language
from chat_server.sanitize import fold, has_invisible
from chat_server.textchars import control_chars

LANGUAGES = ("en", "es")
KNOWLEDGE_DIR = PROJECT_ROOT / "training_data" / "knowledge"
TOPICS_FILE = "topics.yml"
CATALOGUE_FILE = PROJECT_ROOT / "chat_server" / "tickets" / "catalogue.yml"
ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
LINK_RE = re.compile(r"https?://[^\s<>\"')]+")
MAX_ANSWER = 320
MAX_DETAILS = 1200
MIN_QUESTIONS = 4
# A sample question is a resident's message, and the search reads every one: an 11,999-character "question" and
# 2,000 of them were published.
MAX_QUESTION_CHARS = 300
MAX_QUESTIONS = 200
_HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^<>]*>")
# Schemes a link must not have (only https:// ones are published), followed by what they would run or show.
_OTHER_SCHEME = re.compile(r"\b(?:javascript|vbscript|data|file|blob)[ \t]*:(?=\S)", re.IGNORECASE)
_MARKDOWN_LINK = re.compile(r"\[[^\]\n]+\]\([^)\n]*\)")
MAX_REVIEW_YEARS = 3
REQUIRED = ("id", "topic", "department", "title", "answer", "url", "questions", "owner", "review_by")
OPTIONAL = ("details", "service_code")


class ArticleError(ValueError):
    """An article (or the topic list) breaks a rule; `file` and `field` say where."""

    def __init__(self, file: str, field: str, message: str) -> None:
        super().__init__(f"{file}: {field}: {message}")
        self.file, self.field, self.message = file, field, message


@dataclass(frozen=True)
class Rules:
    """What an article is checked against besides its own shape."""

    topics: Mapping[str, Mapping[str, str]]  # topic → {en, es} display name
    service_codes: frozenset[str]
    # finer topic, or a service's report label, → the coarse topic whose answer covered it
    within: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Article:
    id: str
    topic: str
    department: str
    title: Mapping[str, str]
    answer: Mapping[str, str]
    url: str
    questions: Mapping[str, tuple[str, ...]]
    owner: str
    review_by: date
    details: Mapping[str, str] | None = None
    service_code: str | None = None

    @property
    def label(self) -> str:
        return f"faq/{self.topic}"

    def to_data(self) -> dict[str, Any]:
        """The YAML/JSON shape `parse_article_data` accepts (round-trips)."""
        data: dict[str, Any] = {
            "id": self.id, "topic": self.topic, "department": self.department, "title": dict(self.title),
            "answer": dict(self.answer), "url": self.url,
            "questions": {lang: list(qs) for lang, qs in self.questions.items()},
            "owner": self.owner, "review_by": self.review_by.isoformat(),
        }
        if self.details:
            data["details"] = dict(self.details)
        if self.service_code:
            data["service_code"] = self.service_code
        return data


# --------------------------------------------------------------------------- field checks (pure)
def _text(file: str, field: str, value: object) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ArticleError(file, field, "missing")
    if not isinstance(value, str):
        raise ArticleError(file, field, f"must be text, not {type(value).__name__}")
    if control_chars(value, multiline=True):
        raise ArticleError(file, field, "contains a control character (pasted from another program?)")
    if has_invisible(value):
        raise ArticleError(file, field, "contains an invisible character (zero-width or right-to-left mark); "
                                        "type the text again instead of pasting it")
    if _HTML_TAG.search(value):
        raise ArticleError(file, field, "contains an HTML tag such as <b> or <a>: residents see it as written; "
                                        "write plain text (links as https://…)")
    return " ".join(value.split())


def _localized(file: str, field: str, value: object, max_len: int | None = None, link: bool = False) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ArticleError(file, field, "must be a mapping with en and es")
    extra = sorted(set(map(str, value)) - set(LANGUAGES))
    if extra:
        raise ArticleError(file, f"{field}.{extra[0]}", f"unknown language (use {', '.join(LANGUAGES)})")
    out = {}
    for lang in LANGUAGES:
        text = _text(file, f"{field}.{lang}", value.get(lang))
        if max_len is not None and len(text) > max_len:
            raise ArticleError(file, f"{field}.{lang}", f"{len(text)} characters; at most {max_len}")
        if (other := _OTHER_SCHEME.search(text)) is not None:
            # "javascript:alert(1)" or "data:text/html,…" beside an https link was published to every channel (probe AI)
            raise ArticleError(file, f"{field}.{lang}", f"{other.group()!r} is not a web address: links must be "
                                                        "https:// addresses of web pages")
        if _MARKDOWN_LINK.search(text):
            raise ArticleError(file, f"{field}.{lang}", "residents see [text](link) as written: write the https:// "
                                                        "address itself")
        if link and not LINK_RE.search(text):
            raise ArticleError(file, f"{field}.{lang}", "must contain an http(s):// link")
        for found in LINK_RE.finditer(text):
            # what residents click: the url field's rule held for it alone, and "http://…", "https://localhost/admin"
            # and "https://10.0.0.5/x" in an answer were published as links (probe AA)
            if not _web_address(found.group().rstrip(".,;:!?")):
                raise ArticleError(file, f"{field}.{lang}", f"the link {found.group()[:80]} must be an https:// "
                                                            "address of a web page, with a host name like "
                                                            "www.charlottenc.gov (not http://, localhost or numbers)")
        out[lang] = text
    return out


def _questions(file: str, value: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise ArticleError(file, "questions", "must be a mapping with en and es lists")
    out = {}
    for lang in LANGUAGES:
        field = f"questions.{lang}"
        items = value.get(lang)
        if not isinstance(items, list):
            raise ArticleError(file, field, "missing" if items is None else "must be a list")
        if len(items) > MAX_QUESTIONS:
            raise ArticleError(file, field, f"{len(items)} questions; at most {MAX_QUESTIONS}")
        texts = tuple(_text(file, f"{field}[{i}]", q) for i, q in enumerate(items))
        for i, text in enumerate(texts):
            if len(text) > MAX_QUESTION_CHARS:
                raise ArticleError(file, f"{field}[{i}]", f"{len(text)} characters; at most {MAX_QUESTION_CHARS}")
        seen: dict[str, int] = {}
        for i, text in enumerate(texts):  # the same question twice teaches the search nothing new
            first = seen.setdefault(text.casefold(), i)
            if first != i:
                raise ArticleError(file, f"{field}[{i}]", f"repeats {field}[{first}]")
        if len(texts) < MIN_QUESTIONS:
            raise ArticleError(file, field, f"{len(texts)} questions; at least {MIN_QUESTIONS}")
        out[lang] = texts
    return out


def _review_by(file: str, value: object) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ArticleError(file, "review_by", f"must be a date like 2027-06-30, not {value!r}")


def _review_date(file: str, value: object, today: date) -> date:
    """An article is reviewed at least every MAX_REVIEW_YEARS years: a date further off (9999-12-31) would
    keep it out of the stale filter for good."""
    when = _review_by(file, value)
    if when > today.replace(year=today.year + MAX_REVIEW_YEARS, day=min(today.day, 28)):
        raise ArticleError(file, "review_by", f"{when.isoformat()} is more than {MAX_REVIEW_YEARS} years ahead")
    return when


def _web_address(url: str) -> bool:
    """An https:// address of a web page on a named host (a top-level domain of letters: no IP address)."""
    parts = urlsplit(url)
    return (parts.scheme == "https" and " " not in url
            and re.fullmatch(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}", parts.hostname or "") is not None
            and not re.search(r"[<>\"'{}|\\^`]", url))


def _https_url(file: str, value: object) -> str:
    url = _text(file, "url", value)
    if not _web_address(url):
        raise ArticleError(file, "url", "must be an https:// address of a web page, like https://www.charlottenc.gov/...")
    return url


def parse_article_data(file: str, data: object, rules: Rules, expected_id: str | None = None,
                       today: date | None = None) -> Article:
    """Validate one article's mapping; `expected_id` (the file stem) must equal its id; `review_by` is checked
    against `today` (default: the date now)."""
    if not isinstance(data, dict):
        raise ArticleError(file, "(file)", "must be a YAML mapping of article fields")
    unknown = sorted(set(map(str, data)) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ArticleError(file, unknown[0], "unknown field")
    for name in REQUIRED:
        if data.get(name) in (None, ""):
            raise ArticleError(file, name, "missing")
    article_id = _text(file, "id", data["id"])
    if not ID_RE.match(article_id):
        raise ArticleError(file, "id", f"{article_id!r} is not a slug like water-bill-pay")
    if expected_id is not None and article_id != expected_id:
        raise ArticleError(file, "id", f"{article_id!r} must equal the file name {expected_id!r}")
    topic = _text(file, "topic", data["topic"])
    if topic not in rules.topics:
        raise ArticleError(file, "topic", f"unknown topic {topic!r} (see {TOPICS_FILE})")
    url = _https_url(file, data["url"])
    service_code = data.get("service_code")
    if service_code is not None:
        service_code = _text(file, "service_code", service_code)
        if service_code not in rules.service_codes:
            raise ArticleError(file, "service_code", f"unknown service {service_code!r} (see the catalogue)")
    details = data.get("details")
    answer = _localized(file, "answer", data["answer"], max_len=MAX_ANSWER, link=True)
    if answer["es"] == answer["en"]:
        raise ArticleError(file, "answer.es", "is the English answer; write it in Spanish")
    details_text = _localized(file, "details", details, max_len=MAX_DETAILS) if details is not None else None
    for field_name, texts in (("answer", answer), ("details", details_text or {})):
        _spanish(file, f"{field_name}.es", texts.get("es", ""))
    return Article(
        id=article_id, topic=topic, department=_text(file, "department", data["department"]),
        title=_localized(file, "title", data["title"], max_len=120),
        answer=answer,
        url=url, questions=_questions(file, data["questions"]), owner=_text(file, "owner", data["owner"]),
        review_by=_review_date(file, data["review_by"], today or date.today()),
        details=details_text,
        service_code=service_code,
    )


def _spanish(file: str, field: str, text: str) -> None:
    """English pasted into the Spanish box (to translate later) reached Spanish residents; only an exact copy of
    the English was refused (probe AI). Titles are too short to tell ("Greenways y senderos")."""
    if text and detect_language(text) == ("en", 1.0):
        raise ArticleError(file, field, "reads as English; write it in Spanish")


def parse_article(path: str | Path, text: str, rules: Rules) -> Article:
    """Parse one article file's text; its id must equal the file stem."""
    file = str(path)
    try:
        data = strict_yaml.load(text)
    except yaml.YAMLError as exc:
        raise ArticleError(file, "(file)", f"not valid YAML: {exc}") from exc
    return parse_article_data(file, data, rules, expected_id=Path(path).stem)


def check_unique(articles: list[tuple[str, Article]]) -> None:
    """Ids are global across departments: the bot and the store address articles by id alone."""
    seen: dict[str, str] = {}
    for file, article in articles:
        if article.id in seen:
            raise ArticleError(file, "id", f"duplicate id {article.id!r} (also in {seen[article.id]})")
        seen[article.id] = file


def check_staff_edit(article: Article, others: Iterable[Article], today: date) -> None:
    """What a version staff write on the content page must also meet (files may lag: a passed review date in a
    file marks the article stale, it does not stop it loading). A review date already passed made the article
    stale the moment it was published; two articles titled alike are told apart by nobody in a menu."""
    if article.review_by < today:
        raise ArticleError(article.id, "review_by", f"{article.review_by.isoformat()} is in the past: choose the "
                                                    "date by which the article should next be checked")
    for lang in LANGUAGES:
        title = fold(article.title[lang])
        same = next((o.id for o in others if o.id != article.id and fold(o.title[lang]) == title), None)
        if same is not None:
            raise ArticleError(article.id, f"title.{lang}", f"is already the title of {same}: residents choosing "
                                                           "from a menu could not tell the two apart")


def parse_topics(file: str, data: Any) -> dict[str, dict[str, str]]:
    topics = data.get("topics") if isinstance(data, dict) else None
    if not isinstance(topics, dict) or not topics:
        raise ArticleError(file, "topics", "must be a mapping topic → {en, es}")
    out = {}
    for topic, names in topics.items():
        if not isinstance(topic, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", topic):
            raise ArticleError(file, f"topics.{topic}", "topic must be a snake_case name")
        out[topic] = _localized(file, f"topics.{topic}", names)
    return out


def parse_within(file: str, data: Any, topics: Mapping[str, Any],
                 report_labels: frozenset[str] = frozenset()) -> dict[str, str]:
    """The optional `within` section: finer topic or report label → one coarse topic (one level)."""
    within = data.get("within", {}) if isinstance(data, dict) else {}
    if not isinstance(within, dict):
        raise ArticleError(file, "within", "must be a mapping finer topic → coarse topic")
    for topic, coarse in within.items():
        if topic not in topics and topic not in report_labels:
            raise ArticleError(file, f"within.{topic}",
                               f"unknown topic or report label {topic!r} (add it under topics or to the catalogue)")
        if coarse not in topics:
            raise ArticleError(file, f"within.{topic}", f"unknown topic {coarse!r} (add it under topics)")
        if coarse in within:
            raise ArticleError(file, f"within.{topic}", f"{coarse!r} is itself within another topic; one level only")
    return dict(within)


# --------------------------------------------------------------------------- loading (I/O)
def load_rules(knowledge_dir: Path = KNOWLEDGE_DIR, catalogue_file: Path = CATALOGUE_FILE) -> Rules:
    from chat_server.tickets.catalogue import load_catalogue

    topics_path = knowledge_dir / TOPICS_FILE
    try:
        data = strict_yaml.load(topics_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ArticleError(display_path(topics_path), "(file)", f"cannot read: {exc}") from exc
    catalogue = load_catalogue(catalogue_file)
    codes = frozenset(s.service_code for s in catalogue)
    report_labels = frozenset(s.label for s in catalogue if s.label)
    file = display_path(topics_path)
    topics = parse_topics(file, data)
    return Rules(topics, codes, parse_within(file, data, topics, report_labels))


def article_files(knowledge_dir: Path) -> list[Path]:
    """Articles live one level down, in department folders; top-level YAML files are settings."""
    return sorted(knowledge_dir.glob("*/*.yml"))


def load_articles(knowledge_dir: Path = KNOWLEDGE_DIR, rules: Rules | None = None) -> list[Article]:
    """Every article under `knowledge_dir`, or ArticleError for the first broken file."""
    rules = rules or load_rules(knowledge_dir)
    parsed = []
    for path in article_files(knowledge_dir):
        file = display_path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ArticleError(file, "(file)", f"cannot read: {exc}") from exc
        parsed.append((file, parse_article(file, text, rules)))
    check_unique(parsed)
    return [article for _, article in parsed]
