"""The content staff's training service: the inbox of messages the bot got wrong or did not know, and
the train → test → publish jobs. One object per process, used by the page's API (training/http.py) and
fed by bus events (training/feature.py wires both)."""

from __future__ import annotations

from redis.asyncio import Redis

from chat_server.config import Config
from chat_server.conversations.store import ConversationStore
from chat_server.events import Event
from chat_server.training.data import TrainingData
from chat_server.training.inbox import Inbox, InboxKind
from chat_server.training.jobs import TrainingJobs
from chat_server.training.label_names import load_label_names


class Training:
    """The service object (app[TRAINING]): data, inbox and jobs of this installation."""

    def __init__(self, redis: Redis, config: Config, conversations: ConversationStore) -> None:
        cfg = config.training
        self.conversations = conversations
        self.jobs = TrainingJobs(redis, config)
        self.data = TrainingData(self.jobs.data_dir, config.resolve_path("var"))
        self.inbox = Inbox(redis, config.redis.key_prefix, cfg.inbox_max)
        self.low_confidence = cfg.low_confidence
        self.label_names = load_label_names()

    async def on_fallback(self, event: Event) -> None:
        confidence = event.data.get("confidence")
        await self.inbox.record(str(event.data.get("text") or ""), str(event.data.get("language") or "en"),
                                InboxKind.FALLBACK, "nlu_fallback", float(confidence or 0), event.ts)

    async def on_kb_feedback(self, event: Event) -> None:
        """A "No" on a knowledge-base answer: the question goes to the inbox, kind kb_not_helpful,
        `predicted` = the article id (docs/knowledge.md "Content inbox")."""
        if event.data.get("helpful") is not False:
            return
        await self.inbox.record(str(event.data.get("question") or ""), str(event.data.get("language") or "en"),
                                InboxKind.KB_NOT_HELPFUL, str(event.data.get("article_id") or ""), 0.0,
                                event.ts)

    async def on_menu_rejected(self, event: Event) -> None:
        """"None of these" on a menu of articles: the question none of them answers (probe AI: it was lost)."""
        await self.inbox.record(str(event.data.get("question") or ""), str(event.data.get("language") or "en"),
                                InboxKind.MENU_REJECTED, "", 0.0, event.ts)

    async def on_bot_answered(self, event: Event) -> None:
        confidence = event.data.get("confidence")
        if not isinstance(confidence, int | float) or confidence >= self.low_confidence:
            return
        text = str(event.data.get("text") or "")
        if not text:
            for message in reversed(await self.conversations.messages(event.conversation_id)):
                if message.sender == "resident":
                    text = message.text
                    break
        await self.inbox.record(text, str(event.data.get("language") or "en"), InboxKind.LOW_CONFIDENCE,
                                str(event.data.get("label") or ""), float(confidence), event.ts)
