"""``BoundedCache``: a thread-safe in-process cache with a byte limit, a policy and TTLs.

The memory, tensor and response caches are ``BoundedCache`` objects that differ in how
they measure a value. A value larger than the whole cache is not cached and evicts
nothing, so one oversized value never empties a cache.
"""

from __future__ import annotations

import contextlib
import pickle
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from cachetools import Cache

from smolit.cache.policies import (
    EVICTION_REASONS,
    Clock,
    Entry,
    EvictionReason,
    check_policy,
    make_store,
)
from smolit.errors import ValidationError

MISSING = object()


@dataclass
class CacheStats:
    """Counters of one cache since it was built."""

    hits: int = 0
    misses: int = 0
    #: values not cached because they were larger than the whole cache
    oversized: int = 0
    #: values read from a shared store (Redis, the disk) and refused: a missing or wrong
    #: authentication tag, or a payload of the wrong shape
    rejected: int = 0
    evictions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVICTION_REASONS, 0))

    @property
    def hit_rate(self) -> float | None:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hit_rate,
            "oversized": self.oversized,
            "rejected": self.rejected,
            "evictions": dict(self.evictions),
        }


def pickled_size(value: Any) -> int:
    """The bytes ``value`` takes pickled: a portable measure of any cacheable value."""
    return len(pickled(value))


def pickled(value: Any) -> bytes:
    """``value`` pickled; a ``ValidationError`` naming its type when it cannot be."""
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as exc:
        raise ValidationError(
            f"cannot cache a value of type {type(value).__qualname__}: it cannot be pickled "
            f"({exc})",
            details={"type": type(value).__qualname__},
        ) from exc


def check_ttl(ttl: float | None, default: float) -> float:
    """The TTL an entry gets: ``ttl`` if given (it must be positive), else ``default``."""
    if ttl is None:
        return default
    if not isinstance(ttl, int | float) or isinstance(ttl, bool) or not ttl > 0:
        raise ValidationError(f"ttl must be a positive number of seconds, not {ttl!r}")
    return float(ttl)


class BoundedCache:
    """Key to value, at most ``limit_bytes`` in total as measured by ``sizeof``."""

    def __init__(
        self,
        name: str,
        limit_bytes: int,
        *,
        policy: str = "lru",
        default_ttl: float = 3600,
        sizeof: Callable[[Any], int] = pickled_size,
        clock: Clock = time.monotonic,
    ) -> None:
        if limit_bytes < 0:
            raise ValidationError(f"cache {name!r}: the limit must be >= 0 bytes")
        self.name = name
        self.policy = check_policy(policy)
        self.limit_bytes = limit_bytes
        self.default_ttl = check_ttl(default_ttl, 3600)
        self.counters = CacheStats()
        self._sizeof = sizeof
        self._clock = clock
        self._lock = threading.RLock()
        self._store = make_store(self.policy, limit_bytes, clock, self._evicted)
        #: the ttl policy keeps a deadline heap of its own and expires from it
        self._store_expire: Callable[..., Any] | None = getattr(self._store, "expire", None)

    def _evicted(self, reason: EvictionReason, _entry: Entry) -> None:
        self.counters.evictions[reason] += 1

    # --- lookups, counted and not ------------------------------------------------------

    def peek(self, key: Hashable) -> Any:
        """The live value of ``key`` or ``MISSING``, not counted as a hit or a miss;
        an expired entry leaves on the way."""
        with self._lock:
            if self._store_expire is not None:
                self._store_expire()
            entry = self._store.get(key)
            if entry is None:
                return MISSING
            if entry.expires <= self._clock():
                # the ttl policy removes an expired key, then says so
                with contextlib.suppress(KeyError):
                    del self._store[key]
                self._evicted("ttl", entry)
                return MISSING
            return entry.value

    def record(self, hit: bool) -> None:
        """Count one lookup (for caches that look further than this one on a miss)."""
        if hit:
            self.counters.hits += 1
        else:
            self.counters.misses += 1

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The cached value of ``key``, or ``default`` (a miss)."""
        value = self.peek(key)
        self.record(value is not MISSING)
        return default if value is MISSING else value

    def __contains__(self, key: Hashable) -> bool:
        """Whether ``key`` holds a live value; unlike ``get``, this is not a use of it."""
        with self._lock:
            try:
                entry = Cache.__getitem__(self._store, key)  # no reordering
            except KeyError:
                return False
            return bool(entry.expires > self._clock())

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        """Cache ``value`` for ``ttl`` seconds (``default_ttl`` when None).

        Returns False, evicting nothing, when the value alone exceeds the whole cache.
        """
        lifetime = check_ttl(ttl, self.default_ttl)
        return self.put_sized(key, value, self._sizeof(value), lifetime)

    def put_sized(self, key: Hashable, value: Any, size: int, lifetime: float) -> bool:
        """Cache ``value`` measured as ``size`` bytes for ``lifetime`` seconds."""
        with self._lock:
            if size > self.limit_bytes:
                self.counters.oversized += 1
                self._store.pop(key, None)  # the old value is stale now
                return False
            self._store[key] = Entry(value, size, self._clock() + lifetime)
            return True

    def delete(self, key: Hashable) -> bool:
        with self._lock:
            if self._store.pop(key, None) is None:
                return False
            self.counters.evictions["explicit"] += 1
            return True

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""
        with self._lock:
            count = len(self._store)
            self._store.clear()
            self.counters.evictions["explicit"] += count
            return count

    def expire(self) -> int:
        """Remove every expired entry now; returns how many left."""
        with self._lock:
            before = self.counters.evictions["ttl"]
            now = self._clock()
            if self._store_expire is not None:
                self._store_expire(now)
            else:
                for key, entry in list(self._store.items()):
                    if entry.expires <= now:
                        del self._store[key]
                        self._evicted("ttl", entry)
            return self.counters.evictions["ttl"] - before

    # --- what is inside --------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._store)

    @property
    def bytes(self) -> int:
        with self._lock:
            return int(self._store.currsize)

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._store.values())

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "type": self.name,
                "policy": self.policy,
                **self.counters.as_dict(),
                "entries": len(self._store),
                "bytes": int(self._store.currsize),
                "limit_bytes": self.limit_bytes,
            }


class MemoryCache(BoundedCache):
    """The general cache of any picklable value, measured by its pickled size."""

    def __init__(
        self,
        limit_bytes: int,
        *,
        policy: str = "lru",
        default_ttl: float = 3600,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__("memory", limit_bytes, policy=policy, default_ttl=default_ttl, clock=clock)
