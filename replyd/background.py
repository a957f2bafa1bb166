"""Work a serving process repeats on its own, besides answering requests."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def repeat(interval_s: float, work: Callable[[], Awaitable[object]], what: str) -> None:
    """Run ``work`` every ``interval_s`` until cancelled. A round that fails (the database or
    Redis away for a while) is logged as ``what`` failing, and the next round tries again."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await work()
        except Exception:
            log.warning("%s failed; trying again in %.0f s", what, interval_s, exc_info=True)
