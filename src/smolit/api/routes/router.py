"""``/router``: what the router serves and has learned; reload after training (admin)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from smolit.api.deps import AdminDep, PrincipalDep, SystemDep
from smolit.api.outputs import RouterState
from smolit.api.responses import ADMIN, AUTHENTICATED
from smolit.system import AgentNN

router = APIRouter(prefix="/router", tags=["router"], responses=AUTHENTICATED)


def _state(system: AgentNN) -> RouterState:
    served = system.router
    return RouterState(
        router=served.name,
        version=served.version,
        threshold=served.threshold,
        trained_labels=len(served.model.labels),
        cascade=served.model.static is not None,
        explore=served.explore,
        feedback=served.learner.stats(),
    )


@router.get("", response_model=RouterState)
async def router_state(system: SystemDep, _principal: PrincipalDep) -> RouterState:
    """The served router version, its threshold, and per-agent feedback estimates."""
    return _state(system)


@router.post("/reload", response_model=RouterState, responses=ADMIN)
async def reload_router(system: SystemDep, _admin: AdminDep) -> RouterState:
    """Load the checkpoint ``router.checkpoint`` names now (after `smolit router train`),
    here and in every other process."""
    await asyncio.to_thread(system.reload_router)
    return _state(system)
