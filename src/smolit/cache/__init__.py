"""Caches: memory, tensor, embedding and response, with policies and a Redis tier.

``CacheManager`` builds them from ``Settings``; ``python -m smolit.cache`` clears them and
shows their statistics. See docs/cache.md.
"""

from smolit.cache.bounded import BoundedCache, MemoryCache
from smolit.cache.embedding import EmbeddingCache
from smolit.cache.encoder import CachedEncoder
from smolit.cache.manager import CACHE_TYPES, CacheManager
from smolit.cache.metrics import CacheCollector
from smolit.cache.response import ResponseCache
from smolit.cache.tensor import TensorCache

__all__ = [
    "CACHE_TYPES",
    "BoundedCache",
    "CacheCollector",
    "CacheManager",
    "CachedEncoder",
    "EmbeddingCache",
    "MemoryCache",
    "ResponseCache",
    "TensorCache",
]
