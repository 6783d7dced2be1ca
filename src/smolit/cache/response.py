"""``ResponseCache``: answers of deterministic generations (temperature 0).

A response is keyed by the model *version* key (``name@version``: a promoted new version
never serves the old one's answers), the messages and every generation parameter. Other
temperatures sample, so their calls are neither looked up nor stored. With a Redis tier,
one worker's answer is a hit for every other worker.

Responses leave the process as JSON through a ``JsonCodec`` (the model manager's maps a
``GenerationResult``), sealed with the deployment key (``Signer``). A value read from Redis
that is not sealed with this deployment's key for this very key, or that does not parse
into the codec's shape, is a miss, counted as ``rejected``: nothing read is executed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from smolit.cache.bounded import MISSING, BoundedCache, check_ttl
from smolit.cache.policies import Clock
from smolit.cache.redis_tier import RedisTier
from smolit.cache.signing import Signer, refuse
from smolit.errors import ConfigError, ValidationError

logger = logging.getLogger(__name__)

KIND = "response"


class JsonCodec(Protocol):
    """A cached value as JSON data and back; ``load`` raises ``ValueError`` (or
    ``TypeError``) for data of any other shape than ``dump`` writes."""

    def dump(self, value: Any) -> Any: ...

    def load(self, data: Any) -> Any: ...


class PlainJson:
    """Values that are JSON data already (mappings, lists, strings, numbers)."""

    def dump(self, value: Any) -> Any:
        return value

    def load(self, data: Any) -> Any:
        return data


def _encoded(codec: JsonCodec, value: Any) -> bytes:
    try:
        return json.dumps(codec.dump(value), separators=(",", ":")).encode("ascii")
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError(
            f"cannot cache a response of type {type(value).__qualname__}: it is not JSON "
            f"data for this cache's codec ({exc})",
            details={"type": type(value).__qualname__},
        ) from exc


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses and pydantic models become mappings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return _plain(dump())
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)  # 0 and 0.0 ask for the same generation
    if value is None or isinstance(value, str | bool):
        return value
    raise ValidationError(
        f"cannot key a cached response on a value of type {type(value).__qualname__}",
        details={"type": type(value).__qualname__},
    )


def response_key(model_key: str, messages: Any, params: Any) -> str:
    """The SHA-256 of the model version key, the messages and the parameters."""
    if not isinstance(model_key, str) or not model_key:
        raise ValidationError("model_key must be a model version key such as 'smollm2@1'")
    canonical = json.dumps(
        [model_key, _plain(messages), _plain(params)],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def is_deterministic(params: Any) -> bool:
    """True when ``params`` asks for temperature 0 (greedy decoding)."""
    plain = _plain(params)
    if not isinstance(plain, dict):
        return False
    temperature = plain.get("temperature")
    return isinstance(temperature, int | float) and temperature == 0


class ResponseCache:
    """Generation results in memory, measured by their JSON size, and in Redis if given."""

    def __init__(
        self,
        limit_bytes: int,
        *,
        policy: str = "lru",
        default_ttl: float = 3600,
        redis: RedisTier | None = None,
        signer: Signer | None = None,
        codec: JsonCodec | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if redis is not None and signer is None:
            raise ConfigError("a response cache shared through Redis needs a deployment key")
        self.memory = BoundedCache(
            KIND, limit_bytes, policy=policy, default_ttl=default_ttl, clock=clock
        )
        self.redis = redis
        self.signer = signer
        self.codec: JsonCodec = codec or PlainJson()
        #: lookups and stores skipped because the generation samples (temperature > 0)
        self.skipped = 0
        self.redis_hits = 0

    def get(self, model_key: str, messages: Any, params: Any) -> Any:
        """The cached result of this generation, or None (a miss, or not cacheable)."""
        if not is_deterministic(params):
            self.skipped += 1
            return None
        key = response_key(model_key, messages, params)
        value = self.memory.peek(key)
        if value is MISSING and self.redis is not None:
            value = self._from_redis(key)
        self.memory.record(value is not MISSING)
        return None if value is MISSING else value

    def _from_redis(self, key: str) -> Any:
        assert self.redis is not None and self.signer is not None
        raw = self.redis.get_many(KIND, [key])[0]
        if raw is None:
            return MISSING
        payload = self.signer.open(KIND, key, raw)
        if payload is None:
            refuse(self.memory.counters, KIND, key, "Redis", "missing or wrong HMAC tag")
            return MISSING
        try:
            value = self.codec.load(json.loads(payload))
        except (ValueError, TypeError, RecursionError) as exc:
            refuse(self.memory.counters, KIND, key, "Redis", f"{type(exc).__name__}: {exc}")
            return MISSING
        self.redis_hits += 1
        self.memory.put_sized(key, value, len(payload), self.memory.default_ttl)
        return value

    def put(
        self, model_key: str, messages: Any, params: Any, result: Any, ttl: float | None = None
    ) -> bool:
        """Cache ``result``; False when the generation samples or the result is too big
        for this cache (nothing is evicted then)."""
        if not is_deterministic(params):
            self.skipped += 1
            return False
        key = response_key(model_key, messages, params)
        lifetime = check_ttl(ttl, self.memory.default_ttl)
        payload = _encoded(self.codec, result)
        stored = self.memory.put_sized(key, result, len(payload), lifetime)
        if stored and self.redis is not None and self.signer is not None:
            self.redis.set_many(KIND, {key: self.signer.seal(KIND, key, payload)}, lifetime)
        return stored

    def expire(self) -> int:
        return self.memory.expire()

    def clear(self) -> int:
        """Remove every response here and in Redis; how many were in this process."""
        removed = self.memory.clear()
        if self.redis is not None:
            self.redis.clear(KIND)
        return removed

    def stats(self) -> dict[str, Any]:
        stats = {**self.memory.stats(), "skipped": self.skipped}
        if self.redis is not None:
            stats["redis"] = {**self.redis.stats(), "hits": self.redis_hits}
        return stats
