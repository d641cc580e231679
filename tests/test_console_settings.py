"""The agent console's settings reach a signed-in agent from the `console` section, and from their
old place under `routing` (still accepted), in a real bot-less chat_server process."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.agents import agent_client, escalation_env, fresh_prefix, make_agent

CANNED = [{"key": "wait", "en": "One moment please.", "es": "Un momento, por favor."},
          {"key": "bye", "en": "Goodbye!"}]
DISPOSITIONS = ["answered", "sent_to_phone"]


@pytest.mark.parametrize("section", ["CONSOLE", "ROUTING"])
async def test_hello_carries_the_configured_canned_responses_and_dispositions(bare_factory: Any, redis_server: Any,
                                                                              section: str) -> None:
    prefix = fresh_prefix()
    server = await bare_factory(**escalation_env(prefix, **{
        f"CHAT311_{section}__CANNED_RESPONSES": json.dumps(CANNED),
        f"CHAT311_{section}__DISPOSITIONS": json.dumps(DISPOSITIONS)}))
    await make_agent(redis_server.url, prefix, "ann")
    agent = await agent_client(server.url, "ann")
    try:
        hello = await agent.call("hello")
    finally:
        await agent.close()
    assert hello["dispositions"] == DISPOSITIONS
    # a canned response without Spanish falls back to the English text
    assert hello["canned"] == [CANNED[0], {"key": "bye", "en": "Goodbye!", "es": "Goodbye!"}]
    assert hello["accept_timeout_s"] == 30.0
