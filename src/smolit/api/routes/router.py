"""``/router``: what the router serves and has learned; reload after training (admin)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from smolit.api.deps import AdminDep, PrincipalDep, SystemDep
from smolit.system import AgentNN

router = APIRouter(prefix="/router", tags=["router"])


def _state(system: AgentNN) -> dict[str, Any]:
    served = system.router
    return {
        "router": served.name,
        "version": served.version,
        "threshold": served.threshold,
        "trained_labels": len(served.model.labels),
        "cascade": served.model.static is not None,
        "explore": served.explore,
        "feedback": served.learner.stats(),
    }


@router.get("")
async def router_state(system: SystemDep, _principal: PrincipalDep) -> dict[str, Any]:
    """The served router version, its threshold, and per-agent feedback estimates."""
    return _state(system)


@router.post("/reload")
async def reload_router(system: SystemDep, _admin: AdminDep) -> dict[str, Any]:
    """Load the checkpoint ``router.checkpoint`` names now (after `smolit router train`),
    here and in every other process."""
    await asyncio.to_thread(system.reload_router)
    return _state(system)
