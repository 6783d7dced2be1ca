"""``/backups``: take a backup now, list the backups (admin). Restore is offline only:
``python -m smolit.backup restore ID`` with the server stopped."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, status

from smolit.api.deps import AdminDep, SystemDep

router = APIRouter(tags=["backups"])


@router.get("/backups")
async def list_backups(system: SystemDep, _admin: AdminDep) -> dict[str, Any]:
    """The backups in the data directory, newest first."""
    backups = await asyncio.to_thread(system.backups.list)
    return {"backups": [b.to_dict() for b in backups]}


@router.post("/backups", status_code=status.HTTP_201_CREATED)
async def create_backup(system: SystemDep, _admin: AdminDep) -> dict[str, Any]:
    """Snapshot the database, knowledge indexes, model files and configuration now."""
    info = await asyncio.to_thread(system.backups.create)
    return info.to_dict()
