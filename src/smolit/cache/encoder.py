"""``CachedEncoder``: any ``TextEncoder`` behind the embedding cache.

Each call looks every text up, encodes only the misses (each distinct text once, in one
batch) and stores them, so the router and the knowledge base share one set of vectors.
"""

from __future__ import annotations

import torch

from smolit.cache.embedding import EmbeddingCache
from smolit.encoding.base import TextEncoder


class CachedEncoder(TextEncoder):
    """Encodes like ``encoder``; ``version`` separates vectors of changed weights that
    keep the same ``encoder_id``."""

    def __init__(self, encoder: TextEncoder, cache: EmbeddingCache, version: str = "1") -> None:
        self.inner = encoder
        self.cache = cache
        self.version = version
        self.encoder_id = encoder.encoder_id
        self.dimension = encoder.dimension
        self.max_tokens = encoder.max_tokens

    def encode(self, texts: list[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros((0, self.dimension), dtype=torch.float32)
        found = self.cache.get_many(self.encoder_id, self.version, texts, self.dimension)
        misses = list(dict.fromkeys(t for t, v in zip(texts, found, strict=True) if v is None))
        fresh: dict[str, torch.Tensor] = {}
        if misses:
            vectors = self.inner.encode(misses).to(torch.float32)
            self.cache.put_many(self.encoder_id, self.version, misses, vectors)
            fresh = dict(zip(misses, vectors, strict=True))
        rows = [
            vector if vector is not None else fresh[text]
            for text, vector in zip(texts, found, strict=True)
        ]
        return torch.stack(rows)

    def count_tokens(self, texts: list[str]) -> list[int]:
        return self.inner.count_tokens(texts)
