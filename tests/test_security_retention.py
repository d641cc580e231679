"""Transcript retention: `chat311 purge` deletes only closed conversations past their channel's policy."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from chat_server.channels.channel_base import identity_key
from chat_server.child_specs import RASA_TRACKER_KEY_PREFIX, rasa_tracker_url
from chat_server.config import RetentionConfig
from chat_server.conversations.idle import Step, idle_step
from chat_server.conversations.store import ConversationStore
from chat_server.events import Event, EventBus
from chat_server.redaction import redact
from chat_server.retention import DAY_S, expired
from chat_server.status.followers import FollowerKind, FollowerStore
from chat_server.tickets.store import StatusEntry, Ticket, TicketStore
from chat_server.training.inbox import Inbox, InboxKind
from tests.support.images import JPEG
from tests.support.open311 import start_server
from tests.support.servers import ROOT, chat311_env
from tests.support.waiting import until


def test_policy_decision() -> None:
    policy = RetentionConfig(days={"web": 30, "sms": 7, "default": 0})
    now = 1_800_000_000.0
    assert expired(policy, "closed", "web", now - 31 * DAY_S, now)
    assert not expired(policy, "closed", "web", now - 29 * DAY_S, now)
    assert expired(policy, "closed", "sms", now - 8 * DAY_S, now)
    assert not expired(policy, "closed", "email", now - 3650 * DAY_S, now)  # default 0 = forever
    for state in ("bot", "queued", "assigned", "ticketed"):
        assert not expired(policy, state, "web", now - 3650 * DAY_S, now)


async def _purge(redis_url: str, prefix: str, *extra: str, **env_extra: str) -> dict[str, Any]:
    env = chat311_env(redis_url, prefix, **{"CHAT311_RETENTION__DAYS": "{web: 30, sms: 7, default: 0}",
                                            "CHAT311_LOGGING__JSON": "true", **env_extra})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "chat_server.cli", "purge", "--json", *extra,
                                                cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


async def test_purge_command_dry_run_then_delete(redis_server: Any, redis_client: Any) -> None:
    prefix = f"ret{uuid.uuid4().hex[:6]}:"
    store = ConversationStore(redis_client, prefix)
    now = time.time()

    async def conversation(channel: str, state: str, age_days: float, session: str | None = None) -> tuple[str, str]:
        session = session or await store.new_session(channel)
        conv = await store.create(session, channel, "en")
        await store.append(conv, "resident", "my card is 4111 1111 1111 1111")
        await store.append(conv, "bot", "thanks")
        await redis_client.hset(f"{prefix}conv:{conv.id}", mapping={"state": state,
                                                                   "updated_at": f"{now - age_days * DAY_S:.3f}"})
        await redis_client.set(f"{prefix}conv:{conv.id}:cmid:abc", "1-0")
        return session, conv.id

    old_web = await conversation("web", "closed", 40)
    # a session with an old closed conversation and a current one: the session must survive
    shared_session, old_in_shared = await conversation("web", "closed", 45)
    _, current_in_shared = await conversation("web", "bot", 45, session=shared_session)
    recent_web = await conversation("web", "closed", 10)
    old_open = await conversation("web", "assigned", 400)
    old_sms = await conversation("sms", "closed", 8)
    forever_email = await conversation("email", "closed", 3000)

    dry = await _purge(redis_server.url, prefix, "--dry-run")
    assert dry["dry_run"] and dry["purged"] == 3 and dry["by_channel"] == {"web": 2, "sms": 1}
    assert dry["kept_open"] == 2 and dry["kept_recent"] == 2
    assert await redis_client.exists(f"{prefix}conv:{old_web[1]}:msgs"), "dry run deleted something"

    aof = redis_server.data_dir / "appendonly.aof"  # the embedded Redis's append-only file
    await until(lambda: old_web[1].encode() in aof.read_bytes(), 10, "the conversation never reached the AOF")
    report = await _purge(redis_server.url, prefix)
    assert report["purged"] == 3 and not report["dry_run"]
    for _, cid in (old_web, old_sms, (shared_session, old_in_shared)):
        assert not await redis_client.keys(f"{prefix}conv:{cid}*")
    # Deleted keys stayed readable in the append-only file until Redis happened to rewrite it.
    assert report["aof_rewrite"] == "started", report

    async def rewritten() -> bool:
        info = await redis_client.info("persistence")
        return not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]

    await until(rewritten, 30, "the append-only file was not rewritten")
    kept = aof.read_bytes()
    assert current_in_shared.encode() in kept and old_web[1].encode() not in kept
    for _, cid in (recent_web, old_open, forever_email, (shared_session, current_in_shared)):
        assert await redis_client.exists(f"{prefix}conv:{cid}", f"{prefix}conv:{cid}:msgs") == 2
    assert not await redis_client.exists(f"{prefix}session:{old_web[0]}")
    assert await redis_client.exists(f"{prefix}session:{shared_session}")
    remaining = [c.decode() for c in await redis_client.lrange(f"{prefix}session:{shared_session}:convs", 0, -1)]
    assert remaining == [current_in_shared]
    assert report["sessions_deleted"] == 2  # old_web's and old_sms's sessions had nothing else

    again = await _purge(redis_server.url, prefix)
    assert again["purged"] == 0 and again["aof_rewrite"] == ""  # nothing deleted: no rewrite asked for


async def test_purge_covers_every_store(redis_server: Any, redis_client: Any) -> None:
    """Sessions, channel addresses, Rasa trackers, ticket contact details and events: what is due goes."""
    prefix = f"ret{uuid.uuid4().hex[:6]}:"
    store, tickets = ConversationStore(redis_client, prefix), TicketStore(redis_client, prefix)
    tracker = aioredis.from_url(rasa_tracker_url(redis_server.url))
    now = time.time()

    async def closed_conversation(session: str, channel: str, age_days: float) -> str:
        conv = await store.create(session, channel, "en")
        await store.append(conv, "resident", "call me at 704-555-0188")
        await redis_client.hset(f"{prefix}conv:{conv.id}", mapping={"state": "closed",
                                                                   "updated_at": f"{now - age_days * DAY_S:.3f}"})
        await tracker.set(f"{RASA_TRACKER_KEY_PREFIX}{conv.id}", '{"slots": {"phone": "704-555-0188"}}')
        return conv.id

    # An SMS resident whose only conversation is due: conversation, tracker, session and address go.
    sms_session = await store.new_session("sms", address="+17045550188")
    await redis_client.set(identity_key(prefix, "sms", "+17045550188"), sms_session)
    old_sms = await closed_conversation(sms_session, "sms", 8)
    recent_web = await closed_conversation(await store.new_session("web"), "web", 3)
    # Sessions that never got a message, from before they expired by themselves.
    stale_unused = await store.new_session("web", ip="203.0.113.9")
    await redis_client.hset(f"{prefix}session:{stale_unused}", "created_at", f"{now - 2 * DAY_S:.3f}")
    fresh_unused = await store.new_session("web", ip="203.0.113.10")

    async def ticket(status: str, age_days: float) -> str:
        created, _ = await tickets.create(Ticket(
            id="", service_code="GENERAL", description="Call me at 704-555-0188",
            public_description=redact("Call me at 704-555-0188"), transcript="my ssn is 123-45-6789",
            contact={"email": "ann@example.org", "phone": "704-555-0188"}, account_id="acct-9"))
        ts = now - age_days * DAY_S
        await tickets.record_status(created, StatusEntry(ts, status, "resolved" if status == "closed" else "submitted"))
        return created.id

    old_closed, recent_closed, old_open = [await ticket(s, age) for s, age in (("closed", 40), ("closed", 5),
                                                                                ("open", 40))]
    # Staff notes, followers and those who stopped following hold names, numbers and addresses too (probe AB).
    followers = FollowerStore(redis_client, prefix)
    for tid in (old_closed, recent_closed):
        loaded = await tickets.get(tid)
        assert loaded is not None
        await tickets.record_status(loaded, StatusEntry(loaded.history[-1].ts, "closed", "resolved",
                                                        "Caller Ana Torres, cell 980-555-0177", "cli", public=False))
        await followers.follow(tid, FollowerKind.EMAIL, "victim1@example.org")
        await followers.stop(tid, FollowerKind.EMAIL, "vecina@example.org")
    old_token = (await followers.followers(old_closed))[0].token
    # What a resident typed into a report's fields: a plate, a description naming the owner and where she lives.
    vehicle, _ = await tickets.create(Ticket(
        id="", service_code="ABANDONED_VEHICLE", description="a van", public_description="a van",
        attributes={"plate": "ABC1234", "days_parked": "9",
                    "vehicle_description": "red Honda, the owner Ana Torres lives at 12 Oak St"}))
    await tickets.update_fields(vehicle.id, media_url="http://127.0.0.1/media/van.jpg")  # public: it stays
    await tickets.record_status(vehicle, StatusEntry(now - 40 * DAY_S, "closed", "resolved"))
    # What the city's upstream system wrote back is kept raw (only its public copy is redacted).
    await tickets.update_fields(old_closed, upstream_notes="crew spoke with the owner Ana Torres, 980-555-0177",
                                upstream_error="refused: caller 980-555-0177 unreachable",
                                media_url="http://127.0.0.1/media/bill.jpg")  # a callback's photo: never public
    # A ticket purged before staff notes were (its private fields gone, its note not) is purged again.
    legacy = await ticket("closed", 40)
    loaded = await tickets.get(legacy)
    assert loaded is not None
    await tickets.record_status(loaded, StatusEntry(loaded.history[-1].ts, "closed", "resolved", "Ana at 12 Oak St",
                                                    "cli", public=False))
    await tickets.forget_private(legacy)
    await redis_client.hdel(f"{prefix}ticket:{legacy}", "private_purge_version")
    inbox = Inbox(redis_client, prefix)  # residents' words the bot missed (redacted), kept like the events
    await inbox.record("is there a goat rental program", "en", InboxKind.FALLBACK, "", 0.0, ts=now - 40 * DAY_S)
    await inbox.record("como alquilo una cabra", "es", InboxKind.FALLBACK, "", 0.0, ts=now - 5 * DAY_S)
    stream = f"{prefix}events"
    await redis_client.xadd(stream, {"kind": "csat", "data": "{}"}, id=f"{int((now - 40 * DAY_S) * 1000)}-0")
    await redis_client.xadd(stream, {"kind": "csat", "data": "{}"}, id=f"{int((now - 5 * DAY_S) * 1000)}-0")
    dead = f"{prefix}outbox:dead"  # the upstream system's refusals can quote the resident
    for age in (40, 5):
        await redis_client.xadd(dead, {"ticket_id": old_closed, "error": "400 caller Ana Torres 980-555-0177",
                                       "ts": "0"}, id=f"{int((now - age * DAY_S) * 1000)}-0")

    env = {"CHAT311_RETENTION__TICKET_PRIVATE_DAYS": "30", "CHAT311_RETENTION__EVENTS_DAYS": "30"}
    dry = await _purge(redis_server.url, prefix, "--dry-run", **env)
    assert dry["purged"] == 1 and dry["tickets_redacted"] == 3 and dry["trackers_deleted"] == 0
    assert dry["inbox_deleted"] == 1 and len(await inbox.open_items()) == 2
    assert await redis_client.hget(f"{prefix}ticket:{old_closed}", "contact"), "dry run changed a ticket"

    report = await _purge(redis_server.url, prefix, **env)
    assert report["purged"] == 1 and report["trackers_deleted"] == 1
    assert report["tickets_redacted"] == 3 and report["events_deleted"] == 1 and report["sessions_deleted"] == 2
    assert report["inbox_deleted"] == 1 and [i.text for i in await inbox.open_items()] == ["como alquilo una cabra"]
    assert not await redis_client.keys(f"{prefix}conv:{old_sms}*")
    assert not await tracker.exists(f"{RASA_TRACKER_KEY_PREFIX}{old_sms}")
    assert not await redis_client.exists(f"{prefix}session:{sms_session}", identity_key(prefix, "sms", "+17045550188"))
    assert not await redis_client.exists(f"{prefix}session:{stale_unused}")
    assert await redis_client.exists(f"{prefix}session:{fresh_unused}")
    assert await redis_client.exists(f"{prefix}conv:{recent_web}:msgs")
    assert await tracker.exists(f"{RASA_TRACKER_KEY_PREFIX}{recent_web}")

    purged = await tickets.get(old_closed)
    assert purged is not None and purged.contact == {} and purged.transcript is None and purged.account_id is None
    assert purged.description == "" and purged.public_text == "Call me at [phone …88]" and purged.status == "closed"
    assert [e.note for e in purged.history if not e.public] == [None] and purged.history[-1].status == "closed"
    assert not await redis_client.keys(f"{prefix}ticket:{old_closed}:*follow*")
    assert await followers.by_token(old_token) is None
    legacy_now = await tickets.get(legacy)
    assert legacy_now is not None and [e.note for e in legacy_now.history if not e.public] == [None]
    for kept in (recent_closed, old_open):
        ticket_now = await tickets.get(kept)
        assert ticket_now is not None and ticket_now.contact["email"] == "ann@example.org"
        assert ticket_now.transcript and "704-555-0188" in ticket_now.description
    recent = await tickets.get(recent_closed)
    assert recent is not None and [e.note for e in recent.history if not e.public] == [
        "Caller Ana Torres, cell 980-555-0177"]
    assert [f.address for f in await followers.followers(recent_closed)] == ["victim1@example.org"]
    assert [e[1][b"kind"] for e in await redis_client.xrange(stream)] == [b"csat"]
    assert report["dead_letters_deleted"] == 1 and await redis_client.xlen(dead) == 1
    assert await redis_client.hmget(f"{prefix}ticket:{old_closed}", "upstream_notes", "upstream_error") == [None, None]
    van = await tickets.get(vehicle.id)
    assert van is not None and van.attributes == {"days_parked": "9"}, van.attributes  # the count is no one's
    assert van.media_url == "http://127.0.0.1/media/van.jpg" and purged.media_url is None
    # Someone follows the long-closed ticket after its purge (its status page still offers it): the next purge
    # takes that address too, and leaves the recent ticket's follower.
    await followers.follow(old_closed, FollowerKind.SMS, "+19805550111")
    again = await _purge(redis_server.url, prefix, **env)
    assert again["tickets_redacted"] == 0 and again["followers_forgotten"] == 1, again
    assert not await redis_client.keys(f"{prefix}ticket:{old_closed}:*follow*")
    assert [f.address for f in await followers.followers(recent_closed)] == ["victim1@example.org"]
    # ... and so does an internal note staff add to it afterwards.
    await tickets.record_status(purged, StatusEntry(now, "closed", "resolved", "called back Ana Torres at 980-555-0177",
                                                    "cli", public=False))
    assert (await _purge(redis_server.url, prefix, **env))["tickets_redacted"] == 1
    noted = await tickets.get(old_closed)
    assert noted is not None and [e.note for e in noted.history if not e.public] == [None, None], noted.history
    quiet = await _purge(redis_server.url, prefix, **env)
    assert quiet["followers_forgotten"] == 0 and quiet["tickets_redacted"] == 0, quiet
    await tracker.aclose()


async def test_purge_deletes_the_photos_nothing_kept_names(redis_server: Any, redis_client: Any,
                                                          tmp_path: Path) -> None:
    """Probe U: a purged chat's photo (of an ID card) was still served, with nothing to ever delete it."""
    prefix = f"ret{uuid.uuid4().hex[:6]}:"
    public = "http://chat.city.test"
    media = tmp_path / "media"
    media.mkdir()
    store, tickets = ConversationStore(redis_client, prefix), TicketStore(redis_client, prefix)
    now = time.time()

    names: dict[str, str] = {}  # what the test calls a photo → its stored name, random as uploads are

    def photo(label: str, age_days: float) -> str:
        name = names[label] = f"{secrets.token_urlsafe(18)}.jpg"
        (media / name).write_bytes(JPEG)
        os.utime(media / name, (now - age_days * DAY_S, now - age_days * DAY_S))
        return f"{public}/media/{name}"

    async def conversation(age_days: float, *photos: str) -> str:
        conv = await store.create(await store.new_session("web"), "web", "en")
        for url in photos:
            await store.append(conv, "resident", "", attachment={"type": "image", "url": url})
        await redis_client.hset(f"{prefix}conv:{conv.id}", mapping={
            "state": "closed", "updated_at": f"{now - age_days * DAY_S:.3f}",
            **({"media_url": photos[-1]} if photos else {})})
        return conv.id

    await conversation(40, photo("id-card", 40))  # purged: its photo goes
    await conversation(10, photo("earlier", 10), photo("later", 10))  # kept: both its photos stay
    reported = photo("pothole", 40)
    await conversation(40, reported)  # purged, but its photo is a ticket's public photo
    await tickets.create(Ticket(id="", service_code="POTHOLE", description="hole", public_description="hole",
                                media_url=reported))
    photo("never-attached", 3)  # an upload nobody attached
    photo("just-uploaded", 0.1)  # may still be attached
    (media / ".upload-0123").write_bytes(b"partial")  # a temporary file of an upload cut off long ago
    os.utime(media / ".upload-0123", (now - 5 * DAY_S, now - 5 * DAY_S))

    env = {"CHAT311_TICKETS__MEDIA_DIR": str(media), "CHAT311_SERVER__PUBLIC_URL": public}
    dry = await _purge(redis_server.url, prefix, "--dry-run", **env)
    assert dry["photos_deleted"] == 3 and (media / names["id-card"]).exists()
    report = await _purge(redis_server.url, prefix, **env)
    assert report["purged"] == 2 and report["photos_deleted"] == 3
    left = {label for label, name in names.items() if (media / name).exists()}
    assert left == {"earlier", "later", "pothole", "just-uploaded"} and not (media / ".upload-0123").exists()
    assert (await _purge(redis_server.url, prefix, **env))["photos_deleted"] == 0


