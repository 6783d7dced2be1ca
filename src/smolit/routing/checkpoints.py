"""Router checkpoints as versions of the model ``router`` in the model registry."""

from __future__ import annotations

import tempfile
from pathlib import Path

from smolit.config import Settings, process_environment
from smolit.errors import ValidationError
from smolit.models.versions import ModelVersion, ModelVersions
from smolit.routing.neural.model import RouterModel
from smolit.security.atrest import open_database
from smolit.storage.private import private_home

ROUTER_MODEL_NAME = "router"


class RouterCheckpoints:
    def __init__(self, versions: ModelVersions) -> None:
        self._versions = versions

    @classmethod
    def open(cls, settings: Settings) -> RouterCheckpoints:
        private_home(settings.home)
        database = open_database(settings, process_environment())
        database.migrate()
        return cls(ModelVersions(database, settings.models_dir))

    def register(
        self, model: RouterModel, source: str | None = None, created_by: str | None = None
    ) -> ModelVersion:
        with tempfile.TemporaryDirectory() as scratch:
            model.save(Path(scratch))
            return self._versions.register_files(
                ROUTER_MODEL_NAME,
                "router",
                Path(scratch),
                source=source,
                params={
                    "labels": len(model.labels),
                    "threshold": model.threshold,
                    **{k: v for k, v in model.meta.items() if isinstance(v, int | float | str)},
                },
                created_by=created_by,
            )

    def load(self, reference: str = ROUTER_MODEL_NAME) -> tuple[ModelVersion, RouterModel] | None:
        version = self._versions.resolve(reference)
        if version is None:
            return None
        if version.kind != "router" or version.path is None:
            raise ValidationError(f"{version.key} is a {version.kind} model, not a router")
        return version, RouterModel.load(version.path)
