"""Values doctored in a shared store (Redis, the disk tier) are refused, counted and logged,
never executed. Redis tests start a private ``redis-server`` each."""

from __future__ import annotations

import logging
import pickle
import sqlite3
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest

from smolit.cache import CacheCollector, CachedEncoder, CacheManager, EmbeddingCache
from smolit.cache.embedding import SealedDisk, embedding_key
from smolit.cache.redis_tier import RedisTier
from smolit.cache.response import response_key
from smolit.cache.signing import Signer
from smolit.config import CacheSettings
from smolit.models.base import ChatMessage, GenerationParams, GenerationResult
from smolit.models.base import GenerationResultCodec as Codec
from smolit.testing import LookupEncoder
from tests.conftest import RedisServer
from tests.unit.helpers import TEST_KEY, Exploit, cache_signer

MESSAGES = [ChatMessage("user", "boil an egg?")]
GREEDY = GenerationParams(temperature=0.0)
RESULT = GenerationResult(text="9 minutes", model="smollm2@1")
OTHER_KEY = b"another deployment's key, 32 b.."
ENCODER = LookupEncoder()


def manager(home: Path, url: str | None = None, key: bytes = TEST_KEY) -> CacheManager:
    return CacheManager(
        CacheSettings(), home=home, total_mb=16, key=key, redis_url=url, response_codec=Codec()
    )


def disk_cache(home: Path) -> EmbeddingCache:
    return EmbeddingCache(home / "embeddings", 1 << 20, signer=cache_signer())


def doctor_row(home: Path, text: str, mode: int, value: bytes, filename: str | None) -> None:
    """Rewrite the disk tier's row for ``text`` as someone with write access could."""
    key = embedding_key(ENCODER.encoder_id, "1", text)
    with sqlite3.connect(home / "embeddings" / "cache.db") as connection:
        connection.execute(
            "UPDATE Cache SET mode = ?, value = ?, filename = ? WHERE key = ?",
            (mode, value, filename, key),
        )


def seeded(home: Path, text: str) -> None:
    cache = disk_cache(home)
    CachedEncoder(LookupEncoder(), cache).encode([text])
    cache.close()


def response_redis_key() -> str:
    return RedisTier._key("response", response_key("smollm2@1", MESSAGES, GREEDY))


def test_the_exploit_runs_code_when_unpickled(tmp_path: Path) -> None:
    pickle.loads(pickle.dumps(Exploit(tmp_path / "ran")))  # the payload the tests plant
    assert (tmp_path / "ran").exists()


