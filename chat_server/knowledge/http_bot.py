"""`POST /kb/answer`: the knowledge-base decision the bot's action server asks for (feature module).

The action server is a separate process without the model or the articles; it sends the resident's
text (or an article id the resident picked from a menu or a "More details" button) and gets the
decision JSON of docs/knowledge.md, so the bot, the agents' panel and the content page share this
process's one live knowledge base (chat_server/knowledge/live.py). Caller authentication: the Rasa token
as a bearer token (chat_server hands it to the action server as CHAT311_TOKEN).

Request:  {"text": str, "language": "en"|"es", "intent"?: Rasa's intent, "conversation_id"?: str,
           "report_guess"?: {"intent": "report_<service>", "service_code": str, "confidence": 0..1}}
          (report_guess: Rasa's best intent besides faq / nlu_fallback when it chose one of them; labels.py)
       or {"article_id": str, "language": "en"|"es"}         → that article as an answer
Response: the decision JSON, `label` per chat_server/knowledge/labels.py. Errors: 401 bad_token,
400 bad_request, 404 unknown_article, 503 kb_loading (the index is still being built at startup).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from aiohttp import web

from chat_server.context import CTX, AppContext
from chat_server.knowledge.articles import LANGUAGES
from chat_server.knowledge.http import KNOWLEDGE
from chat_server.knowledge.labels import ReportGuess, decision_label, for_intent
from chat_server.knowledge.live import NotReady
from chat_server.knowledge.ranking import Kind
from chat_server.knowledge.search import Decision

log = logging.getLogger("chat311.knowledge")

# A bot turn waits this long for the index at startup, then gets 503 (and the resident the fallback);
# below the action server's own timeout (bot/actions/kb_client.py KB_TIMEOUT_S).
KB_READY_TIMEOUT_S = 5.0
MAX_TEXT_CHARS = 2000


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _authorized(request: web.Request, token: str) -> bool:
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {token}"
    return bool(token) and hmac.compare_digest(given.encode(), expected.encode())


def parse_request(body: object) -> tuple[str | None, str | None, str]:
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


def parse_guess(body: dict[str, Any]) -> ReportGuess | None:
    """The request's `report_guess`, if any; ValueError with a message when it is malformed."""
    guess = body.get("report_guess")
    if guess is None:
        return None
    if not isinstance(guess, dict):
        raise ValueError("report_guess must be an object")
    intent, code, confidence = guess.get("intent"), guess.get("service_code"), guess.get("confidence")
    if not isinstance(intent, str) or not intent.startswith("report_") or not isinstance(code, str) or not code:
        raise ValueError("report_guess needs intent (report_<service>) and service_code")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        raise ValueError("report_guess.confidence must be a number from 0 to 1")
    return ReportGuess(intent, code, float(confidence))


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
        guess = parse_guess(body)
    except ValueError as exc:  # also a body that is not JSON
        return _error(400, "bad_request", str(exc))
    try:
        async with asyncio.timeout(KB_READY_TIMEOUT_S):
            search = await request.app[KNOWLEDGE].ready()
    except (TimeoutError, NotReady):
        return _error(503, "kb_loading", "the knowledge base is still loading; try again shortly")
    if article_id is not None:
        article = search.get(article_id)
        if article is None:
            return _error(404, "unknown_article", f"no article {article_id!r}")
        return web.json_response(decision_json(Decision(Kind.ANSWER, language, article=article)))
    decision = await asyncio.to_thread(search.decide, text or "", language)
    intent = body.get("intent") if isinstance(body, dict) else None
    return web.json_response(decision_json(
        for_intent(decision, intent if isinstance(intent, str) else None, search, guess, text or "")))


def setup(app: web.Application, ctx: AppContext) -> None:
    """After chat_server.knowledge.feature, whose live knowledge base (`app[KNOWLEDGE]`) answers here."""
    if KNOWLEDGE in app:
        app.router.add_post("/kb/answer", answer)
