"""The mobile-app API channel: app tokens (CLI), conversations over REST, signed webhooks, and a
schemathesis run of the served OpenAPI document against the live server."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest

from tests.support.channel_standins import App, apptokens, bare_server, issue
from tests.support.images import JPEG


@pytest.fixture
async def api(redis_server):  # type: ignore[no-untyped-def]
    server = await bare_server(redis_server.url, "channel-api",
                               CHAT311_CHANNELS__OUTBOX_RETRY_BASE_S="0.2")
    yield server
    await server.stop()


async def test_conversation_lifecycle_idempotency_and_isolation(api) -> None:  # type: ignore[no-untyped-def]
    token = issue(api, "CLT+ iOS")["token"]
    app = App(api.url, token)
    # No or bad token: 401 in our JSON error format.
    status, body = await App(api.url, "c311app_nope_nope").call("POST", "/api/v1/conversations", {"user_id": "u1"})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, conv = await app.call("POST", "/api/v1/conversations", {"user_id": "resident-42", "language": "es"})
    assert status == 201 and conv["state"] == "bot" and conv["channel"] == "api" and conv["language"] == "es"
    status, again = await app.call("POST", "/api/v1/conversations", {"user_id": "resident-42"})
    assert status == 200 and again["id"] == conv["id"]  # the open conversation is resumed
    cid = conv["id"]
    # A message runs the turn; this turn's replies come back (no bot here: the core's fallback).
    status, sent = await app.call("POST", f"/api/v1/conversations/{cid}/messages",
                                  {"text": "hola, necesito ayuda", "client_msg_id": "m-1"})
    assert status == 201 and sent["duplicate"] is False
    assert sent["message"]["sender"] == "resident" and sent["message"]["text"] == "hola, necesito ayuda"
    [reply] = sent["replies"]
    assert reply["sender"] == "system" and reply["quick_replies"][0]["payload"] == "/request_human"
    assert reply["language"] == "es"
    # The same client_msg_id again (a retry after a lost response) is stored once.
    status, dup = await app.call("POST", f"/api/v1/conversations/{cid}/messages",
                                 {"text": "hola, necesito ayuda", "client_msg_id": "m-1"})
    assert status == 201 and dup["duplicate"] is True and dup["message"]["id"] == sent["message"]["id"]
    # Fetch since an id.
    status, listing = await app.call("GET", f"/api/v1/conversations/{cid}/messages")
    assert [m["id"] for m in listing["messages"]] == [sent["message"]["id"], reply["id"]]
    status, after = await app.call("GET", f"/api/v1/conversations/{cid}/messages",
                                   params={"after": sent["message"]["id"]})
    assert [m["id"] for m in after["messages"]] == [reply["id"]] and after["last_id"] == reply["id"]
    # Bad input: clear 400s.
    for bad in ({"text": ""}, {"text": 5}, {"text": "x" * 2001}, {"text": "ok", "extra": 1}, [1]):
        status, body = await app.call("POST", f"/api/v1/conversations/{cid}/messages", bad)
        assert status == 400 and body["error"]["code"] in ("malformed", "empty", "too_long"), bad
    status, body = await app.call("GET", f"/api/v1/conversations/{cid}/messages", params={"after": "yesterday"})
    assert status == 400
    # Another app cannot see this conversation.
    other = App(api.url, issue(api, "other app")["token"])
    status, body = await other.call("GET", f"/api/v1/conversations/{cid}")
    assert status == 404 and body["error"]["code"] == "not_found"
    # Close; a closed conversation takes no messages; a new one can be started.
    status, closed = await app.call("POST", f"/api/v1/conversations/{cid}/close")
    assert status == 200 and closed["state"] == "closed"
    status, body = await app.call("POST", f"/api/v1/conversations/{cid}/messages", {"text": "hello?"})
    assert status == 409 and body["error"]["code"] == "conversation_closed"
    status, fresh = await app.call("POST", "/api/v1/conversations", {"user_id": "resident-42"})
    assert status == 201 and fresh["id"] != cid
    # Transcript by e-mail needs the e-mail channel (tests/test_channel_email.py): not offered here.
    async with aiohttp.ClientSession(headers=app.headers) as http, \
            http.post(f"{api.url}/api/v1/conversations/{cid}/transcript", json={"email": "a@example.org"}) as resp:
        assert resp.status == 404
    # Tokens are listed without secrets and can be revoked.
    listing_out = apptokens(api, "list")
    assert "CLT+ iOS" in listing_out and token not in listing_out
    app_id = token.split("_")[1]
    apptokens(api, "revoke", app_id)
    status, body = await app.call("GET", f"/api/v1/conversations/{fresh['id']}")
    assert status == 401


async def test_an_app_uploads_a_photo_and_attaches_only_its_own(api) -> None:  # type: ignore[no-untyped-def]
    """The bot asks app users for a photo, yet apps could not upload one, and any `/media/<name>` was taken as the
    attachment, even a name never stored, which became a ticket's public photo link that answered 404 (probe R)."""
    app = App(api.url, issue(api, "photo app")["token"])
    status, conv = await app.call("POST", "/api/v1/conversations", {"user_id": "photo-1"})
    status, other = await app.call("POST", "/api/v1/conversations", {"user_id": "photo-2"})
    assert status == 201

    async def upload(cid: str, data: bytes, name: str = "file") -> tuple[int, dict[str, Any]]:
        form = aiohttp.FormData()
        form.add_field(name, data, filename="pic.jpg", content_type="image/jpeg")
        async with aiohttp.ClientSession(headers=app.headers) as http, \
                http.post(f"{api.url}/api/v1/conversations/{cid}/media", data=form) as resp:
            return resp.status, await resp.json()

    status, body = await upload(conv["id"], b"<html>not a photo</html>" * 4)
    assert status == 415 and body["error"]["code"] == "unsupported_media_type", body
    status, body = await upload(conv["id"], JPEG, name="photo")
    assert status == 400 and "file" in body["error"]["message"], body
    status, uploaded = await upload(conv["id"], JPEG)
    assert status == 201 and uploaded["media_url"].startswith(f"{api.url}/media/"), uploaded
    async with aiohttp.ClientSession() as http, http.get(uploaded["media_url"]) as resp:
        assert resp.status == 200 and await resp.read() == JPEG

    never = f"{api.url}/media/doesnotexist000000000000000000.jpg"
    for cid, url in ((conv["id"], never), (other["id"], uploaded["media_url"])):  # made up; another conversation's
        status, body = await app.call("POST", f"/api/v1/conversations/{cid}/messages",
                                      {"text": "streetlight out", "attachment": {"type": "image", "url": url}})
        assert status == 400 and body["error"]["code"] == "bad_attachment", body
        assert f"/api/v1/conversations/{cid}/media" in body["error"]["message"]
    status, sent = await app.call("POST", f"/api/v1/conversations/{conv['id']}/messages",
                                  {"text": "here it is", "attachment": {"type": "image", "url": uploaded["media_url"]}})
    assert status == 201 and sent["message"]["attachment"]["url"] == uploaded["media_url"], sent


