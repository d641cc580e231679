"""Transcript retention: `chat311 purge` deletes only closed conversations past their channel's policy."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from typing import Any

from chat_server.config import RetentionConfig
from chat_server.conversations.store import ConversationStore
from chat_server.retention import DAY_S, expired
from tests.conftest import ROOT


def test_policy_decision() -> None:
    policy = RetentionConfig(days={"web": 30, "sms": 7, "default": 0})
    now = 1_800_000_000.0
    assert expired(policy, "closed", "web", now - 31 * DAY_S, now)
    assert not expired(policy, "closed", "web", now - 29 * DAY_S, now)
    assert expired(policy, "closed", "sms", now - 8 * DAY_S, now)
    assert not expired(policy, "closed", "email", now - 3650 * DAY_S, now)  # default 0 = forever
    for state in ("bot", "queued", "assigned", "ticketed"):
        assert not expired(policy, state, "web", now - 3650 * DAY_S, now)


async def _purge(redis_url: str, prefix: str, *extra: str) -> dict[str, Any]:
    env = {**os.environ, "REDIS_URL": redis_url, "CHAT311_REDIS__KEY_PREFIX": f"'{prefix}'",
           "CHAT311_RETENTION__DAYS": "{web: 30, sms: 7, default: 0}", "CHAT311_LOGGING__JSON": "true"}
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

    report = await _purge(redis_server.url, prefix)
    assert report["purged"] == 3 and not report["dry_run"]
    for _, cid in (old_web, old_sms, (shared_session, old_in_shared)):
        assert not await redis_client.keys(f"{prefix}conv:{cid}*")
    for _, cid in (recent_web, old_open, forever_email, (shared_session, current_in_shared)):
        assert await redis_client.exists(f"{prefix}conv:{cid}", f"{prefix}conv:{cid}:msgs") == 2
    assert not await redis_client.exists(f"{prefix}session:{old_web[0]}")
    assert await redis_client.exists(f"{prefix}session:{shared_session}")
    remaining = [c.decode() for c in await redis_client.lrange(f"{prefix}session:{shared_session}:convs", 0, -1)]
    assert remaining == [current_in_shared]
    assert report["sessions_deleted"] == 2  # old_web's and old_sms's sessions had nothing else

    again = await _purge(redis_server.url, prefix)
    assert again["purged"] == 0