async def test_event_stream_keeps_no_contact_details(redis_client: Any) -> None:
    prefix = f"ev{uuid.uuid4().hex[:6]}:"
    bus = EventBus(redis_client, prefix)
    seen: list[dict[str, Any]] = []

    async def handler(event: Event) -> None:
        seen.append(event.data)

    bus.subscribe("form_completed", handler)
    data = {"description": "hole; text me at 704-555-0188", "first_name": "Ana", "last_name": "Ruiz",
            "phone": "704-555-0188", "email": "ana.ruiz@example.org", "attributes": {"note": "ana.ruiz@example.org"}}
    await bus.publish("form_completed", "c1", label="pothole", data=data)
    assert seen[0]["data"] == data  # the ticket is filed from the full data
    [(_, fields)] = await redis_client.xrange(f"{prefix}events")
    stored = fields[b"data"].decode()
    for secret in ("704-555-0188", "Ana", "Ruiz", "example.org"):
        assert secret not in stored
    assert json.loads(stored)["data"]["description"] == "hole; text me at [phone …88]"


async def test_idle_conversations_are_warned_then_close(redis_server: Any, redis_client: Any, resident: Any) -> None:
    """The close came with no warning and lost a half-filled report (probe AH; WCAG 2.2.1): the resident is warned
    first, with a button that keeps the chat."""
    prefix = f"idle{uuid.uuid4().hex[:6]}:"
    server = await start_server(redis_server, "idle-close", prefix, CHAT311_RETENTION__IDLE_CLOSE_S="4",
                                CHAT311_RETENTION__IDLE_WARNING_S="2")
    try:
        client = await resident(server.url)
        await client.start_session()
        assert (await client.say("hello"))["ok"]
        warned = await client.wait_for("bot_uttered", lambda m: "Are you still there?" in m.get("text", ""),
                                       timeout=20)
        [keep] = warned["quick_replies"]
        assert keep["title"] == "Keep my chat" and not client.of("conversation_closed")
        mark = len(client.events)
        assert (await client.say(keep["payload"]))["ok"]
        await client.wait_for("bot_uttered", lambda m: "stays open" in m.get("text", ""), after=mark)
        # kept: warned again after another quiet stretch, and closed only after that
        again = await client.wait_for("bot_uttered", lambda m: "Are you still there?" in m.get("text", ""),
                                      timeout=20, after=mark)
        assert not [e for e, _ in client.events[mark:] if e == "conversation_closed"]
        closed = await client.wait_for("conversation_closed", timeout=20, after=mark)
        assert closed["reason"] == "idle"
        assert closed is not again
        [cid] = await ConversationStore(redis_client, prefix).session_conversations(str(client.session_id))
        assert await redis_client.hget(f"{prefix}conv:{cid}", "state") == b"closed"
        assert not await redis_client.sismember(f"{prefix}convs:open", cid)
    finally:
        await server.stop()


