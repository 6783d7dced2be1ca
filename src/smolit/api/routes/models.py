"""``/models``: the model registry, the loaded pool and per-version performance.

Reading needs any token; registering, importing, promoting, rolling back, removing and
unloading need an admin token. Paths given to ``/models/import`` are paths on the server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi import Path as PathParameter

from smolit.api.deps import AdminDep, PrincipalDep, SystemDep
from smolit.api.schemas import (
    DB_INT_MAX,
    ModelImport,
    ModelPromote,
    ModelRegister,
    ModelRollback,
    PathName,
)
from smolit.errors import NotFoundError
from smolit.models.catalog import parse_definition
from smolit.models.report import model_detail, model_summaries, version_view
from smolit.models.stats import task_success_by_model
from smolit.models.versions import ModelVersion
from smolit.system import AgentNN

router = APIRouter(prefix="/models", tags=["models"])


def _view(system: AgentNN, version: ModelVersion) -> dict[str, Any]:
    return version_view(version, system.models, task_success_by_model(system.database))


@router.get("")
async def list_models(system: SystemDep, _principal: PrincipalDep) -> dict[str, Any]:
    """Every model name with its versions, aliases and the version a plain name serves."""
    return {"models": await asyncio.to_thread(model_summaries, system.models)}


@router.get("/loaded")
async def loaded_models(system: SystemDep, _principal: PrincipalDep) -> dict[str, Any]:
    """The models in memory now, their size, and the pool's budget."""
    return system.models.resident()


@router.delete("/loaded/{key}")
async def unload_model(key: PathName, system: SystemDep, _admin: AdminDep) -> dict[str, Any]:
    """Unload one model now (it loads again on its next use)."""
    if not await asyncio.to_thread(system.models.unload, key):
        loaded = system.models.loaded()
        raise NotFoundError(
            f"model {key!r} is not loaded; loaded: {', '.join(loaded) or 'none'}",
            details={"model": key, "loaded": loaded},
        )
    return system.models.resident()


@router.get("/{name}")
async def show_model(name: PathName, system: SystemDep, _principal: PrincipalDep) -> dict[str, Any]:
    """All versions of one model with their performance, its aliases and their history."""
    return await asyncio.to_thread(model_detail, system.models, system.database, name)


@router.post("", status_code=status.HTTP_201_CREATED)
async def register_model(body: ModelRegister, system: SystemDep, admin: AdminDep) -> dict[str, Any]:
    """Register a new version whose files (or remote API) stay where they are."""
    definition = parse_definition(body.definition)
    version = await asyncio.to_thread(
        system.models.register,
        body.name,
        definition,
        alias=body.alias,
        notes=body.notes,
        created_by=admin.user,
    )
    return _view(system, version)


@router.post("/import", status_code=status.HTTP_201_CREATED)
async def import_model(body: ModelImport, system: SystemDep, admin: AdminDep) -> dict[str, Any]:
    """Copy a model file or directory on the server into the registry as a new version."""
    definition = parse_definition({"backend": body.backend, **body.definition})
    version = await asyncio.to_thread(
        system.models.import_path,
        body.name,
        Path(body.path),
        definition,
        alias=body.alias,
        notes=body.notes,
        created_by=admin.user,
    )
    return _view(system, version)


@router.post("/{name}/promote")
async def promote_model(
    name: PathName, body: ModelPromote, system: SystemDep, admin: AdminDep
) -> dict[str, Any]:
    """Point ``name@alias`` at a version; agents using the alias switch without a restart."""
    version = await asyncio.to_thread(
        system.models.promote, name, body.version, body.alias, admin.user
    )
    return _view(system, version)


@router.post("/{name}/rollback")
async def rollback_model(
    name: PathName, body: ModelRollback, system: SystemDep, admin: AdminDep
) -> dict[str, Any]:
    """Point ``name@alias`` back where it pointed before its last move."""
    version = await asyncio.to_thread(system.models.rollback, name, body.alias, admin.user)
    return _view(system, version)


@router.delete("/{name}/versions/{version}")
async def remove_model_version(
    name: PathName,
    version: Annotated[int, PathParameter(ge=1, le=DB_INT_MAX)],
    system: SystemDep,
    _admin: AdminDep,
    force: bool = Query(False, description="also drop aliases that point at it"),
) -> dict[str, Any]:
    """Delete one version and the files the registry holds for it."""
    removed = await asyncio.to_thread(system.models.remove, name, version, force=force)
    return {"removed": removed.key}
