"""``ManualClock``: time that tests advance instead of waiting for it.

Code that waits on time takes a ``clock`` (seconds, like ``time.monotonic``) and a
``sleep`` (like ``time.sleep``); tests pass ``clock.now`` and ``clock.sleep``, so a sleep
moves the clock on at once and the waits that happened can be read back in ``slept``.
"""

from __future__ import annotations

import threading


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
