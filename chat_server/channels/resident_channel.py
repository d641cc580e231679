"""What every channel residents write in on (SMS, e-mail, the app API) is built with.

Each one turns an inbound message into a turn of the same conversation service, under the same
rate limits, and answers an emergency with 911 first (`EmergencyFirst`) before anything else; so
they take the same dependencies, explicitly, and keep them under the same names.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from chat_server import redis_values
from chat_server.channels.channel_base import ChannelBase, drain
from chat_server.channels.settings import ChannelsConfig
from chat_server.config import Config
from chat_server.conversations.emergency_first import EmergencyFirst
from chat_server.conversations.limits import Limit, RateLimiter
from chat_server.conversations.service import ConversationService
from chat_server.stream_outbox import FailureHook, Outbox, RetryPolicy, Sender

# What a channel meets when storage is down or hung: the message cannot be kept, but its sender can still be told.
STORAGE_FAILURES = (RedisError, OSError, TimeoutError)


class ResidentChannel(ChannelBase):
    def __init__(self, config: Config, redis: Redis, service: ConversationService, limiter: RateLimiter,
                 emergency_first: EmergencyFirst) -> None:
        super().__init__(redis, config.redis.key_prefix, service.store, service.bus)
        self.config = config
        self.cfg: ChannelsConfig = config.channels
        self.service = service
        self.limiter = limiter
        self.emergency_first = emergency_first
        # One resident's messages per window, as on the web (limits.session_messages / session_window_s).
        self.resident_limit = Limit(f"{self.name}_resident", config.limits.session_messages,
                                    config.limits.session_window_s)
        self._turns_running: set[asyncio.Task[None]] = set()

    def make_outbox(self, name: str, send: Sender, on_failure: FailureHook) -> Outbox:
        """The channel's durable outbox (stream `outbox:<name>`), retried as `channels.outbox_*` says."""
        cfg = self.cfg
        policy = RetryPolicy(cfg.outbox_max_attempts, cfg.outbox_retry_base_s, cfg.outbox_retry_max_s)
        return Outbox(self.redis, f"{self.prefix}outbox:{name}", send, policy, cfg.outbox_claim_idle_s,
                      on_failure=on_failure)

    def run_turn_later(self, turn: Coroutine[Any, Any, None]) -> None:
        """Run a resident's turn after the webhook or SMTP reply: the sender wants its answer at once, and
        the bot's replies go out through the outbox anyway."""
        task = asyncio.create_task(turn)
        self._turns_running.add(task)
        task.add_done_callback(self._turns_running.discard)

    async def finish_turns(self) -> None:
        """On shutdown (before any cleanup closes Redis): let running turns finish, briefly."""
        await drain(self._turns_running, 5.0)

    async def first_arrival(self, key: str, ttl_s: int, token: str | None = None) -> bool:
        """Whether a provider delivers this message (its id is in `key`) for the first time. The mark holds a token
        of this request: redis-py sends a command again after a timeout, and when the first try landed while Redis
        stalled, the second read as the provider's duplicate and the message, an emergency too, was dropped after
        "200 OK" (probe X). `token`: the one an earlier, refused delivery of the same message used."""
        token = token or secrets.token_hex(8)
        if await self.redis.set(key, token, nx=True, ex=ttl_s):
            return True
        return redis_values.text(await self.redis.get(key) or b"") == token

    async def resident_within_limit(self, resident: str) -> bool:
        """Count one message of `resident` (a phone number, an address, an app's session); False when over."""
        return await self.limiter.hit(self.resident_limit, f"{self.name}|{resident}")

    async def first_refusal(self, resident: str) -> bool:
        """True for the first message of `resident` refused in a window: that one is told to slow down (a
        dropped text otherwise vanished without a word), the rest of a flood is not answered."""
        key = f"{self.prefix}chan:slowed:{self.name}|{resident}"
        return bool(await self.redis.set(key, "1", nx=True, ex=max(1, int(self.resident_limit.window_s))))
