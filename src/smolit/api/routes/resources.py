"""``/system/resources``: host and process resource use, now and over the recent past."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from smolit.api.deps import PrincipalDep, SystemDep

router = APIRouter(tags=["system"])


@router.get("/system/resources")
async def system_resources(system: SystemDep, _principal: PrincipalDep) -> dict[str, Any]:
    """CPU, memory, disk, network (and GPU) of the host and of this process with its
    children: a fresh sample and the sampled history, oldest first."""
    return await asyncio.to_thread(system.resources.report)
