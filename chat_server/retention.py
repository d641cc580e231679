"""Retention: `chat311 purge` deletes what residents told us once the policy says it is due.

Policy (`retention` in chat311.yml). Every store that holds resident text or contact data:
- conversations (hash, message stream, every other `<prefix>conv:<id>:*` key): `days` after
  closing, per channel, "default" for the rest, 0 = keep forever. Only *closed* conversations
  are ever purged; idle ones (queued and agent-held ones too, after longer) are closed by the sweep in
  conversations/idle.py. The close time is `closed_at`, which every close writes (a conversation closed
  before it was: its last update).
- with them: their entry in the session's list, the session once it has no conversations left
  (and the channel address → session key of SMS/e-mail residents), and the conversation's Rasa
  tracker (which also expires by itself, `tracker_expiry_s`).
- sessions never used (no conversation, created over a day ago) that predate their expiry.
- tickets: `ticket_private_days` after closing, contact details, the filer's own description,
  the transcript, staff-only notes, typed attributes (a plate), raw upstream notes and followers go;
  the public record (redacted description, status) stays. A follow or staff-only note added after
  that goes at the next purge.
- the event stream: events older than `events_days` (it only ever holds redacted data), the content
  inbox's items (resident questions, redacted) last seen longer ago than that, and the upstream dead letters.
- photos (`tickets.media_dir`): a file is kept while a conversation that is kept has it attached to a
  message, or a ticket (whose public record it is part of) names it; any other file older than
  `MEDIA_GRACE_S` goes: the photos of purged conversations, and uploads never attached (probe U: a purged
  chat's photo of an ID card was still served). Younger files may still be attached.
Then Redis is asked to rewrite its append-only file, where deleted keys are otherwise still readable.
Run it daily from cron or a systemd timer; `--dry-run` reports what would go without deleting
anything (event stream entries are not counted in a dry run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError

from chat_server import redis_connect
from chat_server import redis_values as rv
from chat_server.channels.channel_base import identity_key
from chat_server.child_specs import RASA_TRACKER_KEY_PREFIX, rasa_tracker_url
from chat_server.commands import command, load_for_command
from chat_server.config import Config, RetentionConfig
from chat_server.conversations.attachments import OWNER_TTL_S, media_name
from chat_server.conversations.store import ConversationStore
from chat_server.status.followers import FollowerStore
from chat_server.tickets.catalogue import Catalogue, load_catalogue
from chat_server.tickets.outbox import dead_letters_key
from chat_server.tickets.store import TicketStore
from chat_server.training.inbox import Inbox

log = logging.getLogger("chat311.retention")

DAY_S = 86400.0
UNUSED_SESSION_GRACE_S = DAY_S  # far beyond limits.unused_session_ttl_s
# An upload may be attached to a message for OWNER_TTL_S; a file is never swept before that and a day more.
MEDIA_GRACE_S = OWNER_TTL_S + DAY_S


@dataclass
class MediaFiles:
    """Where photos are kept, and the public address their URLs start with (to read a file's name from one)."""

    directory: Path
    public_url: str


@dataclass
class PurgeReport:
    dry_run: bool
    examined: int = 0
    purged: int = 0
    kept_open: int = 0
    kept_recent: int = 0
    keys_deleted: int = 0
    sessions_deleted: int = 0
    trackers_deleted: int = 0
    tickets_redacted: int = 0
    followers_forgotten: int = 0  # of tickets purged before
    events_deleted: int = 0
    inbox_deleted: int = 0
    dead_letters_deleted: int = 0
    photos_deleted: int = 0
    by_channel: Counter[str] = field(default_factory=Counter)
    aof_rewrite: str = ""  # after deleting: whether Redis was asked to rewrite its append-only file

    def deleted_anything(self) -> bool:
        return any((self.purged, self.sessions_deleted, self.trackers_deleted, self.tickets_redacted,
                    self.followers_forgotten, self.events_deleted, self.inbox_deleted, self.dead_letters_deleted))

    def as_dict(self) -> dict[str, object]:
        return {"dry_run": self.dry_run, "examined": self.examined, "purged": self.purged,
                "kept_open": self.kept_open, "kept_recent": self.kept_recent, "keys_deleted": self.keys_deleted,
                "sessions_deleted": self.sessions_deleted, "trackers_deleted": self.trackers_deleted,
                "tickets_redacted": self.tickets_redacted, "followers_forgotten": self.followers_forgotten,
                "events_deleted": self.events_deleted,
                "inbox_deleted": self.inbox_deleted, "dead_letters_deleted": self.dead_letters_deleted,
                "photos_deleted": self.photos_deleted,
                "by_channel": dict(self.by_channel), "aof_rewrite": self.aof_rewrite}


def expired(policy: RetentionConfig, state: str, channel: str, closed_at: float, now: float) -> bool:
    """Pure decision: is this conversation past its retention period?"""
    if state != "closed":
        return False
    days = policy.days_for(channel)
    return days > 0 and now - closed_at > days * DAY_S


async def purge(redis: Redis, prefix: str, policy: RetentionConfig, now: float | None = None,
                dry_run: bool = False, tracker: Redis | None = None, media: MediaFiles | None = None,
                catalogue: Catalogue | None = None) -> PurgeReport:
    """Apply the policy to every store; `tracker` is Rasa's tracker database (None: not reachable); `catalogue`
    tells which ticket attributes residents type (without it, every attribute of a purged ticket goes)."""
    now = time.time() if now is None else now
    report = PurgeReport(dry_run)
    store = ConversationStore(redis, prefix)
    with_photos = await _purge_conversations(store, prefix, policy, now, report, tracker)
    if media is not None:
        await _purge_photos(store, TicketStore(redis, prefix), media, with_photos, now, report, policy.batch_size)
    await _purge_unused_sessions(store, prefix, now, report)
    await _purge_ticket_private_parts(redis, prefix, policy, now, report, catalogue)
    if policy.events_days:
        cutoff = now - policy.events_days * DAY_S
        report.inbox_deleted = await Inbox(redis, prefix).forget_before(cutoff, dry_run)
        if not dry_run:
            oldest_kept = f"{int(cutoff * 1000)}-0"  # stream entry ids start with their time in ms
            report.events_deleted = int(await redis.xtrim(f"{prefix}events", minid=oldest_kept, approximate=False))
            # the upstream system's reasons for refusing a ticket can quote what the resident wrote
            report.dead_letters_deleted = int(await redis.xtrim(dead_letters_key(prefix), minid=oldest_kept,
                                                                approximate=False))
    if not dry_run and report.deleted_anything():
        report.aof_rewrite = await _rewrite_append_only_file(redis)
    log.info("retention purge finished", extra=report.as_dict())
    return report


async def _rewrite_append_only_file(redis: Redis) -> str:
    """Deleted keys stay readable in Redis's append-only file (the embedded Redis keeps one) until Redis rewrites
    it, which it does only as the file grows: a purge asks for the rewrite now. A Redis without an append-only
    file, or one that refuses the command (managed services may), is left to its own persistence."""
    try:
        if not (await redis.info("persistence")).get("aof_enabled"):
            return "no append-only file"
        await redis.bgrewriteaof()
    except RedisError as exc:
        log.warning("the append-only file was not rewritten after the purge", extra={"error": str(exc)})
        return f"not started: {exc}"
    return "started"


async def _purge_conversations(store: ConversationStore, prefix: str, policy: RetentionConfig, now: float,
                               report: PurgeReport, tracker: Redis | None) -> list[str]:
    """Purge what is due; returns the kept conversations that have a photo (a `media_url`)."""
    dry_run = report.dry_run
    with_photos: list[str] = []
    redis = store.redis
    keys_by_conv = await store.conversation_keys()
    cids = sorted(keys_by_conv)
    for i in range(0, len(cids), policy.batch_size):
        batch = cids[i:i + policy.batch_size]
        pipe = redis.pipeline(transaction=False)
        for cid in batch:
            pipe.hmget(store.conversation_key(cid), "state", "channel", "closed_at", "updated_at", "session",
                       "media_url")
        rows = await pipe.execute()
        doomed: list[tuple[str, str, str]] = []
        for cid, (state, channel, closed_at, updated_at, session, photo) in zip(batch, rows, strict=True):
            if state is None:
                continue  # a stray sub-key without its conversation; not ours to judge
            report.examined += 1
            state_s, channel_s = state.decode(), (channel or b"").decode()
            stamp = float((closed_at or updated_at or b"0").decode() or 0)
            if expired(policy, state_s, channel_s, stamp, now):
                doomed.append((cid, channel_s, (session or b"").decode()))
                continue
            if state_s != "closed":
                report.kept_open += 1
            else:
                report.kept_recent += 1
            if photo:
                with_photos.append(cid)
        for cid, channel_s, _ in doomed:
            report.purged += 1
            report.by_channel[channel_s or "unknown"] += 1
            report.keys_deleted += len(keys_by_conv[cid])
        if dry_run or not doomed:
            continue
        pipe = redis.pipeline(transaction=False)
        for cid, _, session in doomed:
            pipe.delete(*keys_by_conv[cid])
            pipe.srem(store.open_key, cid)
            if session:
                pipe.lrem(store.session_conversations_key(session), 0, cid)
        await pipe.execute()
        if tracker is not None:
            report.trackers_deleted += int(await tracker.delete(*[f"{RASA_TRACKER_KEY_PREFIX}{cid}"
                                                                  for cid, _, _ in doomed]))
        for session in {s for _, _, s in doomed if s}:
            if not await redis.exists(store.session_conversations_key(session)):
                await _delete_session(store, prefix, session, report)
    return with_photos


async def _purge_photos(store: ConversationStore, tickets: TicketStore, media: MediaFiles, with_photos: list[str],
                        now: float, report: PurgeReport, batch_size: int) -> None:
    """Delete every photo file no kept conversation or ticket names (see the module doc)."""
    if not media.directory.is_dir():
        return
    kept: set[str] = set()
    for cid in with_photos:
        kept.update(n for url in await store.attachment_urls(cid) if (n := media_name(url, media.public_url)))
    async for url in tickets.media_urls(batch_size):
        if name := media_name(url, media.public_url):
            kept.add(name)
    for path in media.directory.iterdir():
        try:
            if path.name in kept or not path.is_file() or now - path.stat().st_mtime <= MEDIA_GRACE_S:
                continue
            if not report.dry_run:
                path.unlink()
        except FileNotFoundError:  # removed meanwhile (a second purge)
            continue
        report.photos_deleted += 1

async def _delete_session(store: ConversationStore, prefix: str, session: str, report: PurgeReport) -> None:
    """The session hash and, for SMS/e-mail residents, their address → session key."""
    channel, address = await store.redis.hmget(store.session_key(session), "channel", "address")
    if channel and address:
        key = identity_key(prefix, rv.text(channel), rv.text(address))
        if await store.redis.get(key) == session.encode():
            await store.redis.delete(key)
    report.sessions_deleted += await store.delete_session(session)


async def _purge_unused_sessions(store: ConversationStore, prefix: str, now: float, report: PurgeReport) -> None:
    """Sessions that never got a conversation and carry no expiry (made before sessions expired)."""
    redis = store.redis
    async for session in store.session_tokens():
        key = store.session_key(session)
        if await redis.ttl(key) != -1 or await redis.exists(store.session_conversations_key(session)):
            continue
        created = await redis.hget(key, "created_at")
        if created is not None and now - float(created) > UNUSED_SESSION_GRACE_S and not report.dry_run:
            await _delete_session(store, prefix, session, report)


async def _purge_ticket_private_parts(redis: Redis, prefix: str, policy: RetentionConfig, now: float,
                                      report: PurgeReport, catalogue: Catalogue | None) -> None:
    if not policy.ticket_private_days:
        return
    store, followers = TicketStore(redis, prefix), FollowerStore(redis, prefix)
    closed = await store.closed_before(now - policy.ticket_private_days * DAY_S, policy.batch_size)
    due = [tid for tid, purged in closed.items() if not purged]
    report.tickets_redacted = len(due)
    # A ticket purged before may have been followed since (its status page still offers that): those phone numbers
    # and e-mail addresses go too.
    followed_since = sorted(tid for tid in await followers.followed_tickets() if closed.get(tid))
    report.followers_forgotten = len(followed_since)
    if not report.dry_run:
        for ticket_id in due:
            await store.forget_private(ticket_id, catalogue)
            await followers.forget(ticket_id)
        for ticket_id in followed_since:
            await followers.forget(ticket_id)


async def _purge_main(config: Config, dry_run: bool) -> PurgeReport:
    url = config.redis.effective_url()
    redis, tracker = redis_connect.async_client(url), redis_connect.async_client(rasa_tracker_url(url))
    media = MediaFiles(config.resolve_path(config.tickets.media_dir), config.server.public_url)
    try:
        return await purge(redis, config.redis.key_prefix, config.retention, dry_run=dry_run, tracker=tracker,
                           media=media, catalogue=load_catalogue(config.resolve_path(config.tickets.catalogue)))
    finally:
        await redis.aclose()
        await tracker.aclose()


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="report what would be deleted; delete nothing")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON line")


@command("purge", "delete what the retention policy says is due: conversations, sessions, ticket contact "
                  "details, trackers, old events")(_configure)
def _purge(args: argparse.Namespace) -> int:
    config = load_for_command(args)
    report = asyncio.run(_purge_main(config, args.dry_run))
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        verb = "would delete" if report.dry_run else "deleted"
        channels = ", ".join(f"{k}: {v}" for k, v in sorted(report.by_channel.items())) or "none"
        print(f"chat311: purge{' (dry run)' if report.dry_run else ''}: {verb} {report.purged} closed "
              f"conversation(s) ({channels}); kept {report.kept_recent} recent closed and "
              f"{report.kept_open} open; examined {report.examined}; {report.tickets_redacted} ticket(s)' private "
              f"parts, {report.trackers_deleted} tracker(s), {report.events_deleted} event(s), "
              f"{report.sessions_deleted} session(s), {report.inbox_deleted} inbox item(s), "
              f"{report.photos_deleted} photo(s)")
    return 0
