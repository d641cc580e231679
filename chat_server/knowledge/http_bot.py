"""`POST /kb/answer`: the knowledge-base decision the bot's action server asks for (feature module).

The action server is a separate process without the model or the articles; it sends the resident's
text (or an article id the resident picked from a menu or a "More details" button) and gets the
decision JSON of docs/knowledge.md, so the bot, the agents' panel and the content page share this
process's one KnowledgeSearch (`ctx.services["knowledge"]`). Caller authentication: the Rasa token
as a bearer token (chat_server hands it to the action server as CHAT311_TOKEN).

Request:  {"text": str, "language": "en"|"es", "intent"?: Rasa's intent, "conversation_id"?: str}
       or {"article_id": str, "language": "en"|"es"}         → that article as an answer
Response: the decision JSON, `label` per chat_server/knowledge/labels.py. Errors: 401 bad_token,
400 bad_request, 404 unknown_article, 503 kb_loading (the index is still being built at startup).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
from typing import Any

from aiohttp import web

from chat_server.context import CTX, AppContext
from chat_server.knowledge.articles import LANGUAGES
from chat_server.knowledge.labels import decision_label, for_intent
from chat_server.knowledge.loading import build_search
from chat_server.knowledge.ranking import Kind
from chat_server.knowledge.search import Decision, KnowledgeSearch

log = logging.getLogger("chat311.knowledge")

# A bot turn waits this long for the index at startup, then gets 503 (and the resident the fallback);
# below the action server's own timeout (bot/actions/knowledge.py KB_TIMEOUT_S).
KB_READY_TIMEOUT_S = 5.0
MAX_TEXT_CHARS = 2000


class KnowledgeLoader:
    """Builds the process's KnowledgeSearch at startup; requests await it.

    The build (model + embeddings, seconds) runs in a daemon thread, not the default executor:
    a process told to stop while it still loads must not wait for it.
    """

    def __init__(self) -> None:
        self.future: asyncio.Future[KnowledgeSearch] | None = None

    def start(self) -> asyncio.Future[KnowledgeSearch]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[KnowledgeSearch] = loop.create_future()

        def settle(result: KnowledgeSearch | None, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)  # type: ignore[arg-type]

        def build() -> None:
            try:
                search = build_search()
            except BaseException as exc:  # reported on the loop; the thread just ends
                loop.call_soon_threadsafe(settle, None, exc)
            else:
                loop.call_soon_threadsafe(settle, search, None)

        threading.Thread(target=build, name="kb-build", daemon=True).start()
        self.future = future
        return future

    async def search(self, timeout: float) -> KnowledgeSearch | None:
        if self.future is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(self.future), timeout)
        except Exception:  # still loading (timeout) or failed to load (logged by setup)
            return None


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _authorized(request: web.Request, token: str) -> bool:
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {token}"
    return bool(token) and hmac.compare_digest(given.encode(), expected.encode())


def parse_request(body: Any) -> tuple[str | None, str | None, str]:
    """(text, article_id, language) of a valid request; ValueError with a message otherwise."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    language = body.get("language") or "en"
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
    text, article_id = body.get("text"), body.get("article_id")
    if article_id is not None:
        if not isinstance(article_id, str) or not article_id.strip() or len(article_id) > 200:
            raise ValueError("article_id must be a non-empty string")
        return None, article_id.strip(), language
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text must be a non-empty string (or give article_id)")
    return text[:MAX_TEXT_CHARS], None, language


def decision_json(decision: Decision) -> dict[str, Any]:
    out = decision.to_json()
    out["label"] = decision_label(decision)
    if decision.kind is Kind.MENU:
        for option, hit in zip(out["options"], decision.options, strict=True):
            option["topic"] = hit.topic
    return out


async def answer(request: web.Request) -> web.Response:
    ctx: AppContext = request.app[CTX]
    if not _authorized(request, ctx.config.rasa.token):
        return _error(401, "bad_token", "send the Rasa token as 'Authorization: Bearer <token>'")
    try:
        body = await request.json()
        text, article_id, language = parse_request(body)
    except ValueError as exc:  # also a body that is not JSON
        return _error(400, "bad_request", str(exc))
    search = await ctx.services["knowledge_loader"].search(KB_READY_TIMEOUT_S)
    if search is None:
        return _error(503, "kb_loading", "the knowledge base is still loading; try again shortly")
    if article_id is not None:
        article = search.get(article_id)
        if article is None:
            return _error(404, "unknown_article", f"no article {article_id!r}")
        return web.json_response(decision_json(Decision(Kind.ANSWER, language, article=article)))
    decision = await asyncio.to_thread(search.decide, text or "", language)
    intent = body.get("intent") if isinstance(body, dict) else None
    return web.json_response(decision_json(for_intent(decision, intent if isinstance(intent, str) else None)))


def setup(app: web.Application, ctx: AppContext) -> None:
    loader = KnowledgeLoader()
    ctx.services["knowledge_loader"] = loader

    async def start(app: web.Application) -> None:
        def publish(future: asyncio.Future[KnowledgeSearch]) -> None:
            if future.cancelled():
                return
            if future.exception() is not None:
                log.error("knowledge base failed to load: %s", future.exception())
                return
            ctx.services["knowledge"] = future.result()
            log.info("knowledge base loaded", extra={"articles": len(future.result())})

        loader.start().add_done_callback(publish)

    app.on_startup.append(start)
    app.router.add_post("/kb/answer", answer)
