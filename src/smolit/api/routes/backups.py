"""``/backups``: take a backup now, list the backups (admin). Restore is offline only:
``python -m smolit.backup restore ID`` with the server stopped."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, status

from smolit.api.deps import AdminDep, SystemDep
from smolit.api.outputs import BackupList, BackupOut
from smolit.api.responses import ADMIN, AUTHENTICATED

router = APIRouter(tags=["backups"], responses=AUTHENTICATED | ADMIN)


@router.get("/backups", response_model=BackupList)
async def list_backups(system: SystemDep, _admin: AdminDep) -> BackupList:
    """The backups in the data directory, newest first."""
    backups = await asyncio.to_thread(system.backups.list)
    return BackupList(backups=[BackupOut.model_validate(b.to_dict()) for b in backups])


@router.post("/backups", response_model=BackupOut, status_code=status.HTTP_201_CREATED)
async def create_backup(system: SystemDep, _admin: AdminDep) -> BackupOut:
    """Snapshot the database, knowledge indexes, model files and configuration now."""
    info = await asyncio.to_thread(system.backups.create)
    return BackupOut.model_validate(info.to_dict())
