"""``/models``: the model registry, the loaded pool and per-version performance.

Reading needs any token; registering, importing, promoting, rolling back, removing and
unloading need an admin token. Paths given to ``/models/import`` are paths on the server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi import Path as PathParameter

from smolit.api.deps import AdminDep, PrincipalDep, SystemDep
from smolit.api.outputs import (
    LoadedModels,
    ModelDetail,
    ModelList,
    ModelRemoved,
    ModelVersionOut,
)
from smolit.api.responses import ADMIN, AUTHENTICATED, errors
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

router = APIRouter(prefix="/models", tags=["models"], responses=AUTHENTICATED)


def _view(system: AgentNN, version: ModelVersion) -> ModelVersionOut:
    success = task_success_by_model(system.database)
    return ModelVersionOut.model_validate(version_view(version, system.models, success))


@router.get("", response_model=ModelList)
async def list_models(system: SystemDep, _principal: PrincipalDep) -> ModelList:
    """Every model name with its versions, aliases and the version a plain name serves."""
    return ModelList.model_validate(
        {"models": await asyncio.to_thread(model_summaries, system.models)}
    )


@router.get("/loaded", response_model=LoadedModels)
async def loaded_models(system: SystemDep, _principal: PrincipalDep) -> LoadedModels:
    """The models in memory now, their size, and the pool's budget."""
    return LoadedModels.model_validate(system.models.resident())


@router.delete("/loaded/{key}", response_model=LoadedModels, responses=ADMIN | errors(404))
async def unload_model(key: PathName, system: SystemDep, _admin: AdminDep) -> LoadedModels:
    """Unload one model now (it loads again on its next use)."""
    if not await asyncio.to_thread(system.models.unload, key):
        loaded = system.models.loaded()
        raise NotFoundError(
            f"model {key!r} is not loaded; loaded: {', '.join(loaded) or 'none'}",
            details={"model": key, "loaded": loaded},
        )
    return LoadedModels.model_validate(system.models.resident())


@router.get("/{name}", response_model=ModelDetail, responses=errors(404))
async def show_model(name: PathName, system: SystemDep, _principal: PrincipalDep) -> ModelDetail:
    """All versions of one model with their performance, its aliases and their history."""
    detail = await asyncio.to_thread(model_detail, system.models, system.database, name)
    return ModelDetail.model_validate(detail)


@router.post(
    "",
    response_model=ModelVersionOut,
    status_code=status.HTTP_201_CREATED,
    responses=ADMIN | errors(409),
)
async def register_model(
    body: ModelRegister, system: SystemDep, admin: AdminDep
) -> ModelVersionOut:
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


@router.post(
    "/import",
    response_model=ModelVersionOut,
    status_code=status.HTTP_201_CREATED,
    responses=ADMIN | errors(404, 409),
)
async def import_model(body: ModelImport, system: SystemDep, admin: AdminDep) -> ModelVersionOut:
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


@router.post("/{name}/promote", response_model=ModelVersionOut, responses=ADMIN | errors(404, 409))
async def promote_model(
    name: PathName, body: ModelPromote, system: SystemDep, admin: AdminDep
) -> ModelVersionOut:
    """Point ``name@alias`` at a version; agents using the alias switch without a restart."""
    version = await asyncio.to_thread(
        system.models.promote, name, body.version, body.alias, admin.user
    )
    return _view(system, version)


@router.post("/{name}/rollback", response_model=ModelVersionOut, responses=ADMIN | errors(404, 409))
async def rollback_model(
    name: PathName, body: ModelRollback, system: SystemDep, admin: AdminDep
) -> ModelVersionOut:
    """Point ``name@alias`` back where it pointed before its last move."""
    version = await asyncio.to_thread(system.models.rollback, name, body.alias, admin.user)
    return _view(system, version)


@router.delete(
    "/{name}/versions/{version}", response_model=ModelRemoved, responses=ADMIN | errors(404, 409)
)
async def remove_model_version(
    name: PathName,
    version: Annotated[int, PathParameter(ge=1, le=DB_INT_MAX)],
    system: SystemDep,
    _admin: AdminDep,
    force: bool = Query(False, description="also drop aliases that point at it"),
) -> ModelRemoved:
    """Delete one version and the files the registry holds for it."""
    removed = await asyncio.to_thread(system.models.remove, name, version, force=force)
    return ModelRemoved(removed=removed.key)
