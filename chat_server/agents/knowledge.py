"""Knowledge search for agents: the city's articles through the one KnowledgeSearch the bot and the
content page use, so an agent finds the wording residents get from the bot, including edits
published a moment ago on the content page.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from chat_server.knowledge.live import LiveKnowledge, NotReady
from chat_server.language import detect_language

log = logging.getLogger("chat311.knowledge")


class KnowledgeBase:
    def __init__(self, knowledge: LiveKnowledge | None, wait_s: float = 60.0) -> None:
        self.knowledge = knowledge  # None: the knowledge feature is switched off
        self.wait_s = wait_s  # right after a restart the index is still loading: wait this long for it

    async def search(self, query: str, language: str | None = None, limit: int = 5) -> list[dict[str, Any]]:
        """Best articles for `query`, in `language` (the chat's), else in the query's detected language."""
        if self.knowledge is None or not query.strip():
            return []
        try:
            async with asyncio.timeout(self.wait_s):
                await self.knowledge.ready()
            lang = language or detect_language(query)[0]
            hits = self.knowledge.find(query, lang, limit)
        except (TimeoutError, NotReady) as exc:
            log.warning("knowledge search unavailable", extra={"error": str(exc)})
            return []
        out = []
        for hit in hits:
            version = self.knowledge.search.get(hit.article_id) if self.knowledge.search else None
            if version is None:
                continue
            out.append({"key": hit.article_id, "topic": hit.topic, "title": version.title[lang],
                        "body": version.answer[lang], "details": version.details[lang] if version.details else "",
                        "language": lang, "source": "article", "url": version.url, "department": version.department,
                        "score": round(hit.score, 4)})
        return out
