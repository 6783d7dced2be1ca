"""``/workers``: the processes that run tasks, as they last advertised themselves."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from smolit.api.deps import PrincipalDep, SystemDep
from smolit.redact import redact_data

router = APIRouter(tags=["workers"])


@router.get("/workers")
async def list_workers(system: SystemDep, _principal: PrincipalDep) -> dict[str, Any]:
    """Workers with their heartbeat, agents served and load; the periodic jobs' last runs."""
    workers = await asyncio.to_thread(system.workers.list)
    jobs = await asyncio.to_thread(system.scheduler.status)
    # a job's last error may quote a URL or a secret
    return redact_data(
        {
            "mode": "distributed" if system.distributed else "embedded",
            "workers": workers,
            "jobs": jobs,
        }
    )
