"""The knowledge base one chat_server process serves, kept in step with every other process.

Startup (in a worker thread, so the process answers chats meanwhile): read the article files,
publish into Redis those that are new or whose file changed since Redis last saw it, then index
what Redis holds. An invalid file is skipped with its file and field logged and listed on the
content page; its last good published version keeps serving (a fresh install without one
simply lacks that article until the file is fixed). A broken topic list or calibration file
stops the knowledge base (state `failed`, logged), not the chat service.

Afterwards Redis is the source of truth: content staff publish there (`save`, `rollback`,
`add_question`), and every process polls the store's generation (one GET a second) and upserts
just the changed articles into its own KnowledgeSearch. `chat311 kb export DIR` writes the
published versions back to YAML files so edits can be committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from chat_server.abandonable import in_abandonable_thread
from chat_server.knowledge.articles import (
    KNOWLEDGE_DIR,
    LANGUAGES,
    TOPICS_FILE,
    Article,
    ArticleError,
    Rules,
    article_files,
    check_staff_edit,
    load_rules,
    parse_article,
    parse_article_data,
)
from chat_server.knowledge.diff import diff_articles, merge_fields
from chat_server.knowledge.lexical import fold
from chat_server.knowledge.ranking import load_calibration
from chat_server.knowledge.scope import load_out_of_scope
from chat_server.knowledge.search import Hit, IndexUpdateError, KnowledgeSearch
from chat_server.knowledge.semantic import Embedder
from chat_server.knowledge.store import ArticleStore, Origin, Version, VersionConflict, content_sha
from chat_server.periodic import repeat
from chat_server.stopping import cancel_and_wait

log = logging.getLogger("chat311.knowledge")


class State(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class NotReady(RuntimeError):
    """The knowledge base is still loading (or failed to load)."""


class NotFound(KeyError):
    pass


class AlreadyExists(ValueError):
    """A new article's id is taken (ids are global: the bot and the store address articles by id alone)."""


class Unchanged(ValueError):
    """A publish that would change nothing: it only added an empty version to the history."""


@dataclass(frozen=True)
class FileArticle:
    file: str  # relative to the knowledge directory
    sha: str
    article: Article


def read_files(knowledge_dir: Path, rules: Rules) -> tuple[list[FileArticle], list[ArticleError]]:
    """Every valid article file, and one error per invalid one (the rest still load)."""
    good: list[FileArticle] = []
    errors: list[ArticleError] = []
    seen: dict[str, str] = {}
    for path in article_files(knowledge_dir):
        file = str(path.relative_to(knowledge_dir))
        try:
            article = parse_article(file, path.read_text(encoding="utf-8"), rules)
        except ArticleError as exc:
            errors.append(exc)
            continue
        except OSError as exc:
            errors.append(ArticleError(file, "(file)", f"cannot read: {exc}"))
            continue
        if article.id in seen:
            errors.append(ArticleError(file, "id", f"duplicate id {article.id!r} (also in {seen[article.id]})"))
            continue
        seen[article.id] = file
        good.append(FileArticle(file, content_sha(article.to_data()), article))
    return good, errors


def hit_json(hit: Hit, lang: str) -> dict[str, Any]:
    return {"id": hit.article_id, "topic": hit.topic, "title": hit.title[lang], "score": round(hit.score, 4),
            "semantic": round(hit.semantic, 4), "lexical": round(hit.lexical, 4)}


