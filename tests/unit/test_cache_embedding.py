"""The embedding cache on disk and ``CachedEncoder`` in front of an encoder."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from smolit.cache import CachedEncoder, EmbeddingCache
from smolit.encoding.base import TextEncoder
from smolit.testing import LookupEncoder
from tests.unit.helpers import cache_signer


class CountingEncoder(TextEncoder):
    """A lookup encoder that records every batch it is asked to encode."""

    def __init__(self) -> None:
        self._inner = LookupEncoder(dimension=16)
        self.encoder_id = self._inner.encoder_id
        self.dimension = 16
        self.batches: list[list[str]] = []

    def encode(self, texts: list[str]) -> torch.Tensor:
        self.batches.append(list(texts))
        return self._inner.encode(texts)


def disk_cache(home: Path, limit: int = 1 << 20) -> EmbeddingCache:
    return EmbeddingCache(home / "cache" / "embeddings", limit, signer=cache_signer())


def test_only_misses_are_encoded_in_one_batch(tmp_path: Path) -> None:
    inner = CountingEncoder()
    encoder = CachedEncoder(inner, disk_cache(tmp_path))
    encoder.encode(["boil an egg", "bake bread"])
    vectors = encoder.encode(["bake bread", "roast a chicken", "roast a chicken", "boil an egg"])
    assert inner.batches == [["boil an egg", "bake bread"], ["roast a chicken"]]
    expected = LookupEncoder(dimension=16).encode(
        ["bake bread", "roast a chicken", "roast a chicken", "boil an egg"]
    )
    assert torch.allclose(vectors, expected)


def test_vectors_persist_across_processes_sharing_a_home(tmp_path: Path) -> None:
    first = disk_cache(tmp_path)
    CachedEncoder(CountingEncoder(), first).encode(["pack a suitcase"])
    first.close()
    inner = CountingEncoder()
    CachedEncoder(inner, disk_cache(tmp_path)).encode(["pack a suitcase"])
    assert inner.batches == []


def test_another_encoder_version_does_not_read_old_vectors(tmp_path: Path) -> None:
    cache = disk_cache(tmp_path)
    CachedEncoder(CountingEncoder(), cache, version="1").encode(["find a hotel"])
    inner = CountingEncoder()
    CachedEncoder(inner, cache, version="2").encode(["find a hotel"])
    assert inner.batches == [["find a hotel"]]


def test_hits_and_misses_are_counted_per_text(tmp_path: Path) -> None:
    cache = disk_cache(tmp_path)
    encoder = CachedEncoder(CountingEncoder(), cache)
    encoder.encode(["a b", "c d"])
    encoder.encode(["a b", "e f"])
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["entries"]) == (1, 3, 3)


def test_clear_removes_the_vectors(tmp_path: Path) -> None:
    cache = disk_cache(tmp_path)
    CachedEncoder(CountingEncoder(), cache).encode(["a", "b"])
    assert cache.clear() == 2
    assert cache.stats()["entries"] == 0


def test_the_disk_tier_stays_within_its_limit(tmp_path: Path) -> None:
    cache = disk_cache(tmp_path, limit=256 * 1024)
    encoder = CachedEncoder(CountingEncoder(), cache)
    for start in range(0, 3000, 500):
        encoder.encode([f"text {i}" for i in range(start, start + 500)])
    stats = cache.stats()
    assert stats["bytes"] <= 256 * 1024
    assert stats["evictions"]["size"] > 0


def test_a_corrupt_cache_file_is_discarded_and_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = disk_cache(tmp_path)
    CachedEncoder(CountingEncoder(), cache).encode(["boil an egg"])
    cache.close()
    database = tmp_path / "cache" / "embeddings" / "cache.db"
    database.write_bytes(b"this is not a SQLite database" * 200)
    reopened = disk_cache(tmp_path)
    inner = CountingEncoder()
    with caplog.at_level(logging.WARNING, logger="smolit.cache.embedding"):
        vectors = CachedEncoder(inner, reopened).encode(["boil an egg"])
    assert vectors.shape == (1, 16)
    assert inner.batches == [["boil an egg"]]
    assert reopened.stats()["rebuilds"] == 1 and reopened.stats()["entries"] == 1
    assert "corrupt" in caplog.text
