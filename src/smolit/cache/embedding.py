"""``EmbeddingCache``: text vectors on disk (diskcache), optionally shared through Redis.

A vector is keyed by the encoder's id, a version and the SHA-256 of the text, so a
fine-tuned or replaced encoder never reads another's vectors. The disk tier lives in
``<home>/cache/embeddings/``; diskcache is safe for several processes at once, so the
server, its workers and ``python -m smolit.cache`` can all use it. A corrupt cache file
is detected, discarded and rebuilt empty: embeddings can always be computed again.

Vectors are raw float32 bytes sealed with the deployment key (``Signer``) on disk and in
Redis. ``SealedDisk`` keeps diskcache from unpickling anything in ``cache.db``: keys are
strings, values raw bytes in the database; a row in any other mode (pickle, a file) is
refused, and so is a value without this deployment's tag for its key. A refused value is
a miss, counted as ``rejected``.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import diskcache
import torch

from smolit.cache.bounded import CacheStats, check_ttl
from smolit.cache.policies import PolicyName, check_policy
from smolit.cache.redis_tier import RedisTier
from smolit.cache.signing import Signer, refuse
from smolit.errors import ValidationError
from smolit.storage.private import private_file

logger = logging.getLogger(__name__)

KIND = "embedding"
T = TypeVar("T")

#: diskcache's names for the policies; entries expire per TTL under each of them
DISK_POLICIES: dict[PolicyName, str] = {
    "lru": "least-recently-used",
    "lfu": "least-frequently-used",
    "fifo": "least-recently-stored",
    "ttl": "least-recently-stored",
}


class _Refused:
    """What ``SealedDisk.fetch`` gives for a row stored in a refused mode."""


REFUSED = _Refused()


class SealedDisk(diskcache.Disk):
    """diskcache's serialisation cut down to what cannot run code: string keys, values as
    raw bytes inside ``cache.db``. A row stored in pickle, text or file mode (only a
    doctored ``cache.db`` has one) reads as ``REFUSED``; pickled keys are refused; no file
    a row names is ever read or deleted."""

    def put(self, key: Any) -> Any:
        if type(key) is not str:
            raise TypeError(f"embedding cache keys are strings, not {type(key).__qualname__}")
        return key, True

    def get(self, key: Any, raw: bool) -> Any:
        if not raw or type(key) is not str:
            raise TypeError("refused a non-string key in the embedding cache")
        return key

    def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> tuple[Any, ...]:
        if read or type(value) is not bytes:
            raise TypeError(f"embedding cache values are bytes, not {type(value).__qualname__}")
        return 0, diskcache.core.MODE_RAW, None, sqlite3.Binary(value)

    def fetch(self, mode: int, filename: Any, value: Any, read: bool) -> Any:
        if mode == diskcache.core.MODE_RAW and filename is None and type(value) is bytes:
            return value
        return REFUSED

    def remove(self, file_path: Any) -> None:
        """Nothing: this disk writes no files, so a file a row names is not its own."""


def embedding_key(encoder_id: str, version: str, text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{encoder_id}:{version}:{digest}"


def _to_bytes(vector: torch.Tensor) -> bytes:
    return vector.detach().to(torch.float32).cpu().contiguous().numpy().tobytes()


def _from_bytes(raw: Any, dimension: int) -> torch.Tensor | None:
    """The vector in ``raw``; None for anything that is not ``dimension`` float32s."""
    if not isinstance(raw, bytes) or len(raw) != dimension * 4:
        return None
    return torch.frombuffer(bytearray(raw), dtype=torch.float32)


class EmbeddingCache:
    """Vectors by (encoder id, version, text): disk first, then Redis, then a miss."""

    def __init__(
        self,
        directory: Path,
        limit_bytes: int,
        *,
        policy: str = "lru",
        default_ttl: float = 3600,
        signer: Signer,
        redis: RedisTier | None = None,
    ) -> None:
        self.directory = directory
        self.signer = signer
        self.limit_bytes = limit_bytes
        self.policy = check_policy(policy)
        self.default_ttl = check_ttl(default_ttl, 3600)
        self.redis = redis
        self.counters = CacheStats()
        self.redis_hits = 0
        self.rebuilds = 0
        self._lock = threading.RLock()
        self._disk: diskcache.Cache | None = None

    # --- the disk tier, opened on first use and rebuilt when corrupt ---------------------

    def _open(self) -> diskcache.Cache:
        private_file(self.directory / "cache.db")  # diskcache's SQLite file, 0600
        return diskcache.Cache(
            str(self.directory),
            size_limit=max(self.limit_bytes, 1),
            eviction_policy=DISK_POLICIES[self.policy],
            disk=SealedDisk,
            cull_limit=0,  # this class culls after each write, counting what left
        )

    def _cache(self) -> diskcache.Cache:
        with self._lock:
            if self._disk is None:
                try:
                    self._disk = self._open()
                except sqlite3.DatabaseError as exc:
                    self._disk = self._rebuild(exc)
            return self._disk

    def _rebuild(self, exc: BaseException) -> diskcache.Cache:
        logger.warning(
            "embedding cache at %s is corrupt (%s); discarding it and starting empty",
            self.directory,
            exc,
        )
        self.rebuilds += 1
        if self._disk is not None:
            self._disk.close()
            self._disk = None
        shutil.rmtree(self.directory, ignore_errors=True)
        return self._open()

    def _disk_call(self, operation: Callable[[diskcache.Cache], T], fallback: T) -> T:
        with self._lock:
            cache = self._cache()
            try:
                return operation(cache)
            except sqlite3.DatabaseError as exc:
                self._disk = self._rebuild(exc)
                return fallback

    # --- lookups and writes -------------------------------------------------------------

    def get_many(
        self, encoder_id: str, version: str, texts: list[str], dimension: int
    ) -> list[torch.Tensor | None]:
        """One vector or None per text; Redis hits are copied to the disk tier."""
        if self.limit_bytes == 0:
            self.counters.misses += len(texts)
            return [None] * len(texts)
        keys = [embedding_key(encoder_id, version, text) for text in texts]
        raws = self._disk_call(lambda c: [c.get(key) for key in keys], [None] * len(keys))
        found = [
            self._vector(key, raw, dimension, "disk") for key, raw in zip(keys, raws, strict=True)
        ]
        missing = [i for i, vector in enumerate(found) if vector is None]
        if missing and self.redis is not None:
            shared = self.redis.get_many(KIND, [keys[i] for i in missing])
            copies: dict[str, bytes] = {}
            for i, raw in zip(missing, shared, strict=True):
                vector = self._vector(keys[i], raw, dimension, "Redis")
                if vector is not None and raw is not None:
                    found[i] = vector
                    copies[keys[i]] = raw
                    self.redis_hits += 1
            self._write_disk(copies, self.default_ttl)
        hits = sum(vector is not None for vector in found)
        self.counters.hits += hits
        self.counters.misses += len(texts) - hits
        return found

    def _vector(self, key: str, raw: Any, dimension: int, store: str) -> torch.Tensor | None:
        """The vector sealed in ``raw``; None when absent or refused (counted, logged)."""
        if raw is None:
            return None
        if raw is REFUSED:
            refuse(self.counters, KIND, key, store, "stored in a mode that is not raw bytes")
            return None
        payload = self.signer.open(KIND, key, raw)
        if payload is None:
            refuse(self.counters, KIND, key, store, "missing or wrong HMAC tag")
            return None
        vector = _from_bytes(payload, dimension)
        if vector is None:
            refuse(self.counters, KIND, key, store, f"not {dimension} float32 values")
        return vector

    def put_many(
        self,
        encoder_id: str,
        version: str,
        texts: list[str],
        vectors: torch.Tensor,
        ttl: float | None = None,
    ) -> None:
        """Store one vector per text, on disk and in Redis."""
        if len(texts) != len(vectors):
            raise ValidationError(f"{len(texts)} texts but {len(vectors)} vectors")
        if self.limit_bytes == 0 or not texts:
            return
        lifetime = check_ttl(ttl, self.default_ttl)
        keys = [embedding_key(encoder_id, version, text) for text in texts]
        items = {
            key: self.signer.seal(KIND, key, _to_bytes(vector))
            for key, vector in zip(keys, vectors, strict=True)
        }
        self._write_disk(items, lifetime)
        if self.redis is not None:
            self.redis.set_many(KIND, items, lifetime)

    def _write_disk(self, items: dict[str, bytes], lifetime: float) -> None:
        if not items:
            return

        def write(cache: diskcache.Cache) -> None:
            with cache.transact():
                for key, raw in items.items():
                    cache.set(key, raw, expire=lifetime)
            if cache.volume() > self.limit_bytes:
                self.counters.evictions["ttl"] += cache.expire()
                self.counters.evictions["size"] += cache.cull()

        self._disk_call(write, None)

    # --- housekeeping -------------------------------------------------------------------

    def expire(self) -> int:
        """Remove expired vectors from disk now; Redis expires its own."""
        removed = self._disk_call(lambda c: int(c.expire()), 0)
        self.counters.evictions["ttl"] += removed
        return removed

    def clear(self) -> int:
        """Remove every vector from disk and Redis; how many were on disk."""
        removed = self._disk_call(lambda c: int(c.clear()), 0) if self.exists() else 0
        if self.redis is not None:
            self.redis.clear(KIND)
        self.counters.evictions["explicit"] += removed
        return removed

    def exists(self) -> bool:
        """Whether the disk tier has been created (stats never create it)."""
        return self._disk is not None or (self.directory / "cache.db").exists()

    def stats(self) -> dict[str, Any]:
        entries, volume = (0, 0)
        if self.exists():
            entries, volume = self._disk_call(lambda c: (len(c), int(c.volume())), (0, 0))
        stats: dict[str, Any] = {
            "type": KIND,
            "policy": self.policy,
            **self.counters.as_dict(),
            "entries": entries,
            "bytes": volume,
            "limit_bytes": self.limit_bytes,
            "directory": str(self.directory),
            "rebuilds": self.rebuilds,
        }
        if self.redis is not None:
            stats["redis"] = {**self.redis.stats(), "hits": self.redis_hits}
        return stats

    def close(self) -> None:
        with self._lock:
            if self._disk is not None:
                self._disk.close()
                self._disk = None
