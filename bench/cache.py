"""Cache benchmark: memory-cache overhead, the embedding cache, the byte limit.

1. ``memory_*_us_median``: median µs of one ``MemoryCache.set`` / ``get`` of a small dict
   (target <= 20 µs), each call timed on its own.
2. ``embedding_speedup``: encoding ``--texts`` distinct texts with the bundled
   all-MiniLM-L6-v2 through ``CachedEncoder`` cold (empty disk cache: every text encoded)
   and again warm (every text read from disk); target >= 20x. torch uses one thread.
3. ``byte_limit_max_ratio``: the largest bytes/limit any cache reached during a random
   workload of mixed value sizes (1 B to 256 KB; target <= 1.05), per policy.

Prints one JSON object; ``python bench/cache.py --help`` for options.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from smolit.cache import CachedEncoder, EmbeddingCache, MemoryCache, TensorCache
from smolit.cache.policies import POLICIES
from smolit.cache.signing import Signer
from smolit.encoding.sentence import SentenceTransformerEncoder

WORDS = [
    "book",
    "flight",
    "hotel",
    "recipe",
    "bake",
    "bread",
    "boil",
    "egg",
    "invoice",
    "refund",
    "password",
    "reset",
    "weather",
    "train",
    "ticket",
    "museum",
    "tax",
    "return",
    "garden",
    "tomato",
    "paint",
    "wall",
    "router",
    "wifi",
    "printer",
    "jazz",
    "concert",
    "budget",
    "loan",
    "interest",
    "rate",
    "doctor",
    "appointment",
    "vaccine",
    "passport",
    "visa",
]


def memory_overhead(operations: int) -> dict[str, float]:
    cache = MemoryCache(64 * 1024 * 1024)
    value = {"answer": "boil for nine minutes", "tokens": 7}
    keys = [f"key-{i}" for i in range(operations)]
    sets, gets = [], []
    for key in keys:
        started = time.perf_counter_ns()
        cache.set(key, value)
        sets.append(time.perf_counter_ns() - started)
    for key in keys:
        started = time.perf_counter_ns()
        cache.get(key)
        gets.append(time.perf_counter_ns() - started)
    return {
        "memory_set_us_median": round(statistics.median(sets) / 1000, 2),
        "memory_get_us_median": round(statistics.median(gets) / 1000, 2),
    }


def corpus(size: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    texts = {f"{i} " + " ".join(rng.choices(WORDS, k=rng.randint(6, 18))) for i in range(size)}
    return sorted(texts)


def embedding_speedup(texts: list[str], directory: Path) -> dict[str, Any]:
    encoder = SentenceTransformerEncoder()
    encoder.encode(texts[:8])  # load and warm the weights outside the timings
    # a key of its own: warm lookups verify each vector's tag, as in a deployment
    cache = EmbeddingCache(directory, 256 * 1024 * 1024, signer=Signer(secrets.token_bytes(32)))
    cached = CachedEncoder(encoder, cache)
    started = time.perf_counter()
    cold = cached.encode(texts)
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    warm = cached.encode(texts)
    warm_s = time.perf_counter() - started
    cache.close()
    return {
        "embedding_texts": len(texts),
        "embedding_cold_s": round(cold_s, 3),
        "embedding_warm_s": round(warm_s, 4),
        "embedding_speedup": round(cold_s / warm_s, 1),
        "embedding_identical": bool(torch.equal(cold, warm)),
    }


def byte_limit(operations: int, seed: int = 11) -> dict[str, float | dict[str, float]]:
    limit = 4 * 1024 * 1024
    sizes = [1, 100, 1_000, 10_000, 100_000, 256_000]
    ratios: dict[str, float] = {}
    for policy in POLICIES:
        rng = random.Random(seed)
        memory = MemoryCache(limit, policy=policy)
        tensors = TensorCache(limit, policy=policy)
        highest = 0
        for _ in range(operations):
            key = rng.randrange(2000)
            size = rng.choice(sizes)
            if rng.random() < 0.5:
                memory.set(key, b"x" * size, ttl=rng.choice([1, 60, 3600]))
                tensors.set(key, torch.empty(max(1, size // 4), dtype=torch.float32))
            else:
                memory.get(key)
                tensors.get(key)
            highest = max(highest, memory.bytes, tensors.bytes)
        ratios[policy] = round(highest / limit, 4)
    return {"byte_limit_max_ratio": max(ratios.values()), "byte_limit_by_policy": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=20_000)
    parser.add_argument("--texts", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    report: dict[str, Any] = {}
    report.update(memory_overhead(args.operations))
    with tempfile.TemporaryDirectory() as directory:
        report.update(embedding_speedup(corpus(args.texts), Path(directory) / "embeddings"))
    report.update(byte_limit(args.operations))
    report["targets"] = {
        "memory_us_median": "<= 20",
        "embedding_speedup": ">= 20",
        "byte_limit_max_ratio": "<= 1.05",
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
