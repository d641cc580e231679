"""Training page API against the real app (in-process) and real Redis, on a temporary copy of the data.

The bot is not needed: the inbox is fed through the app's own event bus, exactly as the
conversation core feeds it. Training itself is exercised end to end in test_training_flow.py.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chat_server.context import CTX, AppContext
from tests.support.servers import in_process_app
from tests.support.staff import console_login

ROOT = Path(__file__).resolve().parent.parent


class App:
    def __init__(self, url: str, ctx: AppContext, data_dir: Path) -> None:
        self.url, self.ctx, self.data_dir = url, ctx, data_dir

    async def session(self, username: str, roles: list[str]) -> tuple[aiohttp.ClientSession, dict[str, str]]:
        from chat_server.agents.auth import SESSION_COOKIE

        token, csrf = await console_login(self.ctx.redis, self.ctx.config.redis.key_prefix, username, roles)
        return aiohttp.ClientSession(cookies={SESSION_COOKIE: token}), {"X-CSRF-Token": csrf}


@pytest.fixture
async def training_app(redis_server: Any, tmp_path: Path) -> AsyncIterator[App]:
    data_dir = tmp_path / "training_data"
    shutil.copytree(ROOT / "training_data", data_dir)
    async with in_process_app(redis_server.url, f"t8a{uuid.uuid4().hex[:6]}:", training={
            "data_dir": str(data_dir), "model_dir": str(tmp_path / "models"), "low_confidence": 0.5}) as (url, app):
        yield App(url, app[CTX], data_dir)


async def test_inbox_label_and_guards(training_app: App) -> None:
    ctx, base = training_app.ctx, f"{training_app.url}/console/training/api"
    # What the conversation core publishes: a fallback (text already redacted), twice, and answers.
    conv = await ctx.store.create("s" * 24, "web", "en")
    await ctx.store.append(conv, "resident", "is the  recycling center open on sundays? call 704-555-0199")
    for _ in range(2):
        await ctx.bus.publish("fallback", conv.id, text="do you rent out the Park Pavilion?", confidence=0.2,
                              language="en")
    await ctx.bus.publish("bot_answered", conv.id, label="faq/trash_schedule", confidence=0.41, language="en")
    await ctx.bus.publish("bot_answered", conv.id, label="greet", confidence=0.98, language="en")
    await ctx.bus.publish("fallback", conv.id, text="/request_human", confidence=0.0, language="en")

    http, csrf = await training_app.session("cora", ["content"])
    async with http:
        async with http.get(f"{base}/inbox") as r:
            assert r.status == 200
            data = await r.json()
        items = {i["text"]: i for i in data["items"]}
        assert set(items) == {"do you rent out the Park Pavilion?",
                              "is the recycling center open on sundays? call [phone …99]"}
        assert items["do you rent out the Park Pavilion?"]["count"] == 2
        unsure = items["is the recycling center open on sundays? call [phone …99]"]
        assert unsure["kind"] == "low_confidence" and unsure["predicted"] == "faq/trash_schedule"
        assert "faq" in data["labels"] and "greet" in data["labels"]
        assert not [label for label in data["labels"] if label.startswith("faq/")]
        assert data["label_names"]["faq"] == "A city question (answered from the knowledge base)"
        assert set(data["label_names"]) == set(data["labels"])

        async with http.post(f"{base}/inbox/{unsure['id']}/label", json={"label": "faq"}) as r:
            assert r.status == 403  # no CSRF header
        for bad in (["faq"], "faq"):  # a body that is not a JSON object is refused before anything is read
            async with http.post(f"{base}/inbox/{unsure['id']}/label", json=bad, headers=csrf) as r:
                assert r.status == 400 and (await r.json())["error"]["code"] == "bad_json"
        async with http.post(f"{base}/inbox/{unsure['id']}/label", json={"label": "no_such_label"},
                             headers=csrf) as r:
            assert r.status == 400 and "unknown label" in (await r.json())["error"]["message"]
        async with http.post(f"{base}/inbox/{unsure['id']}/label", json={"label": "faq/trash_schedule"},
                             headers=csrf) as r:  # retrieval labels are gone: answers are articles
            assert r.status == 400 and "/console/content" in (await r.json())["error"]["message"]
        async with http.post(f"{base}/inbox/{unsure['id']}/label", json={"label": "faq"}, headers=csrf) as r:
            # what was left of a phone number would outlive retention in the training files and every model
            assert r.status == 400 and "personal data" in (await r.json())["error"]["message"]
        assert "sundays" not in (training_app.data_dir / "nlu_faq_en.yml").read_text()
        async with http.post(f"{base}/inbox/{unsure['id']}/dismiss", headers=csrf) as r:
            assert r.status == 200

        pavilion = items["do you rent out the Park Pavilion?"]
        async with http.post(f"{base}/inbox/{pavilion['id']}/faq", headers=csrf, json={
                "key": "pavilion_rental", "answer_en": "x", "answer_es": "y"}) as r:
            assert r.status == 404  # "New FAQ" is retired
        async with http.post(f"{base}/inbox/{pavilion['id']}/label", json={"label": "faq", "language": "es"},
                             headers=csrf) as r:
            assert r.status == 200 and (await r.json())["file"] == "nlu_faq_es.yml"
        async with http.get(f"{base}/inbox") as r:
            assert (await r.json())["items"] == []  # a saved item leaves the inbox
        assert not (training_app.data_dir / "faq_responses.yml").exists()

        # One training at a time; nothing to publish before a training finished.
        await ctx.redis.set(f"{ctx.config.redis.key_prefix}training:lock", "someone")
        async with http.post(f"{base}/train", headers=csrf) as r:
            assert r.status == 409 and (await r.json())["error"]["code"] == "busy"
        await ctx.redis.delete(f"{ctx.config.redis.key_prefix}training:lock")
        async with http.post(f"{base}/publish", headers=csrf) as r:
            assert r.status == 409 and "train a model first" in (await r.json())["error"]["message"]
        async with http.post(f"{base}/rollback", headers=csrf) as r:
            assert r.status == 409

    supervisor, _ = await training_app.session("sid", ["supervisor"])
    async with supervisor, supervisor.get(f"{base}/inbox") as r:
        assert r.status == 403
    # The repository's own files were not touched.
    assert "Park Pavilion" not in (ROOT / "training_data" / "nlu_faq_es.yml").read_text()