@pytest.mark.redis
def test_a_pickle_in_redis_is_a_rejected_miss_not_executed(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    marker = tmp_path / "ran"
    redis.Redis.from_url(redis_server.url).set(response_redis_key(), pickle.dumps(Exploit(marker)))
    cache = manager(tmp_path, redis_server.url)
    assert cache.response.get("smollm2@1", MESSAGES, GREEDY) is None
    assert not marker.exists()
    assert cache.stats()["caches"]["response"]["rejected"] == 1


def test_a_pickle_mode_row_on_disk_is_a_rejected_miss_not_executed(tmp_path: Path) -> None:
    seeded(tmp_path, "boil an egg")
    marker = tmp_path / "ran"
    doctor_row(tmp_path, "boil an egg", 4, pickle.dumps(Exploit(marker)), None)
    cache = disk_cache(tmp_path)
    assert cache.get_many(ENCODER.encoder_id, "1", ["boil an egg"], ENCODER.dimension) == [None]
    assert not marker.exists()
    assert cache.stats()["rejected"] == 1


def test_a_row_naming_a_file_is_neither_read_nor_deleted(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"x" * 128)
    seeded(tmp_path, "boil an egg")
    doctor_row(tmp_path, "boil an egg", 2, b"", "../victim.txt")  # binary mode, in a file
    cache = disk_cache(tmp_path)
    assert cache.get_many(ENCODER.encoder_id, "1", ["boil an egg"], ENCODER.dimension) == [None]
    cache.clear()
    assert victim.exists() and cache.stats()["rejected"] == 1


def test_a_tampered_vector_on_disk_is_rejected(tmp_path: Path) -> None:
    seeded(tmp_path, "boil an egg")
    key = embedding_key(ENCODER.encoder_id, "1", "boil an egg")
    with sqlite3.connect(tmp_path / "embeddings" / "cache.db") as connection:
        (value,) = connection.execute("SELECT value FROM Cache WHERE key = ?", (key,)).fetchone()
    doctor_row(tmp_path, "boil an egg", 1, value[:-1] + bytes([value[-1] ^ 1]), None)
    cache = disk_cache(tmp_path)
    assert cache.get_many(ENCODER.encoder_id, "1", ["boil an egg"], ENCODER.dimension) == [None]
    assert cache.stats()["rejected"] == 1


def test_the_disk_tier_stores_only_string_keys_and_bytes(tmp_path: Path) -> None:
    disk = SealedDisk(str(tmp_path))
    with pytest.raises(TypeError):
        disk.put(("a", "tuple"))
    with pytest.raises(TypeError):
        disk.store({"a": "dict"}, False)


@pytest.mark.redis
def test_a_tampered_vector_in_redis_is_rejected_and_encoded_again(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    manager(tmp_path / "a", redis_server.url).cached_encoder(LookupEncoder()).encode(["egg"])
    client = redis.Redis.from_url(redis_server.url)
    name = RedisTier._key("embedding", embedding_key(ENCODER.encoder_id, "1", "egg"))
    value = client.get(name)
    assert isinstance(value, bytes)
    client.set(name, value[:-1] + bytes([value[-1] ^ 1]))
    second = manager(tmp_path / "b", redis_server.url)
    second.cached_encoder(LookupEncoder()).encode(["egg"])
    stats = second.stats()["caches"]["embedding"]
    assert (stats["rejected"], stats["redis"]["hits"], stats["misses"]) == (1, 0, 1)


@pytest.mark.redis
def test_a_response_sealed_with_the_same_key_is_a_hit_for_another_process(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    manager(tmp_path / "a", redis_server.url).response.put("smollm2@1", MESSAGES, GREEDY, RESULT)
    second = manager(tmp_path / "b", redis_server.url)
    assert second.response.get("smollm2@1", MESSAGES, GREEDY) == RESULT


@pytest.mark.redis
def test_a_response_sealed_with_another_key_is_rejected(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    first = manager(tmp_path / "a", redis_server.url, key=OTHER_KEY)
    first.response.put("smollm2@1", MESSAGES, GREEDY, RESULT)
    second = manager(tmp_path / "b", redis_server.url)
    assert second.response.get("smollm2@1", MESSAGES, GREEDY) is None
    assert second.stats()["caches"]["response"]["rejected"] == 1


@pytest.mark.redis
def test_a_sealed_value_of_the_wrong_shape_is_rejected(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    key = response_key("smollm2@1", MESSAGES, GREEDY)
    sealed = Signer(TEST_KEY).seal("response", key, b'{"text": 1}')
    redis.Redis.from_url(redis_server.url).set(response_redis_key(), sealed)
    cache = manager(tmp_path, redis_server.url)
    assert cache.response.get("smollm2@1", MESSAGES, GREEDY) is None
    assert cache.stats()["caches"]["response"]["rejected"] == 1


@pytest.mark.redis
def test_a_refused_value_is_logged_once_without_its_content(
    tmp_path: Path, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis.Redis.from_url(redis_server.url).set(response_redis_key(), b"secret-looking payload")
    with caplog.at_level(logging.WARNING, logger="smolit.cache"):
        manager(tmp_path, redis_server.url).response.get("smollm2@1", MESSAGES, GREEDY)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "HMAC" in warnings[0]
    assert "secret-looking" not in caplog.text


def test_rejections_are_exported_to_prometheus(tmp_path: Path) -> None:
    seeded(tmp_path / "cache", "boil an egg")
    doctor_row(tmp_path / "cache", "boil an egg", 4, b"not sealed", None)
    cache = manager(tmp_path)
    cache.cached_encoder(LookupEncoder()).encode(["boil an egg"])
    registry = CollectorRegistry()
    registry.register(CacheCollector(cache))
    text = generate_latest(registry).decode()
    assert 'smolit_cache_rejected_total{cache="embedding"} 1.0' in text


def test_a_sealed_vector_reads_back_from_a_fresh_cache(tmp_path: Path) -> None:
    seeded(tmp_path, "boil an egg")
    found = disk_cache(tmp_path).get_many(ENCODER.encoder_id, "1", ["boil an egg"], 64)
    assert found[0] is not None and found[0].tolist() == ENCODER.encode(["boil an egg"])[0].tolist()
