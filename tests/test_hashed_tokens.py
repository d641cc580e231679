"""The one hashed-token store behind Open311 API keys and mobile-app tokens, on a real Redis."""

from __future__ import annotations

import json
import uuid

import redis.asyncio as aioredis

from chat_server.channels.apptokens import AppTokenStore
from chat_server.hashed_tokens import HashedTokenStore, digest
from chat_server.tickets.apikeys import ApiKeyStore, Scope


async def test_issue_check_list_revoke(redis_client: aioredis.Redis) -> None:
    store = HashedTokenStore(redis_client, f"ht{uuid.uuid4().hex[:6]}:things", "c311x", "thing_id", dict)
    record, plain = await store.issue({"name": "Back office"})
    assert plain.startswith(f"c311x_{record['thing_id']}_") and len(plain) > 40
    assert await store.check(plain) == record["thing_id"]
    assert await store.check(plain + "x") is None and await store.check("") is None
    assert await store.check("c" * 201) is None
    # Only the digest is stored, never the token itself.
    raw = await redis_client.hget(store.records_key, record["thing_id"])
    assert plain.encode() not in raw and json.loads(raw)["digest"] == digest(plain)
    assert await store.get(record["thing_id"]) == record  # the digest stays inside the store
    assert await store.revoke(record["thing_id"]) and not await store.revoke("nope")
    assert await store.check(plain) is None
    [listed] = await store.list()
    assert listed["revoked_at"] and listed["name"] == "Back office" and "digest" not in listed


async def test_api_keys_and_app_tokens_keep_their_fields_and_keys_apart(redis_client: aioredis.Redis) -> None:
    prefix = f"ht{uuid.uuid4().hex[:6]}:"
    keys, apps = ApiKeyStore(redis_client, prefix), AppTokenStore(redis_client, prefix)
    key, key_plain = await keys.add("311 back office", [Scope.READ_PRIVATE])
    app, app_plain = await apps.add("CLT+", "https://app.example/hook")
    assert key_plain.startswith("c311_") and app_plain.startswith("c311app_")
    assert await keys.check(app_plain) is None and await apps.check(key_plain) is None
    assert await keys.scopes(key.key_id) == ["read_private"]
    assert app.webhook_secret.startswith("whsec_") and (await apps.get(app.app_id)) == app
    await keys.revoke(key.key_id)
    assert await keys.scopes(key.key_id) == [] and not (await keys.list())[0].active
    # Records written before the stores shared this code read back unchanged.
    legacy = {"key_id": "0ld0ld00", "name": "old", "created_at": 1.0, "revoked_at": None, "last_used_at": None,
              "scopes": [], "digest": digest("c311_0ld0ld00_secret")}
    await redis_client.hset(f"{prefix}apikeys", "0ld0ld00", json.dumps(legacy))
    await redis_client.hset(f"{prefix}apikeys:digest", legacy["digest"], "0ld0ld00")
    assert await keys.check("c311_0ld0ld00_secret") == "0ld0ld00"
    assert (await keys.list())[0].key_id == "0ld0ld00"
