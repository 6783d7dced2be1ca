"""``/workers``: the processes that run tasks, as they last advertised themselves."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from smolit.api.deps import PrincipalDep, SystemDep
from smolit.api.outputs import WorkerList
from smolit.api.responses import AUTHENTICATED
from smolit.redact import redact_data

router = APIRouter(tags=["workers"], responses=AUTHENTICATED)


@router.get("/workers", response_model=WorkerList)
async def list_workers(system: SystemDep, _principal: PrincipalDep) -> WorkerList:
    """Workers with their heartbeat, agents served and load; the periodic jobs' last runs."""
    workers = await asyncio.to_thread(system.workers.list)
    jobs = await asyncio.to_thread(system.scheduler.status)
    # a job's last error may quote a URL or a secret
    listing = redact_data(
        {
            "mode": "distributed" if system.distributed else "embedded",
            "workers": workers,
            "jobs": jobs,
        }
    )
    return WorkerList.model_validate(listing)