def test_idle_decision() -> None:
    # no warning: closed once idle
    assert idle_step("bot", 0.0, 0.0, 100.0, 60, 0) == Step.CLOSE and idle_step("ticketed", 0.0, 0.0, 100.0, 60, 0)
    assert idle_step("bot", 50.0, 0.0, 100.0, 60, 0) is None
    for state in ("queued", "assigned", "closed", None):
        assert idle_step(state, 0.0, 0.0, 10_000.0, 60, 10) is None
    assert idle_step("bot", 0.0, 0.0, 10_000.0, 0, 10) is None  # 0 = never
    # warned `warning_s` before the close, closed `warning_s` after the warning if nothing came since
    assert idle_step("bot", 0.0, 0.0, 49.0, 60, 10) is None
    assert idle_step("bot", 0.0, 0.0, 51.0, 60, 10) == Step.WARN
    assert idle_step("bot", 51.0, 51.0, 55.0, 60, 10) is None  # the warning's own message is no activity
    assert idle_step("bot", 51.0, 51.0, 62.0, 60, 10) == Step.CLOSE
    assert idle_step("bot", 51.2, 51.0, 62.0, 60, 10) is None  # a keep a moment after the warning counts
    assert idle_step("bot", 58.0, 51.0, 62.0, 60, 10) is None  # the resident wrote: a new stretch
    assert idle_step("bot", 58.0, 51.0, 109.0, 60, 10) == Step.WARN
    assert idle_step("bot", 0.0, 0.0, 31.0, 60, 1000) == Step.WARN  # at most half of the idle time
    # with staff: closed, unwarned, `staff_idle_s` after the last activity; never by the bot's idle time
    for state in ("queued", "assigned"):
        assert idle_step(state, 0.0, 0.0, 601.0, 60, 10, staff_idle_s=600) == Step.CLOSE
        assert idle_step(state, 2.0, 0.0, 601.0, 60, 10, staff_idle_s=600) is None
        assert idle_step(state, 0.0, 0.0, 10**9, 60, 10, staff_idle_s=0) is None  # 0 = never
    assert idle_step("bot", 0.0, 0.0, 40.0, 60, 0, staff_idle_s=10) is None


async def test_rasa_tracker_expiry_follows_the_retention_policy(chat_server_url: str, resident: Any,
                                                                 redis_server: Any, redis_client: Any) -> None:
    client = await resident(chat_server_url)
    await client.start_session()
    await client.turn("hello")
    [cid] = await ConversationStore(redis_client, "c311:").session_conversations(str(client.session_id))
    tracker = aioredis.from_url(rasa_tracker_url(redis_server.url))
    try:
        ttl = await tracker.ttl(f"{RASA_TRACKER_KEY_PREFIX}{cid}")
    finally:
        await tracker.aclose()
    expected = RetentionConfig().tracker_expiry_s()
    assert expected is not None and expected - 600 < ttl <= expected
