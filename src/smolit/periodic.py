"""``repeat``: run a blocking call every so often, in a thread, surviving its failures."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[object]]


async def repeat(
    function: Callable[[], object],
    interval: float,
    what: str,
    *,
    sleep: Sleep = asyncio.sleep,
    wait_first: bool = False,
) -> None:
    """Call ``function`` in a thread every ``interval`` seconds until cancelled; a failure
    (the database briefly gone) is logged as ``what failed`` and the next round comes."""
    if wait_first:
        await sleep(interval)
    while True:
        try:
            await asyncio.to_thread(function)
        except Exception:  # the database may be briefly gone: try next round
            logger.warning("%s failed", what, exc_info=True)
        await sleep(interval)
