"""``ManualClock`` (seconds) and ``ManualDateClock`` (aware datetimes): time that tests
advance instead of waiting for it.

Code that waits on time takes a ``clock`` (seconds, like ``time.monotonic``) and a
``sleep`` (like ``time.sleep``); tests pass ``clock.now`` and ``clock.sleep``, so a sleep
moves the clock on at once and the waits that happened can be read back in ``slept``.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta


class ManualClock:
    """A clock that moves only when told: by ``advance`` or by ``sleep``."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        #: every ``sleep`` asked for, in order
        self.slept: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock does not go back ({seconds} s)")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Return at once, ``seconds`` later by this clock."""
        self.advance(seconds)
        with self._lock:
            self.slept.append(seconds)


TICK = timedelta(microseconds=1)


class ManualDateClock:
    """Wall-clock time (aware ``datetime``) that moves only when a test moves it; its
    ``sleep`` is a coroutine function."""

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
