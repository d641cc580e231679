"""chat_server's knowledge base over HTTP (POST {CHAT311_URL}/kb/answer, bearer CHAT311_TOKEN), for the
knowledge-base actions and for the report form, which asks it before it starts (bot/README.md)."""

from __future__ import annotations

import logging
import os
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

KB_TIMEOUT_S = 8.0


class KnowledgeClient:
    """chat_server's /kb/answer; None when it cannot answer (the caller falls back, the turn goes on)."""

    def __init__(self, base_url: str, token: str, timeout_s: float = KB_TIMEOUT_S) -> None:
        self.url = f"{base_url.rstrip('/')}/kb/answer"
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def ask(self, body: dict[str, Any]) -> dict[str, Any] | None:
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session, \
                    session.post(self.url, json=body, headers=headers) as resp:
                if resp.status != 200:
                    logger.warning("knowledge base answered %s for %s", resp.status, sorted(body))
                    return None
                return await resp.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.warning("knowledge base unreachable: %s", type(exc).__name__)
            return None


def client_from_env() -> KnowledgeClient:
    return KnowledgeClient(os.environ.get("CHAT311_URL", "http://127.0.0.1:8080"), os.environ.get("CHAT311_TOKEN", ""))
