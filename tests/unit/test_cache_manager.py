"""``CacheManager``: budget shares, clearing, cleanup, lifecycle, config and metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from prometheus_client import CollectorRegistry, generate_latest

from smolit.cache import CacheCollector, CacheManager
from smolit.config import CacheSettings, Settings, load_settings
from smolit.errors import ConfigError, ValidationError
from tests.unit.helpers import TEST_KEY


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def build(home: Path, clock: Clock | None = None, **cache: object) -> CacheManager:
    settings = CacheSettings.model_validate(cache)
    return CacheManager(settings, home=home, total_mb=8, key=TEST_KEY, clock=clock or Clock())


def test_each_cache_gets_its_share_of_the_budget(tmp_path: Path) -> None:
    manager = build(
        tmp_path, shares={"memory": 0.5, "tensor": 0.25, "embedding": 0.125, "response": 0.125}
    )
    limits = {name: s["limit_bytes"] for name, s in manager.stats()["caches"].items()}
    assert limits == {
        "memory": 4 << 20,
        "tensor": 2 << 20,
        "embedding": 1 << 20,
        "response": 1 << 20,
    }


def test_shares_above_one_are_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "smolit.yaml").write_text("cache:\n  shares: {memory: 0.9, tensor: 0.5}\n")
    with pytest.raises(ConfigError, match=r"cache.shares: .*add up to 1.9"):
        load_settings(home=tmp_path)


def test_an_unknown_policy_in_config_lists_the_valid_ones(tmp_path: Path) -> None:
    (tmp_path / "smolit.yaml").write_text("cache:\n  policy: mru\n")
    with pytest.raises(ConfigError, match=r"cache.policy: .*'lru', 'lfu', 'fifo' or 'ttl'"):
        load_settings(home=tmp_path)


def test_the_queue_url_enables_the_redis_tier(tmp_path: Path) -> None:
    settings = Settings(queue="redis://127.0.0.1:1/0")
    settings.home = tmp_path
    assert CacheManager.from_settings(settings, key=TEST_KEY).redis is not None
    assert CacheManager.from_settings(Settings(home=tmp_path), key=TEST_KEY).redis is None


def test_clear_one_type_leaves_the_others(tmp_path: Path) -> None:
    manager = build(tmp_path)
    manager.memory.set("a", 1)
    manager.memory.set("b", 2)
    manager.response.memory.set("r", "x")
    assert manager.clear("memory") == {"memory": 2}
    assert len(manager.memory) == 0 and len(manager.response.memory) == 1


def test_clear_all(tmp_path: Path) -> None:
    manager = build(tmp_path)
    manager.memory.set("a", 1)
    manager.response.memory.set("r", "x")
    assert manager.clear() == {"memory": 1, "tensor": 0, "embedding": 0, "response": 1}


def test_an_unknown_type_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="valid types: memory, tensor, embedding, response"):
        build(tmp_path).clear("disk")


def test_cleanup_local_removes_expired_entries_from_the_memory_caches(tmp_path: Path) -> None:
    clock = Clock()
    manager = build(tmp_path, clock, default_ttl=10)
    manager.memory.set("a", 1)
    manager.tensor.set("t", torch.zeros(2))
    clock.now = 11
    removed = manager.cleanup_local()
    assert removed["memory"] == 1 and removed["tensor"] == 1


def test_start_and_stop_the_cleanup_thread(tmp_path: Path) -> None:
    manager = build(tmp_path)
    manager.start()
    manager.start()
    assert manager.running
    manager.stop()
    assert not manager.running


def test_the_collector_exposes_counters_per_cache(tmp_path: Path) -> None:
    manager = build(tmp_path)
    manager.memory.set("a", 1)
    manager.memory.get("a")
    manager.memory.get("b")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CacheCollector(manager))
    text = generate_latest(registry).decode()
    assert 'smolit_cache_hits_total{cache="memory"} 1.0' in text
    assert 'smolit_cache_hit_rate{cache="memory"} 0.5' in text
    assert 'smolit_cache_evictions_total{cache="memory",reason="size"} 0.0' in text
    assert 'smolit_cache_limit_bytes{cache="tensor"} 2.097152e+06' in text