class LiveKnowledge:
    def __init__(self, store: ArticleStore, knowledge_dir: Path, calibration_file: Path,
                 embedder_factory: Callable[[], Embedder], reload_interval_s: float = 1.0) -> None:
        self.store = store
        self.knowledge_dir = knowledge_dir
        self.calibration_file = calibration_file
        self._embedder_factory = embedder_factory
        self.reload_interval_s = reload_interval_s
        self.state = State.LOADING
        self.search: KnowledgeSearch | None = None
        self.embedder: Embedder | None = None  # the sentence model, once loaded (the emergency net shares it)
        self.rules: Rules | None = None
        self.errors: list[dict[str, str]] = []  # invalid files / published versions, for the content page
        self._generation = 0
        self._applied: dict[str, int] = {}  # article id → version in this process's index
        self._apply = asyncio.Lock()  # one index change at a time (publish here vs. reload from elsewhere)
        self._epoch = 0  # bumped on every index change: invalidates the cached draft fork
        self._draft: tuple[tuple[str, int], KnowledgeSearch] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loaded = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="knowledge")

    async def stop(self) -> None:
        await cancel_and_wait([self._task])

    async def ready(self) -> KnowledgeSearch:
        """The search, once loaded; NotReady if loading failed."""
        await self._loaded.wait()
        return self._search()

    def _search(self) -> KnowledgeSearch:
        if self.search is None:
            raise NotReady("the knowledge base is " + ("still loading" if self.state is State.LOADING else
                                                          "unavailable (see the server log)"))
        return self.search

    async def _run(self) -> None:
        try:
            await self._load()
        except Exception as exc:
            self.state = State.FAILED
            self.errors.append({"file": "", "field": "", "message": str(exc), "source": "startup"})
            log.error("knowledge base failed to load", extra={"error": str(exc)})
            return
        finally:
            self._loaded.set()
        await repeat(self.sync, self.reload_interval_s, log, "knowledge reload failed")

    async def _load(self) -> None:
        calibration = await asyncio.to_thread(load_calibration, self.calibration_file)
        await self.publish_files()
        self._generation = await self.store.generation()
        current = await self.store.all_current()
        articles = [a for a in (self._parse_published(v) for v in current.values()) if a is not None]
        embedder = self.embedder = await in_abandonable_thread("knowledge-model", self._embedder_factory)
        scope = await asyncio.to_thread(load_out_of_scope, self.knowledge_dir)
        self.search = await in_abandonable_thread(
            "knowledge-index", lambda: KnowledgeSearch(embedder, calibration, articles, scope))
        self._applied = {a.id: current[a.id].version for a in articles}
        self.state = State.READY
        log.info("knowledge base ready", extra={"articles": len(articles), "to_review": len(self.errors)})

    async def publish_files(self) -> None:
        """Validate the article files (the invalid ones are listed in `errors`), publish those Redis has not seen in
        this form, merged with staff's edits made since, and retire those whose file is gone (at startup)."""
        topics_dir = self.knowledge_dir if (self.knowledge_dir / TOPICS_FILE).exists() else KNOWLEDGE_DIR
        self.rules = await asyncio.to_thread(load_rules, topics_dir)
        files, file_errors = await asyncio.to_thread(read_files, self.knowledge_dir, self.rules)
        for exc in file_errors:
            self._error(exc, "file")
        await self._seed(files, {Path(e.file).stem for e in file_errors})

    async def _seed(self, files: list[FileArticle], broken: set[str]) -> None:
        current = await self.store.all_current()
        retired = await self.store.retired()
        for item in files:
            cur = current.get(item.article.id)
            if cur is not None and (cur.file_sha == item.sha or content_sha(cur.data) == item.sha):
                continue
            if (gone := retired.get(item.article.id)) is not None and gone.file_sha == item.sha:
                continue  # staff retired it on the page; its file, unchanged since, does not bring it back
            base = cur.version if cur else await self.store.latest_version(item.article.id)
            data, note = item.article.to_data(), f"loaded from {item.file}"
            if cur is not None and cur.data is not None and cur.origin != Origin.FILE:
                data, note = await self._merged_with_staff(item, cur)
            with contextlib.suppress(VersionConflict):  # a sibling process seeded it at the same time
                await self.store.publish(item.article.id, data, base, "file", Origin.FILE, item.file, item.sha,
                                         note=note)
        on_disk = {f.article.id for f in files} | broken
        for article_id, cur in current.items():
            if article_id not in on_disk and cur.file and not (self.knowledge_dir / cur.file).exists():
                with contextlib.suppress(VersionConflict):
                    await self.store.publish(article_id, None, cur.version, "file", Origin.RETIRED, cur.file,
                                             "", note=f"{cur.file} was deleted")

    async def _merged_with_staff(self, item: FileArticle, staff: Version) -> tuple[dict[str, Any], str]:
        """A file changed after staff edited its article: staff's version with the file's changes since it was
        last loaded, field by field. A field both changed stays staff's and is listed on the content page."""
        assert staff.data is not None and self.rules is not None
        loaded = next((v.data for v in await self.store.history(item.article.id)  # newest first
                       if v.origin == Origin.FILE and v.data is not None), None)
        merged, conflicts = merge_fields(loaded or {}, staff.data, item.article.to_data())
        try:
            parse_article_data(item.file, merged, self.rules, expected_id=item.article.id)
        except ArticleError:  # the two halves do not make a valid article together: keep staff's, say so
            merged = staff.data
            conflicts = [change.field for change in diff_articles(loaded or {}, item.article.to_data())]
        for name in conflicts:
            self.errors.append({"file": item.file, "field": name, "source": f"version {staff.version}",
                                "message": f"changed both in the file and on this page (version {staff.version}, "
                                           f"{staff.author}): the page's text is kept; compare them and fix one"})
        log.warning("article file changed after staff edits", extra={"file": item.file, "conflicts": conflicts})
        kept = f"; kept the page's {', '.join(conflicts)}" if conflicts else ""
        return merged, f"{item.file} changed after staff edits (version {staff.version}): merged{kept}"

    def _error(self, exc: ArticleError, source: str) -> None:
        self.errors.append({"file": exc.file, "field": exc.field, "message": exc.message, "source": source})
        log.error("invalid knowledge article", extra={"file": exc.file, "field": exc.field, "error": exc.message})

    def _parse_published(self, version: Version) -> Article | None:
        assert self.rules is not None
        if version.data is None:
            return None
        try:
            return parse_article_data(version.file or "(published)", version.data, self.rules)
        except ArticleError as exc:
            self._error(exc, f"published version {version.version}")
            return None

    # ------------------------------------------------------------------ reload
    async def sync(self) -> int:
        """Apply what other processes published since the last check; returns how many articles changed."""
        if self.search is None:
            return 0
        generation, ids = await self.store.changes_since(self._generation)
        if ids is None:  # the change log was trimmed past us: compare everything
            ids = set(await self.store.all_current()) | set(self._applied)
        changed = 0
        for article_id in sorted(ids):
            changed += await self._apply_published(article_id)
        self._generation = generation
        return changed

    async def _apply_published(self, article_id: str) -> int:
        version = await self.store.current(article_id)
        async with self._apply:
            search = self._search()
            if version is None:
                return int(self._remove(article_id))
            if self._applied.get(article_id) == version.version:
                return 0
            article = self._parse_published(version)
            if article is None:
                return 0
            try:
                await asyncio.to_thread(search.upsert, article)
            except IndexUpdateError as exc:
                log.error("published article refused by the index", extra={"article": article_id, "error": str(exc)})
                return 0
            self._applied[article_id] = version.version
            self._epoch += 1
            return 1

    def _remove(self, article_id: str) -> bool:
        """Take a retired article out of this process's index (under `_apply`); False if it was not there. Like
        every index change it invalidates the cached draft fork (a removal synced from another process did not)."""
        self._applied.pop(article_id, None)
        self._epoch += 1
        return self._search().remove(article_id)

    # ------------------------------------------------------------------ publish
    def parse(self, article_id: str, data: object) -> Article:
        """Validate an edit (ArticleError names the field); the id cannot change."""
        if self.rules is None:
            raise NotReady("the knowledge base is still loading")
        return parse_article_data(article_id, data, self.rules, expected_id=article_id)

    async def save(self, article_id: str, data: object, base_version: int, author: str,
                   origin: Origin = Origin.EDIT, note: str = "") -> Version:
        """Validate, check against the index, publish if `base_version` is still the latest, serve it here."""
        article = self.parse(article_id, data)
        current = await self.store.current(article_id)
        if current is None:
            raise NotFound(article_id)
        if base_version == current.version and current.data is not None and \
                content_sha(article.to_data()) == content_sha(current.data):  # (a stale base is a conflict first)
            raise Unchanged(f"nothing changed since version {current.version}, so nothing was published")
        if origin is Origin.EDIT:
            check_staff_edit(article, self._search().articles(), date.today())
        return await self._publish(article, base_version, author, origin, current.file, current.file_sha, note)

    async def create(self, article_id: str, data: object, author: str, note: str = "") -> Version:
        """A new article from the content page, live at once. A retired id may be used again: its history goes on."""
        article = self.parse(article_id, data)
        if await self.store.current(article_id) is not None:
            raise AlreadyExists(f"there is already an article {article_id}: choose another id, or open it to edit it")
        check_staff_edit(article, self._search().articles(), date.today())
        base = await self.store.latest_version(article_id)
        return await self._publish(article, base, author, Origin.CREATED, "", "", note)

    async def _publish(self, article: Article, base_version: int, author: str, origin: Origin, file: str,
                       file_sha: str, note: str) -> Version:
        async with self._apply:
            forked = await asyncio.to_thread(self._search().fork, [article])  # IndexUpdateError: refused
            version = await self.store.publish(article.id, article.to_data(), base_version, author, origin,
                                               file, file_sha, note)
            self.search = forked
            self._applied[article.id] = version.version
            self._epoch += 1
        log.info("article published", extra={"article": article.id, "version": version.version, "by": author,
                                             "origin": str(origin)})
        return version

    async def rollback(self, article_id: str, to_version: int, base_version: int, author: str) -> Version:
        old = await self.store.version(article_id, to_version)
        if old is None or old.data is None:
            raise NotFound(f"{article_id} version {to_version}")
        return await self.save(article_id, old.data, base_version, author, Origin.ROLLBACK,
                               note=f"rollback to version {to_version}")

    async def retire(self, article_id: str, base_version: int, author: str, note: str = "") -> Version:
        """Stop serving an article at once, everywhere (an ended program, a harmful answer): only deleting its file
        and restarting could (probe AA). Its history stays, and `restore` brings it back."""
        current = await self.store.current(article_id)
        if current is None:
            raise NotFound(article_id)
        async with self._apply:
            version = await self.store.publish(article_id, None, base_version, author, Origin.RETIRED, current.file,
                                               current.file_sha, note or "retired on the content page")
            self._remove(article_id)
        log.info("article retired", extra={"article": article_id, "version": version.version, "by": author})
        return version

    async def restore(self, article_id: str, author: str) -> Version:
        """Serve a retired article again: its last published text, as a new version."""
        if await self.store.current(article_id) is not None:
            raise AlreadyExists(f"{article_id} is not retired: it is published")
        last = await self.store.last_published(article_id)
        if last is None or last.data is None:
            raise NotFound(article_id)
        return await self._publish(self.parse(article_id, last.data), await self.store.latest_version(article_id),
                                   author, Origin.ROLLBACK, last.file, last.file_sha,
                                   f"restored version {last.version}")

    async def add_question(self, article_id: str, question: str, lang: str, author: str) -> tuple[Version, bool]:
        """Append a resident's question as a sample question, on top of whatever is latest; False when the
        article already had it (nothing published)."""
        if lang not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        if not self._search().knows_words(question, lang):
            # "asdfgh qwerty zxcv" attached from the inbox made the bot answer gibberish with an article (probe P)
            raise ArticleError(article_id, f"questions.{lang}",
                               f"no word of {question[:60]!r} is in any {lang} article: is it gibberish, a typo or "
                               f"another language? If it is a real question, add it by editing the article")
        base = 0
        for _ in range(3):
            current = await self.store.current(article_id)
            if current is None or current.data is None:
                raise NotFound(article_id)
            base = current.version
            data = copy.deepcopy(current.data)
            questions = data["questions"][lang]
            if fold(" ".join(question.split())) in {fold(q) for q in questions}:
                return current, False
            questions.append(question)
            try:
                return await self.save(article_id, data, current.version, author, Origin.INBOX,
                                       note=f"sample question added ({lang})"), True
            except VersionConflict:
                continue  # someone published meanwhile: add it to theirs
        raise VersionConflict(article_id, base, await self.store.latest_version(article_id))

    # ------------------------------------------------------------------ questions
    def find(self, text: str, lang: str, k: int, relevant_only: bool = False) -> list[Hit]:
        """The k best published articles for `text` (the content page's and the agents' search); `relevant_only`:
        only those the bot would offer at all (a score of at least the menu's), so "xyzzy" finds nothing rather than
        twenty articles."""
        search = self._search()
        hits = search.search(text, lang, k)
        return [h for h in hits if h.score >= search.calibration.menu_min] if relevant_only else hits

    async def explain(self, text: str, lang: str, draft: tuple[str, Any] | None = None,
                      parse: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the bot would answer (decision + top 3 with scores), against a draft article if given. With
        Rasa's `parse` of the text, also the label the bot acts on (`bot`): Rasa may start a report or fall back
        where the search alone would answer or offer a menu."""
        from chat_server.training.nlu_eval import bot_decision

        search = self._search()
        if draft is not None:
            article = self.parse(*draft)
            key = (content_sha(article.to_data()), self._epoch)
            if self._draft is None or self._draft[0] != key:
                self._draft = key, await asyncio.to_thread(search.fork, [article])
            search = self._draft[1]
        decision, hits = await asyncio.to_thread(search.explain, text, lang)
        out = {"decision": decision.to_json(), "top": [hit_json(h, decision.language) for h in hits]}
        if parse is not None:
            label, kind = await asyncio.to_thread(bot_decision, text, parse, search)
            out["bot"] = {"label": label, "kind": kind}
        return out

    def status(self) -> dict[str, Any]:
        return {"state": str(self.state), "articles": len(self.search) if self.search else 0,
                "generation": self._generation, "errors": self.errors}
