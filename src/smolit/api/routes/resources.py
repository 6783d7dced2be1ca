"""``/system/resources``: host and process resource use, now and over the recent past."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from smolit.api.deps import PrincipalDep, SystemDep
from smolit.api.outputs import ResourceReport
from smolit.api.responses import AUTHENTICATED

router = APIRouter(tags=["system"], responses=AUTHENTICATED)


@router.get("/system/resources", response_model=ResourceReport)
async def system_resources(system: SystemDep, _principal: PrincipalDep) -> ResourceReport:
    """CPU, memory, disk, network (and GPU) of the host and of this process with its
    children: a fresh sample and the sampled history, oldest first."""
    return ResourceReport.model_validate(await asyncio.to_thread(system.resources.report))
