"""The Redis tier: shared between processes, and an outage only degrades to local caching.

Each test starts a private ``redis-server`` on a free port.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from smolit.cache import CacheManager
from smolit.config import CacheSettings
from smolit.encoding.base import TextEncoder
from smolit.models.base import (
    ChatMessage,
    GenerationParams,
    GenerationResult,
    GenerationResultCodec,
)
from smolit.testing import LookupEncoder
from tests.conftest import RedisServer
from tests.unit.helpers import TEST_KEY

pytestmark = pytest.mark.redis

MESSAGES = [ChatMessage("user", "boil an egg?")]
GREEDY = GenerationParams(temperature=0.0)
RESULT = GenerationResult(text="9 minutes", model="smollm2@1")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingEncoder(TextEncoder):
    def __init__(self) -> None:
        self._inner = LookupEncoder(dimension=8)
        self.encoder_id = self._inner.encoder_id
        self.dimension = 8
        self.batches: list[list[str]] = []

    def encode(self, texts: list[str]) -> torch.Tensor:
        self.batches.append(list(texts))
        return self._inner.encode(texts)


def manager(
    home: Path, url: str, clock: Clock | None = None, key: bytes = TEST_KEY
) -> CacheManager:
    return CacheManager(
        CacheSettings(),
        home=home,
        total_mb=16,
        key=key,
        redis_url=url,
        response_codec=GenerationResultCodec(),
        clock=clock or Clock(),
    )


def test_one_workers_embedding_is_a_hit_for_another(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url
    first, second = manager(tmp_path / "a", url), manager(tmp_path / "b", url)
    first.cached_encoder(CountingEncoder()).encode(["book a flight", "find a hotel"])
    inner = CountingEncoder()
    second.cached_encoder(inner).encode(["find a hotel", "book a flight"])
    assert inner.batches == []
    assert second.stats()["caches"]["embedding"]["redis"]["hits"] == 2


def test_one_workers_response_is_a_hit_for_another(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url
    first, second = manager(tmp_path / "a", url), manager(tmp_path / "b", url)
    first.response.put("smollm2@1", MESSAGES, GREEDY, RESULT)
    assert second.response.get("smollm2@1", MESSAGES, GREEDY) == RESULT


def test_clearing_one_worker_clears_the_shared_tier(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url
    first, second = manager(tmp_path / "a", url), manager(tmp_path / "b", url)
    first.response.put("smollm2@1", MESSAGES, GREEDY, RESULT)
    second.clear("response")
    assert manager(tmp_path / "c", url).response.get("smollm2@1", MESSAGES, GREEDY) is None


def test_an_outage_degrades_to_local_caching_with_one_warning(
    tmp_path: Path, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    cache = manager(tmp_path, redis_server.url, clock)
    cache.response.put("smollm2@1", MESSAGES, GREEDY, RESULT)
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="smolit.cache.redis_tier"):
        other = [ChatMessage("user", "bake bread?")]
        assert cache.response.get("smollm2@1", other, GREEDY) is None
        assert cache.response.put("smollm2@1", other, GREEDY, RESULT) is True
        clock.now += 30  # past the retry interval (5 s), within the warning interval (60 s)
        assert cache.response.get("smollm2@1", other, GREEDY) == RESULT
        vectors = cache.cached_encoder(CountingEncoder()).encode(["pack a suitcase"])
        clock.now += 20
        assert cache.clear("response") == {"response": 2}
    assert vectors.shape == (1, 8)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "caching locally only" in warnings[0].getMessage()
    assert cache.stats()["redis"]["available"] is False
