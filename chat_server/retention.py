"""Transcript retention: `chat311 purge` deletes closed conversations older than the policy allows.

Policy (`retention.days` in chat311.yml): days after closing, per channel, "default" for the
rest, 0 = keep forever. Only *closed* conversations are ever purged — a conversation that is
still with the bot, queued or with an agent is never touched, however old. The close time is
`closed_at` if a feature recorded it, else the conversation's last update (so a late CSAT
rating keeps it a little longer, never shorter).

What goes: the conversation hash, its message stream and every other `<prefix>conv:<id>:*` key,
its entry in the session's conversation list, and the session itself once it has no
conversations left. Rasa's tracker for the conversation expires on its own
(`record_exp` in bot/endpoints.yml, 30 days). Run it daily from cron or a systemd timer;
`--dry-run` reports what would go without deleting anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field

from redis.asyncio import Redis

from chat_server.cli import _load, command
from chat_server.config import Config, RetentionConfig

log = logging.getLogger("chat311.retention")

DAY_S = 86400.0


@dataclass
class PurgeReport:
    dry_run: bool
    examined: int = 0
    purged: int = 0
    kept_open: int = 0
    kept_recent: int = 0
    keys_deleted: int = 0
    sessions_deleted: int = 0
    by_channel: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {"dry_run": self.dry_run, "examined": self.examined, "purged": self.purged,
                "kept_open": self.kept_open, "kept_recent": self.kept_recent, "keys_deleted": self.keys_deleted,
                "sessions_deleted": self.sessions_deleted, "by_channel": dict(self.by_channel)}


def expired(policy: RetentionConfig, state: str, channel: str, closed_at: float, now: float) -> bool:
    """Pure decision: is this conversation past its retention period?"""
    if state != "closed":
        return False
    days = policy.days_for(channel)
    return days > 0 and now - closed_at > days * DAY_S


async def _conversation_keys(redis: Redis, prefix: str) -> dict[str, list[bytes]]:
    """conversation id → all of its keys, from one SCAN over `<prefix>conv:*`."""
    pattern = re.compile(re.escape(prefix).encode() + rb"conv:([0-9a-f]{32})(?::.*)?$", re.S)
    found: dict[str, list[bytes]] = {}
    async for key in redis.scan_iter(match=f"{prefix}conv:*", count=1000):
        match = pattern.match(key)
        if match:
            found.setdefault(match.group(1).decode(), []).append(key)
    return found


async def purge(redis: Redis, prefix: str, policy: RetentionConfig, now: float | None = None,
                dry_run: bool = False) -> PurgeReport:
    now = time.time() if now is None else now
    report = PurgeReport(dry_run)
    keys_by_conv = await _conversation_keys(redis, prefix)
    cids = sorted(keys_by_conv)
    for i in range(0, len(cids), policy.batch_size):
        batch = cids[i:i + policy.batch_size]
        pipe = redis.pipeline(transaction=False)
        for cid in batch:
            pipe.hmget(f"{prefix}conv:{cid}", "state", "channel", "closed_at", "updated_at", "session")
        rows = await pipe.execute()
        doomed: list[tuple[str, str, str]] = []
        for cid, (state, channel, closed_at, updated_at, session) in zip(batch, rows, strict=True):
            if state is None:
                continue  # a stray sub-key without its conversation; not ours to judge
            report.examined += 1
            state_s, channel_s = state.decode(), (channel or b"").decode()
            stamp = float((closed_at or updated_at or b"0").decode() or 0)
            if state_s != "closed":
                report.kept_open += 1
            elif expired(policy, state_s, channel_s, stamp, now):
                doomed.append((cid, channel_s, (session or b"").decode()))
            else:
                report.kept_recent += 1
        for cid, channel_s, _ in doomed:
            report.purged += 1
            report.by_channel[channel_s or "unknown"] += 1
            report.keys_deleted += len(keys_by_conv[cid])
        if dry_run or not doomed:
            continue
        pipe = redis.pipeline(transaction=False)
        for cid, _, session in doomed:
            pipe.delete(*keys_by_conv[cid])
            pipe.srem(f"{prefix}convs:open", cid)
            if session:
                pipe.lrem(f"{prefix}session:{session}:convs", 0, cid)
        await pipe.execute()
        sessions = {s for _, _, s in doomed if s}
        for session in sessions:
            if not await redis.exists(f"{prefix}session:{session}:convs"):
                report.sessions_deleted += await redis.delete(f"{prefix}session:{session}")
    log.info("retention purge finished", extra=report.as_dict())
    return report


async def _purge_main(config: Config, dry_run: bool) -> PurgeReport:
    from chat_server.runner import redis_url_for

    redis = Redis.from_url(redis_url_for(config))
    try:
        return await purge(redis, config.redis.key_prefix, config.retention, dry_run=dry_run)
    finally:
        await redis.aclose()


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="report what would be deleted; delete nothing")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON line")


@command("purge", "delete closed conversations older than the retention policy (retention.days)")(_configure)
def _purge(args: argparse.Namespace) -> int:
    config = _load(args)
    report = asyncio.run(_purge_main(config, args.dry_run))
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        verb = "would delete" if report.dry_run else "deleted"
        channels = ", ".join(f"{k}: {v}" for k, v in sorted(report.by_channel.items())) or "none"
        print(f"chat311: purge{' (dry run)' if report.dry_run else ''}: {verb} {report.purged} closed "
              f"conversation(s) ({channels}); kept {report.kept_recent} recent closed and "
              f"{report.kept_open} open; examined {report.examined}")
    return 0
