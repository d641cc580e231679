"""The one loop behind every periodic chore (idle sweeps, slow-consumer checks, knowledge reloads,
incident refreshes): a chore that fails is logged and tried again at the next interval, because
these loops must outlive a moment without Redis; only cancelling them (`stopping.cancel_and_wait`)
ends them. Some run every second, so while Redis is away only the first failure of a run of them
carries a traceback; the rest are one line each."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


async def repeat(chore: Callable[[], Awaitable[object]], interval_s: float, log: logging.Logger, failure: str,
                 *, at_once: bool = False) -> None:
    """Run `chore` every `interval_s` seconds, the first time after one interval, or at once."""
    if not at_once:
        await asyncio.sleep(interval_s)
    failing = False
    while True:
        try:
            await chore()
            failing = False
        except Exception as exc:
            log.warning(failure, exc_info=not failing, extra={"error": str(exc)[:200]})
            failing = True
        await asyncio.sleep(interval_s)
