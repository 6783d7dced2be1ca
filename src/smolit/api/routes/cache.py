"""``/cache``: the caches' statistics, and clearing them.

Reading needs any token; clearing needs an admin token. Clearing the embedding or the
response cache also clears their disk and Redis tiers, which other processes share.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from smolit.api.deps import AdminDep, PrincipalDep
from smolit.api.outputs import CacheCleared, CacheStats
from smolit.api.responses import ADMIN, AUTHENTICATED
from smolit.cache import CACHE_TYPES, CacheManager
from smolit.redact import redact_data

router = APIRouter(prefix="/cache", tags=["cache"], responses=AUTHENTICATED)


def get_cache(request: Request) -> CacheManager:
    cache: CacheManager = request.app.state.system.cache
    return cache


CacheDep = Annotated[CacheManager, Depends(get_cache)]


@router.get("", response_model=CacheStats)
async def cache_stats(cache: CacheDep, _principal: PrincipalDep) -> CacheStats:
    """Per cache: hits, misses, hit rate, evictions by reason, entries, bytes and limit."""
    stats = redact_data(await asyncio.to_thread(cache.stats))  # the Redis tier's URL
    return CacheStats.model_validate(stats)


@router.delete("", response_model=CacheCleared, responses=ADMIN)
async def clear_cache(
    cache: CacheDep,
    _admin: AdminDep,
    cache_type: Annotated[
        str | None,
        Query(alias="type", description=f"one of {', '.join(CACHE_TYPES)}; all when absent"),
    ] = None,
) -> CacheCleared:
    """Empty one cache, or every cache; answers how many entries each held."""
    return CacheCleared(cleared=await asyncio.to_thread(cache.clear, cache_type))
