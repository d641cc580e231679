"""The Rasa bot spoken to directly, without chat_server: a webhook conversation and the label set.

`Conversation` talks to the action-server-backed Rasa over its chat311 webhook (what the bot form
and knowledge-base tests use); `DESIGN_LABELS` is every intent and FAQ label the design promises.
"""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp


async def parse(stack: Any, text: str) -> dict:
    """Rasa's own parse of `text` (its HTTP API), for tests that pick messages by what the model makes of them."""
    async with aiohttp.ClientSession() as session, session.post(
            f"{stack.url}/model/parse", params={"token": stack.token}, json={"text": text}) as resp:
        assert resp.status == 200
        return await resp.json()  # type: ignore[no-any-return]


class Conversation:
    def __init__(self, stack: Any, lang: str = "en", channel: str = "web") -> None:
        self.url = f"{stack.url}/webhooks/chat311/webhook"
        self.sender = f"test-{uuid.uuid4().hex[:12]}"
        self.lang = lang
        self.channel = channel
        self.last: dict = {}

    async def say(self, text: str, lang: str | None = None, **metadata: str) -> dict:
        """One turn; `metadata` adds to what chat_server sends with every message (e.g. ticket_id)."""
        payload = {"sender": self.sender, "message": text,
                   "metadata": {"language": lang or self.lang, "channel": self.channel, **metadata}}
        async with aiohttp.ClientSession() as session, session.post(
                self.url, json=payload, timeout=aiohttp.ClientTimeout(total=60)) as resp:
            assert resp.status == 200, await resp.text()
            self.last = await resp.json()
        return self.last

    async def say_all(self, *texts: str) -> dict:
        """Several turns in a row (the answers that bring a report to the step a test is about)."""
        for text in texts:
            await self.say(text)
        return self.last

    @property
    def texts(self) -> list[str]:
        return [m["text"] for m in self.last["messages"] if m.get("text")]

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    def customs(self, event: str | None = None) -> list[dict]:
        found = [m["custom"] for m in self.last["messages"] if m.get("custom")]
        return [c for c in found if event is None or c.get("event") == event]

    @property
    def buttons(self) -> list[dict]:
        return [b for m in self.last["messages"] for b in (m.get("buttons") or [])]

    @property
    def requested(self) -> str | None:
        return self.last["slots"].get("requested_slot")

    @property
    def attributes(self) -> dict:
        return self.last["slots"].get("attributes") or {}


FAQ_TOPICS = ["utility_bill", "trash_schedule", "animal_adoption", "flooding", "property_tax", "voting",
              "hours_contact", "power_outage", "financial_help", "speaker_request"]


DESIGN_LABELS = [
    "greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "request_human", "emergency",
    "check_request_status",
    *(f"faq/{topic}" for topic in FAQ_TOPICS),
    "report_pothole", "report_streetlight", "report_missed_pickup", "report_graffiti",
    "report_abandoned_vehicle", "report_fallen_tree", "report_water_leak", "report_illegal_dumping",
]
