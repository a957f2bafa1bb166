"""Work a serving process repeats on its own, besides answering requests."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def repeat(interval_s: float, work: Callable[[], Awaitable[object]], what: str, at_once: bool = False) -> None:
    """Run ``work`` every ``interval_s`` until cancelled, the first time at once if ``at_once``.
    A round that fails (the database or Redis away for a while) is logged as ``what`` failing,
    and the next round tries again."""
    while True:
        if not at_once:
            await asyncio.sleep(interval_s)
        at_once = False
        try:
            await work()
        except Exception:
            log.warning("%s failed; trying again in %.0f s", what, interval_s, exc_info=True)
