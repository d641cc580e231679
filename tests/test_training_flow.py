"""Playwright, end to end with the real bot: messages the bot does not understand reach the content
inbox; a content user labels them as examples of an existing intent (`thank`), trains & tests,
publishes — and a resident saying the same thing gets that intent's reply. Then one-click rollback
brings the previous model back.

Runs against a temporary copy of training_data/ and a temporary model directory
(CHAT311_TRAINING__DATA_DIR / __MODEL_DIR), so the repository's files are never modified, and publishes
into the module's own Rasa (`private_rasa`), so the hot swap never changes the session's model.
Training takes 1-3 minutes of CPU.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from chat_server.training.inbox import Inbox
from tests.support.browser import chromium, new_page, screenshot
from tests.support.servers import quoted_prefix
from tests.support.staff import login, make_account

pytestmark = [pytest.mark.browser, pytest.mark.rasa]
ROOT = Path(__file__).resolve().parent.parent

# Unusual ways of saying thanks (no commas: they go into a CSV); those the current bot does not understand
# become `thank` examples.
CANDIDATES = [
    "much obliged you are a real lifesaver",
    "cheers legend ta very much",
    "bless your heart for sorting that out",
    "kudos to the whole crew top notch work",
    "you rock i owe you big time",
]
WELCOME = "You're welcome"


async def ask(client: Any, text: str, expect: str | None = None, timeout: float = 60) -> list[dict[str, Any]]:
    """Say `text`; wait for the first bot message (or one containing `expect`); return the bot messages."""
    mark = len(client.events)
    assert (await client.say(text, language="en")).get("ok")
    await client.wait_for("bot_uttered", (lambda d: expect in (d.get("text") or "")) if expect else (lambda d: True),
                          timeout=timeout, after=mark)
    return [d for e, d in client.events[mark:] if e == "bot_uttered"]


def _tree_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for f in sorted(path.rglob("*.yml")):
        digest.update(f.name.encode() + f.read_bytes())
    return digest.hexdigest()


async def test_fallback_to_intent_example_train_publish_rollback(
    private_server_factory: Any, redis_server: Any, resident: Any, tmp_path: Path
) -> None:
    repo_digest = _tree_digest(ROOT / "training_data")
    data_dir = tmp_path / "training_data"
    shutil.copytree(ROOT / "training_data", data_dir)
    heldout = tmp_path / "heldout.csv"
    prefix = f"t8t{uuid.uuid4().hex[:6]}:"
    server = await private_server_factory(
        name="chat_server-training-flow", CHAT311_REDIS__KEY_PREFIX=quoted_prefix(prefix),
        CHAT311_TRAINING__DATA_DIR=str(data_dir), CHAT311_TRAINING__MODEL_DIR=str(tmp_path / "models"),
        CHAT311_TRAINING__HELDOUT=str(heldout),
    )
    await make_account(redis_server.url, prefix, "carla", ["content"])

    # 1. A resident says things the bot does not understand.
    redis = aioredis.from_url(redis_server.url)
    inbox = Inbox(redis, prefix)
    for candidate in CANDIDATES:
        client = await resident(server.url)
        await client.start_session()
        await ask(client, candidate)
    missed = {i.text for i in await inbox.open_items() if i.kind == "fallback"}
    learned = [c for c in CANDIDATES if c in missed]
    assert len(learned) >= 2, f"the bot understood too many candidates; inbox: {missed}"
    # Scored before and after: these messages as `thank`. The published model fell back on each of them
    # (before: 0 %); the new model was trained on them (after: most right).
    heldout.write_text("text,label,lang\n" + "".join(f"{text},thank,en\n" for text in learned), encoding="utf-8")

    async with chromium() as browser:
        page = await new_page(browser)
        await login(page, server.url, "carla")
        page.errors.clear()  # type: ignore[attr-defined]  # only this page's errors count
        await page.goto(f"{server.url}/console/training")

        # 2. No "New FAQ": answers are knowledge articles, edited on the content page.
        await page.locator(".item", has_text=learned[0]).wait_for(timeout=15_000)
        assert await page.locator("text=New FAQ").count() == 0
        assert await page.locator("#kb-note a[href='/console/content']").text_content() == "Knowledge articles"
        assert await page.locator("#rollback").is_disabled()  # nothing published yet
        assert not await page.locator("#scores").is_visible()  # `hidden` is not overridden by CSS
        assert "minutes" in str(await page.locator("#train-note").text_content())

        # 3. Label each one "Thanks" (a readable name; the value is the intent); a saved item leaves the inbox.
        for text in learned:
            item = page.locator(".item", has_text=text)
            select = item.locator("select.label-input")
            assert "Thanks" in await select.locator("option").all_text_contents()
            await select.select_option(label="Thanks")
            await item.locator(".assign").click()
            await item.wait_for(state="detached", timeout=10_000)
            await page.locator("#inbox-saved", has_text=text).wait_for(timeout=5_000)
        saved = (data_dir / "nlu_conversation_en.yml").read_text()
        assert all(f"    - {text}\n" in saved for text in learned)
        assert not any(i.text in learned for i in await inbox.open_items())

        # 4. Train & test with progress, then before/after scores.
        await page.click("#train")
        await page.wait_for_function("() => document.getElementById('job-status').textContent === 'running'",
                                     timeout=10_000)
        await page.wait_for_function(
            "() => ['done', 'failed'].includes(document.getElementById('job-status').textContent)",
            timeout=900_000, polling=1000)
        assert await page.locator("#job-status").text_content() == "done", \
            await page.locator("#job-msg").text_content()
        assert await page.locator("#scores").is_visible()
        before, after = await percent(page, "before.accuracy"), await percent(page, "after.accuracy")
        assert before == 0.0, before
        assert after >= 75.0, after
        assert await page.locator("[data-score='after.n']").text_content() == str(len(learned))
        await screenshot(page, "training-scores.png")

        # 5. Publish: hot swap into the running Rasa server; now there is something to roll back.
        await page.click("#publish")
        await page.locator("#job-msg", has_text="Published").wait_for(timeout=600_000)
        assert "content-" in str(await page.locator("#served").text_content())
        assert await page.locator("#rollback").is_enabled()

        # 6. The same message now gets the intent's reply.
        client = await resident(server.url)
        await client.start_session()
        await ask(client, learned[0], expect=WELCOME)

        # 7. One-click rollback brings the previous model back.
        await page.click("#rollback")
        await page.locator("#job-msg", has_text="Rolled back").wait_for(timeout=600_000)
        assert "content-" not in str(await page.locator("#served").text_content())
        assert page.errors == []  # type: ignore[attr-defined]

    client = await resident(server.url)
    await client.start_session()
    replies = await client.turn(learned[0], language="en", timeout=60)  # the whole bot turn
    assert replies, "no answer after the rollback"
    assert not any(WELCOME in (r.get("text") or "") for r in replies), replies  # the old model falls back
    await redis.aclose()
    # The repository's training data was never touched.
    assert _tree_digest(ROOT / "training_data") == repo_digest


async def percent(page: Any, score: str) -> float:
    """A score cell of the training page ("83.3%") as a number; fails on anything else."""
    text = str(await page.locator(f"[data-score='{score}']").text_content())
    assert re.fullmatch(r"\d+(\.\d+)?%", text), f"{score}: {text!r}"
    return float(text[:-1])
