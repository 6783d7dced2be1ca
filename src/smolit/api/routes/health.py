"""``/health``: liveness, the one endpoint that needs no token."""

from __future__ import annotations

from fastapi import APIRouter

from smolit import __version__
from smolit.api.responses import COMMON
from smolit.api.schemas import Health

router = APIRouter(tags=["system"], responses=COMMON)


@router.get("/health", response_model=Health)
async def health() -> Health:
    return Health(status="ok", version=__version__)
