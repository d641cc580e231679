"""Closes conversations nobody has written in for a while (`retention.idle_close_s`).

Retention purges closed conversations only, and a resident who simply walks away never closes
theirs: on one instance 387 of 406 conversations had never closed, so nothing of them was ever
purged. Conversations with the bot (or ticketed) whose last message or update is older than the
idle time are closed with reason "idle"; the resident's next message opens a new conversation.
Queued and assigned conversations belong to routing and agents and are left alone. Every
process runs the sweep; the state compare-and-set lets exactly one of them close each conversation.
"""

from __future__ import annotations

import asyncio
import logging
import time

from chat_server.conversations.service import ConversationService
from chat_server.conversations.store import BOT, TICKETED
from chat_server.periodic import repeat
from chat_server.stopping import cancel_and_wait

log = logging.getLogger("chat311.idle")

IDLE_STATES = (BOT, TICKETED)
BATCH = 500


def is_idle(state: str | None, last_activity: float, now: float, idle_s: float) -> bool:
    """Pure decision: should this conversation be closed for inactivity?"""
    return idle_s > 0 and state in IDLE_STATES and now - last_activity > idle_s


class IdleSweeper:
    def __init__(self, conversations: ConversationService, idle_s: float) -> None:
        self.conversations = conversations
        self.store = conversations.store
        self.idle_s = idle_s
        # Often enough that a conversation closes within a tenth of the idle time after it is due.
        self.interval_s = min(60.0, max(0.5, idle_s / 10))
        self._task: asyncio.Task[None] | None = None

    async def sweep(self, now: float | None = None) -> int:
        """Close every idle conversation; returns how many this process closed."""
        now = time.time() if now is None else now
        cids = await self.store.open_ids()
        closed = 0
        for i in range(0, len(cids), BATCH):
            batch = cids[i:i + BATCH]
            for cid, (state, last) in zip(batch, await self.store.activity(batch), strict=True):
                if not is_idle(state, last, now, self.idle_s):
                    continue
                conv = await self.store.get(cid)
                if conv is not None and await self.conversations.close(conv, "idle", expected=IDLE_STATES):
                    closed += 1
        return closed

    async def _sweep_and_log(self) -> None:
        if closed := await self.sweep():
            log.info("idle conversations closed", extra={"closed": closed})

    def start(self) -> None:
        if self.idle_s > 0 and self._task is None:
            self._task = asyncio.create_task(
                repeat(self._sweep_and_log, self.interval_s, log, "idle sweep failed; retrying next interval"))

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None
