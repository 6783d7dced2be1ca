"""Eviction policies, TTLs and the byte limit of the in-memory caches."""

from __future__ import annotations

import random

import pytest

from smolit.cache import BoundedCache, MemoryCache
from smolit.errors import ValidationError


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def sized(policy: str, limit: int = 30, clock: Clock | None = None) -> BoundedCache:
    """A cache where each value counts as its length in bytes."""
    return BoundedCache("t", limit, policy=policy, sizeof=len, clock=clock or Clock())


def test_lru_evicts_the_least_recently_used() -> None:
    cache = sized("lru")
    for key in "abc":
        cache.set(key, "x" * 10)
    cache.get("a")
    cache.set("d", "x" * 10)
    assert [key in cache for key in "abcd"] == [True, False, True, True]


def test_lfu_evicts_the_least_frequently_used() -> None:
    cache = sized("lfu")
    for key in "abc":
        cache.set(key, "x" * 10)
    for key in "ac":
        cache.get(key)
        cache.get(key)
    cache.get("b")
    cache.set("d", "x" * 10)
    assert [key in cache for key in "abcd"] == [True, False, True, True]


def test_fifo_evicts_the_oldest_even_when_read() -> None:
    cache = sized("fifo")
    for key in "abc":
        cache.set(key, "x" * 10)
    cache.get("a")
    cache.set("d", "x" * 10)
    assert [key in cache for key in "abcd"] == [False, True, True, True]


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "ttl"])
def test_entries_expire_after_their_own_ttl(policy: str) -> None:
    clock = Clock()
    cache = sized(policy, clock=clock)
    cache.set("short", "x", ttl=5)
    cache.set("default", "y")
    clock.now = 10
    assert cache.get("short") is None
    assert cache.get("default") == "y"
    clock.now = 3600
    assert cache.get("default") is None
    assert cache.counters.evictions["ttl"] == 2


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "ttl"])
def test_expire_sweeps_without_lookups(policy: str) -> None:
    clock = Clock()
    cache = sized(policy, clock=clock)
    cache.set("a", "x", ttl=1)
    cache.set("b", "x", ttl=100)
    clock.now = 2
    assert cache.expire() == 1
    assert len(cache) == 1 and cache.bytes == 1


def test_size_evictions_are_counted_by_reason() -> None:
    cache = sized("lru")
    for key in "abcd":
        cache.set(key, "x" * 10)
    cache.delete("d")
    assert cache.counters.evictions == {"size": 1, "ttl": 0, "explicit": 1}


def test_a_value_larger_than_the_cache_evicts_nothing() -> None:
    cache = sized("lru")
    cache.set("a", "x" * 10)
    cache.set("b", "x" * 10)
    assert cache.set("huge", "x" * 31) is False
    assert "a" in cache and "b" in cache and "huge" not in cache
    assert cache.counters.oversized == 1 and cache.counters.evictions["size"] == 0


def test_unknown_policy_lists_the_valid_ones() -> None:
    with pytest.raises(ValidationError, match="valid policies: lru, lfu, fifo, ttl"):
        sized("random")


def test_a_non_positive_ttl_is_refused() -> None:
    with pytest.raises(ValidationError, match="ttl must be a positive"):
        sized("lru").set("a", "x", ttl=0)


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "ttl"])
def test_byte_limit_holds_under_a_random_workload(policy: str) -> None:
    rng = random.Random(7)
    cache = MemoryCache(64 * 1024, policy=policy, clock=Clock())
    highest = 0
    for _ in range(2000):
        key = rng.randrange(300)
        if rng.random() < 0.6:
            cache.set(key, b"x" * rng.choice([10, 300, 4000, 20_000]))
        else:
            cache.get(key)
        highest = max(highest, cache.bytes)
    assert 0 < highest <= 64 * 1024


def test_unpicklable_values_name_their_type() -> None:
    with pytest.raises(ValidationError, match="value of type function: it cannot be pickled"):
        MemoryCache(1024).set("f", lambda: 1)


def test_hits_misses_and_hit_rate() -> None:
    cache = MemoryCache(1024)
    cache.set("a", {"n": 1})
    assert cache.get("a") == {"n": 1}
    assert cache.get("b", "fallback") == "fallback"
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["hit_rate"]) == (1, 1, 0.5)
    assert stats["entries"] == 1 and 0 < stats["bytes"] <= stats["limit_bytes"] == 1024


def test_clear_counts_explicit_evictions() -> None:
    cache = MemoryCache(1024)
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.clear() == 2
    assert len(cache) == 0 and cache.counters.evictions["explicit"] == 2
