"""The action server crashing mid-conversation (probe X): Rasa logs the failed action and answers nothing, and
the resident's message got no reply at all. Real Rasa, real action server (killed and brought back by the
suite's supervisor), real chat_server and Socket.IO client."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from tests.support.clients import ResidentClient

pytestmark = pytest.mark.rasa


async def test_a_turn_whose_action_failed_is_answered(rasa_stack: Any, chat_server_url: str) -> None:
    resident = ResidentClient(chat_server_url)
    await resident.connect()
    state = rasa_stack.supervisor.children["actions"]
    try:
        await resident.start_session()
        assert await resident.turn("hello"), "the bot answers before the fault"
        assert state.process is not None
        state.ready_event.clear()
        os.kill(state.process.pid, signal.SIGKILL)
        replies = await resident.turn("I want to report a pothole")  # the report form is a custom action
        said = " ".join(str(r.get("text") or "") for r in replies)
        assert "not responding" in said, replies
    finally:
        await resident.close()
        assert await rasa_stack.supervisor.wait_ready("actions", 120), "the action server did not come back"
