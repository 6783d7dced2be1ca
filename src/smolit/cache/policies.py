"""Eviction policies: cachetools caches that report why each entry left.

Every policy bounds the bytes its entries take (``getsizeof``); ``lru``, ``lfu`` and
``fifo`` decide which entry goes when a new one does not fit, ``ttl`` expires entries at
their own deadline first and then drops the least recently used. Entries carry their own
expiry time under every policy, so a per-entry TTL works everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal, cast

from cachetools import Cache, FIFOCache, LFUCache, LRUCache, TLRUCache

from smolit.errors import ValidationError

PolicyName = Literal["lru", "lfu", "fifo", "ttl"]
POLICIES: tuple[PolicyName, ...] = ("lru", "lfu", "fifo", "ttl")
EvictionReason = Literal["size", "ttl", "explicit"]
EVICTION_REASONS: tuple[EvictionReason, ...] = ("size", "ttl", "explicit")


@dataclass(slots=True)
class Entry:
    """One cached value, its size in bytes and the clock time it stops being valid."""

    value: Any
    size: int
    expires: float = math.inf


Listener = Callable[[EvictionReason, Entry], None]


def _entry_size(entry: Entry) -> int:
    return entry.size


class _Reporting(Cache[Hashable, Entry]):
    """Calls ``listener('size', entry)`` for each entry evicted to make room."""

    listener: Listener

    def popitem(self) -> tuple[Hashable, Entry]:
        key, entry = super().popitem()
        self.listener("size", entry)
        return key, entry


class _LRU(_Reporting, LRUCache[Hashable, Entry]):
    pass


class _LFU(_Reporting, LFUCache[Hashable, Entry]):
    pass


class _FIFO(_Reporting, FIFOCache[Hashable, Entry]):
    pass


class _TTL(_Reporting, TLRUCache[Hashable, Entry]):
    """Time-aware LRU: entries leave at their own deadline, then least recently used."""

    def expire(self, time: float | None = None) -> list[tuple[Hashable, Entry]]:
        expired = cast(list[tuple[Hashable, Entry]], list(super().expire(time)))
        for _key, entry in expired:
            self.listener("ttl", entry)
        return expired


def check_policy(name: str) -> PolicyName:
    """``name`` if it is a known policy; otherwise a ``ValidationError`` listing them."""
    if name not in POLICIES:
        raise ValidationError(
            f"unknown cache policy {name!r}; valid policies: {', '.join(POLICIES)}",
            details={"policy": name, "valid": list(POLICIES)},
        )
    return name


Clock = Callable[[], float]

_BUILDERS: dict[PolicyName, Callable[[int, Clock], _Reporting]] = {
    "lru": lambda size, _clock: _LRU(size, getsizeof=_entry_size),
    "lfu": lambda size, _clock: _LFU(size, getsizeof=_entry_size),
    "fifo": lambda size, _clock: _FIFO(size, getsizeof=_entry_size),
    "ttl": lambda size, clock: _TTL(
        size, ttu=lambda _key, entry, _now: entry.expires, timer=clock, getsizeof=_entry_size
    ),
}


def make_store(
    policy: str, max_bytes: int, clock: Clock, listener: Listener
) -> Cache[Hashable, Entry]:
    """A cachetools cache of ``Entry`` objects holding at most ``max_bytes``."""
    store = _BUILDERS[check_policy(policy)](max_bytes, clock)
    store.listener = listener
    return store