async def test_signed_webhooks_with_retries(api, hook) -> None:  # type: ignore[no-untyped-def]
    issued = issue(api, "city backend", "--webhook-url", hook.url)
    hook.secret = issued["secret"]
    app = App(api.url, issued["token"])
    hook.fail_next = 2  # the app's backend is briefly down: chat311 retries with backoff
    status, conv = await app.call("POST", "/api/v1/conversations", {"user_id": "u-hook"})
    status, sent = await app.call("POST", f"/api/v1/conversations/{conv['id']}/messages", {"text": "hello"})
    assert status == 201
    delivered = await hook.calls.wait_for(lambda calls: [c for c in calls if not c.get("failed")])
    call = delivered[0]
    assert call["valid"], "bad X-Chat311-Signature"
    assert call["event"] == "message" and call["body"]["conversation_id"] == conv["id"]
    assert call["body"]["user_id"] == "u-hook" and call["body"]["message"]["id"] == sent["replies"][0]["id"]
    assert len([c for c in hook.calls.items if c.get("failed")]) == 2
    # Later messages follow in order, each signed; a receiver with the wrong secret rejects them.
    status, second = await app.call("POST", f"/api/v1/conversations/{conv['id']}/messages", {"text": "again"})
    ids = [r["id"] for r in second["replies"]]
    later = await hook.calls.wait_for(lambda calls: [c for c in calls if not c.get("failed")
                                                     and c["body"].get("message", {}).get("id") in ids])
    assert later[0]["valid"]
    hook.secret = "whsec_wrong"
    status, third = await app.call("POST", f"/api/v1/conversations/{conv['id']}/messages", {"text": "third"})
    ids = [r["id"] for r in third["replies"]]
    forged = await hook.calls.wait_for(lambda calls: [c for c in calls if not c.get("failed")
                                                      and c["body"].get("message", {}).get("id") in ids])
    assert forged[0]["valid"] is False
    bodies = [c["body"]["delivery_id"] for c in hook.delivered()]
    assert len(bodies) == len(set(bodies))


async def test_openapi_document_and_schemathesis(api) -> None:  # type: ignore[no-untyped-def]
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    token = issue(api, "fuzzer")["token"]
    app = App(api.url, token)
    status, conv = await app.call("POST", "/api/v1/conversations", {"user_id": f"fuzz-{uuid.uuid4().hex[:6]}"})
    assert status == 201
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance, response_headers_conformance]
    headers = {"Authorization": f"Bearer {token}"}

    def run() -> int:
        schema = schemathesis.openapi.from_url(f"{api.url}/api/openapi.json")
        calls = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
                for path_parameters in (None, {"conversation_id": conv["id"]}):
                    if path_parameters and "{conversation_id}" not in operation.path:
                        continue
                    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

                    @given(case=strategy)
                    @settings(max_examples=15, deadline=None, database=None, derandomize=True,
                              suppress_health_check=list(HealthCheck))
                    def check(case: Any) -> None:
                        nonlocal calls
                        calls += 1
                        case.call_and_validate(base_url=api.url, headers=headers, checks=checks)

                    check()
        return calls

    calls = await asyncio.to_thread(run)
    assert calls > 50
    # The server is still healthy and the real conversation intact.
    status, body = await app.call("GET", f"/api/v1/conversations/{conv['id']}")
    assert status == 200 and body["id"] == conv["id"]
