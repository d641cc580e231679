"""The periodic-chore loop: failures are logged and retried, and a run of failures carries one traceback."""

from __future__ import annotations

import asyncio
import logging

import pytest

from chat_server.periodic import repeat
from chat_server.stopping import cancel_and_wait


async def test_a_failing_chore_is_retried_and_only_the_first_failure_of_a_run_has_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    outcomes = [OSError("redis away"), OSError("redis away"), None, OSError("again"), None]
    calls = 0
    done = asyncio.Event()

    async def chore() -> None:
        nonlocal calls
        outcome = outcomes[calls]
        calls += 1
        if calls == len(outcomes):
            done.set()
        if outcome is not None:
            raise outcome

    log = logging.getLogger("chat311.test_periodic")
    with caplog.at_level(logging.WARNING, logger=log.name):
        task = asyncio.create_task(repeat(chore, 0.001, log, "chore failed", at_once=True))
        await asyncio.wait_for(done.wait(), 10)
        await cancel_and_wait([task])
    failures = [r for r in caplog.records if r.name == log.name]
    assert [r.getMessage() for r in failures] == ["chore failed"] * 3
    assert [bool(r.exc_info) for r in failures] == [True, False, True]  # a success starts a new run
    assert [r.__dict__["error"] for r in failures] == ["redis away", "redis away", "again"]
