"""Closes conversations nobody has written in for a while (`retention.idle_close_s`).

Retention purges closed conversations only, and a resident who simply walks away never closes
theirs: on one instance 387 of 406 conversations had never closed, so nothing of them was ever
purged. Conversations with the bot (or ticketed) whose last message or update is older than the
idle time are closed with reason "idle"; the resident's next message opens a new conversation.
`idle_warning_s` before that, the resident is told the chat will close and given a button to keep it (a
half-filled report was lost with no warning, probe AH; WCAG 2.2.1): the button, or any message, keeps it open.
Queued and assigned conversations belong to routing and agents: a text left in line overnight is answered in the
morning. Only one nobody wrote in for `retention.staff_idle_close_s` (a week) is closed, with no warning: an SMS
chat still queued after a week, or a chat an agent never closed, was kept for ever and never purged. Every
process runs the sweep; the state compare-and-set lets exactly one of them close each conversation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from enum import StrEnum

from chat_server.conversations.service import ConversationService
from chat_server.conversations.store import ASSIGNED, BOT, QUEUED, TICKETED, Conversation
from chat_server.periodic import repeat
from chat_server.stopping import cancel_and_wait
from chat_server.texts import text

log = logging.getLogger("chat311.idle")

IDLE_STATES = (BOT, TICKETED)
STAFF_STATES = (QUEUED, ASSIGNED)
BATCH = 500
KEEP = "keep_chat"  # the warning's button: `/keep_chat`


class Step(StrEnum):
    WARN = "warn"
    CLOSE = "close"


def idle_step(state: str | None, last_activity: float, warned_at: float, now: float, idle_s: float,
              warning_s: float, staff_idle_s: float = 0.0) -> Step | None:
    """Pure decision: warn the resident, close the conversation, or nothing yet. The close comes `idle_s` after
    the last activity either way; with a warning, `warning_s` (at most half of `idle_s`) of it come after it.
    A conversation with staff closes `staff_idle_s` after its last activity, unwarned (0 = never)."""
    if state in STAFF_STATES:
        return Step.CLOSE if 0 < staff_idle_s < now - last_activity else None
    if idle_s <= 0 or state not in IDLE_STATES:
        return None
    warning_s = min(warning_s, idle_s / 2)
    if warning_s > 0 and warned_at and last_activity <= warned_at:  # nothing since the warning
        return Step.CLOSE if now - warned_at > warning_s else None
    if now - last_activity > idle_s - warning_s:
        return Step.WARN if warning_s > 0 else Step.CLOSE
    return None


class IdleSweeper:
    def __init__(self, conversations: ConversationService, idle_s: float, warning_s: float = 0.0,
                 staff_idle_s: float = 0.0) -> None:
        self.conversations = conversations
        self.store = conversations.store
        self.idle_s = idle_s
        self.warning_s = min(warning_s, idle_s / 2)  # as idle_step reads it
        self.staff_idle_s = staff_idle_s
        # Often enough that a conversation closes within a tenth of the idle time after it is due (and of the
        # warning's time after the warning).
        self.interval_s = min(60.0, max(0.5, min(x for x in (idle_s, warning_s, staff_idle_s, 600.0) if x > 0) / 10))
        self._task: asyncio.Task[None] | None = None
        conversations.register_command(KEEP, self.keep)

    async def sweep(self, now: float | None = None) -> int:
        """Warn or close every idle conversation; returns how many this process closed."""
        now = time.time() if now is None else now
        cids = await self.store.open_ids()
        closed = 0
        for i in range(0, len(cids), BATCH):
            batch = cids[i:i + BATCH]
            for cid, (state, last, warned) in zip(batch, await self.store.activity(batch), strict=True):
                step = idle_step(state, last, warned, now, self.idle_s, self.warning_s, self.staff_idle_s)
                conv = await self.store.get(cid) if step else None
                if conv is None:
                    continue
                if step == Step.WARN and not self._warned(conv):
                    step = Step.CLOSE if now - last > self.idle_s else None
                if step == Step.WARN:
                    await self._warn(conv, now)
                elif step == Step.CLOSE and await self.conversations.close(
                        conv, "idle", expected=(state,) if state in STAFF_STATES else IDLE_STATES):
                    closed += 1
        return closed

    @staticmethod
    def _warned(conv: Conversation) -> bool:
        """A web chat is warned, the page may still be open; a text or an e-mail costs the resident a message, so
        there only a report in progress is (it would be lost)."""
        return conv.channel == "web" or bool(conv.get("active_loop"))

    async def _warn(self, conv: Conversation, now: float) -> None:
        # Only one process warns: the field is set once per stretch of silence.
        if not await self.store.claim_time(conv.id, "idle_warned_at", now, older_than=now - self.idle_s / 4):
            return
        minutes = max(1, round(self.warning_s / 60))
        await self.conversations.say_system(conv, "idle_warning", minutes=minutes, extra={"quick_replies": [
            {"title": text("idle_keep_button", conv.language), "payload": f"/{KEEP}"}]})
        # The warning is activity too (its message): it is the warning's time from now on, so that what comes
        # after it, however soon, is the resident's.
        [(_, said_at, _)] = await self.store.activity([conv.id])
        await self.store.set_time(conv.id, "idle_warned_at", said_at)

    async def keep(self, conv: Conversation, _: object) -> None:
        """The warning's button: the message it sent is activity enough; the resident hears the chat stays."""
        await self.conversations.say_system(conv, "idle_kept")

    async def _sweep_and_log(self) -> None:
        if closed := await self.sweep():
            log.info("idle conversations closed", extra={"closed": closed})

    def start(self) -> None:
        if (self.idle_s > 0 or self.staff_idle_s > 0) and self._task is None:
            self._task = asyncio.create_task(
                repeat(self._sweep_and_log, self.interval_s, log, "idle sweep failed; retrying next interval"))

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None
