"""Wires the live knowledge base into the app: store, startup load + reload loop, content page routes.

`ctx.knowledge` is the process's LiveKnowledge (`await .ready()` for its KnowledgeSearch):
the agents' panel and the bot's endpoint search through it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from chat_server.abandonable import in_abandonable_thread
from chat_server.app_hooks import run_with_app
from chat_server.context import AppContext
from chat_server.conversations.service import ConversationService
from chat_server.knowledge import http
from chat_server.knowledge.live import LiveKnowledge, NotReady, State
from chat_server.knowledge.semantic import UniversalSentenceEncoder
from chat_server.knowledge.store import ArticleStore
from chat_server.rasa_parse import RasaReader
from chat_server.safety_semantic import SemanticNet
from chat_server.stopping import cancel_and_wait
from chat_server.training.inbox import Inbox
from chat_server.training.label_names import load_label_names

log = logging.getLogger("chat311.knowledge")


class EmergencyNetLoader:
    """Gives the conversation core the emergency guard's semantic net once the sentence model is loaded: it shares
    the knowledge base's (one copy of the model in memory)."""

    def __init__(self, knowledge: LiveKnowledge, conversations: ConversationService) -> None:
        self.knowledge = knowledge
        self.conversations = conversations
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._load(), name="emergency-net")

    async def _load(self) -> None:
        try:
            await self.knowledge.ready()
        except NotReady:
            return  # no model: the wordings alone (logged by the knowledge base)
        embedder = self.knowledge.embedder
        if embedder is not None:
            self.conversations.emergency_net = await in_abandonable_thread(
                "emergency-net", lambda: SemanticNet.from_examples(embedder))
            log.info("emergency semantic net ready")

    async def stop(self) -> None:
        await cancel_and_wait([self._task])


def setup(app: web.Application, ctx: AppContext) -> None:
    config = ctx.config
    if not config.knowledge.enabled:
        return
    prefix = config.redis.key_prefix
    knowledge = LiveKnowledge(ArticleStore(ctx.redis, prefix), config.resolve_path(config.knowledge.dir),
                              config.resolve_path(config.knowledge.calibration), UniversalSentenceEncoder,
                              config.knowledge.reload_interval_s)
    ctx.knowledge = knowledge
    app[http.KNOWLEDGE] = knowledge
    app[http.INBOX] = Inbox(ctx.redis, prefix, config.training.inbox_max)
    app[http.BOT_READER] = RasaReader(config.rasa.servers(), config.rasa.token, config.rasa.timeout_s)
    app[http.LABEL_NAMES] = load_label_names()
    http.add_routes(app)
    run_with_app(app, knowledge)
    run_with_app(app, EmergencyNetLoader(knowledge, ctx.conversations))

    async def knowledge_check() -> dict[str, Any]:
        # Shown in /readyz, not required: until the index is built (seconds after start) or if it failed,
        # questions get the fallback, while greetings, forms and agents work.
        if knowledge.state is not State.READY:
            raise NotReady(f"knowledge base {knowledge.state}")
        return {"articles": knowledge.status()["articles"],
                "emergency_net": ctx.conversations.emergency_net is not None}  # the guard's semantic net

    ctx.readiness_details["knowledge"] = knowledge_check
