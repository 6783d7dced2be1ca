"""``ManualClock``: time that moves only when a test moves it.

Code that waits on time takes a clock (``clock() -> datetime``) and, where it sleeps, a
``sleep(seconds)`` coroutine function; a test passes ``clock.now`` and ``clock.sleep`` and
advances the time instead of waiting for it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

TICK = timedelta(microseconds=1)


class ManualClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)
        #: every duration ``sleep`` was asked for, in order
        self.slept: list[float] = []

    def now(self) -> datetime:
        """The time; each reading moves it on by a microsecond, so that readings keep
        their order (rows listed by creation time) as a real clock's do."""
        self._now += TICK
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` and let other coroutines run once."""
        self.slept.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)
