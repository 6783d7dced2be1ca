"""``BackendPool``: loaded model backends under a memory budget, each loaded once.

Sizes are in mebibytes (``units.MIB``, 2^20 bytes), as ``models.max_memory_mb`` is.

Loading sequence: request -> look in the pool -> load from the source -> keep in the pool
-> return. A model is *in use* between ``acquire`` and the end of its ``with`` block; when a
load would go over ``max_memory_bytes``, the least recently used idle models are unloaded
first. Two concurrent requests for the same model load it once: the second waits for the
first. A model that alone exceeds the budget is refused with a clear error; one that fits
but finds every other model busy waits up to ``wait_seconds`` for room.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from smolit.errors import ModelError
from smolit.models.base import ModelBackend
from smolit.units import MIB

logger = logging.getLogger(__name__)


@dataclass
class _Entry:
    backend: ModelBackend
    memory_bytes: int
    loaded_at: float
    load_seconds: float
    last_used: float
    in_use: int = 0
    uses: int = 0


def _mb(size: int) -> float:
    return round(size / MIB, 1)


class BackendPool:
    def __init__(self, max_memory_bytes: int, wait_seconds: float = 30.0) -> None:
        self.max_memory_bytes = max_memory_bytes
        self.wait_seconds = wait_seconds
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, int] = {}  # key -> bytes reserved while it loads
        self._condition = threading.Condition()
        self.loads: dict[str, int] = {}  # key -> how many times it was loaded

    # --- use ----------------------------------------------------------------------------

    @contextmanager
    def acquire(
        self, key: str, build: Callable[[], ModelBackend], estimate_bytes: int
    ) -> Iterator[ModelBackend]:
        """The loaded model ``key`` (built with ``build`` if absent), in use until exit."""
        entry = self._checkout(key, build, estimate_bytes)
        try:
            yield entry.backend
        finally:
            with self._condition:
                entry.in_use -= 1
                entry.last_used = time.monotonic()
                self._condition.notify_all()

    def _checkout(self, key: str, build: Callable[[], ModelBackend], estimate_bytes: int) -> _Entry:
        with self._condition:
            while True:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.in_use += 1
                    entry.uses += 1
                    entry.last_used = time.monotonic()
                    return entry
                if key not in self._loading:
                    break
                self._condition.wait()  # another thread is loading it
            self._loading[key] = 0  # claimed: a concurrent request for it waits
            try:
                victims = self._make_room(key, estimate_bytes)
            except BaseException:
                del self._loading[key]
                self._condition.notify_all()
                raise
            self._loading[key] = estimate_bytes
        self._close_all(victims)
        return self._load(key, build, estimate_bytes)

    def _load(self, key: str, build: Callable[[], ModelBackend], estimate_bytes: int) -> _Entry:
        started = time.perf_counter()
        try:
            backend = build()
        except BaseException:
            with self._condition:
                del self._loading[key]
                self._condition.notify_all()
            raise
        seconds = time.perf_counter() - started
        measured = backend.memory_bytes()
        now = time.monotonic()
        entry = _Entry(backend, measured or estimate_bytes, now, seconds, now, in_use=1, uses=1)
        with self._condition:
            del self._loading[key]
            self._entries[key] = entry
            self.loads[key] = self.loads.get(key, 0) + 1
            self._condition.notify_all()
        logger.info("model %s loaded in %.1fs (%.0f MB)", key, seconds, _mb(entry.memory_bytes))
        return entry

    def _used(self) -> int:
        return sum(e.memory_bytes for e in self._entries.values()) + sum(self._loading.values())

    def _make_room(self, key: str, needed: int) -> list[tuple[str, ModelBackend]]:
        """Unload idle LRU models until ``needed`` fits; called with the lock held."""
        if needed > self.max_memory_bytes:
            raise ModelError(
                f"model {key} needs about {_mb(needed)} MB, more than the pool's budget of "
                f"{_mb(self.max_memory_bytes)} MB: raise models.max_memory_mb",
                details={
                    "model": key,
                    "needed_mb": _mb(needed),
                    "budget_mb": _mb(self.max_memory_bytes),
                },
            )
        victims: list[tuple[str, ModelBackend]] = []
        deadline = time.monotonic() + self.wait_seconds
        while self._used() + needed > self.max_memory_bytes:
            idle = [(e.last_used, k) for k, e in self._entries.items() if e.in_use == 0]
            if idle:
                _, victim = min(idle)
                entry = self._entries.pop(victim)
                logger.info(
                    "unloading idle model %s (%.0f MB) to make room for %s",
                    victim,
                    _mb(entry.memory_bytes),
                    key,
                )
                victims.append((victim, entry.backend))
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._close_all(victims)
                raise ModelError(
                    f"no room to load model {key} ({_mb(needed)} MB): the pool's "
                    f"{_mb(self.max_memory_bytes)} MB are held by models in use",
                    details={"model": key, "busy": sorted(self._entries)},
                )
            self._condition.wait(remaining)
        return victims

    @staticmethod
    def _close_all(victims: list[tuple[str, ModelBackend]]) -> None:
        for key, backend in victims:
            try:
                backend.close()
            except Exception:  # a backend may fail in any way while closing
                logger.exception("closing model %s failed", key)

    # --- management ---------------------------------------------------------------------

    def put(self, key: str, backend: ModelBackend) -> ModelBackend | None:
        """Add a built backend (an instance from code); returns the one it replaced."""
        now = time.monotonic()
        with self._condition:
            old = self._entries.get(key)
            self._entries[key] = _Entry(backend, backend.memory_bytes(), now, 0.0, now)
            self._condition.notify_all()
        return old.backend if old is not None else None

    def peek(self, key: str) -> ModelBackend | None:
        """The loaded backend of ``key`` without using it; None when not loaded."""
        with self._condition:
            entry = self._entries.get(key)
            return entry.backend if entry is not None else None

    def keys(self) -> list[str]:
        with self._condition:
            return sorted(self._entries)

    def unload(self, key: str) -> bool:
        """Drop ``key`` (even while in use: current calls finish on their reference)."""
        with self._condition:
            entry = self._entries.pop(key, None)
            self._condition.notify_all()
        if entry is None:
            return False
        self._close_all([(key, entry.backend)])
        logger.info("model %s unloaded", key)
        return True

    def close(self) -> None:
        for key in self.keys():
            self.unload(key)

    def resident(self) -> list[dict[str, Any]]:
        """What is loaded: memory, idle time, use counts, and the budget left."""
        now = time.monotonic()
        with self._condition:
            return [
                {
                    "model": key,
                    "backend": entry.backend.definition.backend,
                    "memory_mb": _mb(entry.memory_bytes),
                    "in_use": entry.in_use,
                    "uses": entry.uses,
                    "loads": self.loads.get(key, 0),
                    "load_seconds": round(entry.load_seconds, 3),
                    "loaded_seconds_ago": round(now - entry.loaded_at, 1),
                    "idle_seconds": round(now - entry.last_used, 1) if entry.in_use == 0 else 0.0,
                }
                for key, entry in sorted(self._entries.items())
            ]

    def budget(self) -> dict[str, float]:
        with self._condition:
            used = self._used()
        return {
            "max_memory_mb": _mb(self.max_memory_bytes),
            "used_mb": _mb(used),
            "free_mb": _mb(max(0, self.max_memory_bytes - used)),
        }
