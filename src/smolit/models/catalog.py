"""``ModelCatalog``: what a model reference means, and how models enter the registry.

A reference is ``name``, ``name@<alias>``, ``name@latest`` or ``name@<version>``. Language
models live in the registry (``ModelVersions``) as versions of kind ``llm`` whose
``params["definition"]`` is the backend definition; a plain ``name`` means the version
``name@production`` points at, or the latest one when there is no such alias. Models
declared in the configuration are registered at start (``sync_config``): a new version
whenever their definition changes. Without a registry (a bare ``ModelManager``), the
configuration's definitions are used directly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from smolit.config import ModelDefinition
from smolit.errors import ConfigError, NotFoundError, ValidationError
from smolit.models.backend_registry import BackendRegistry
from smolit.models.versions import ModelVersion, ModelVersions, path_checksum

logger = logging.getLogger(__name__)

LLM_KIND = "llm"
DEFAULT_ALIAS = "production"
CONFIG_CREATOR = "config"


@dataclass(frozen=True)
class ResolvedModel:
    """A reference resolved to one loadable model."""

    reference: str
    #: the pool's key and the name results carry: ``name@version``, or ``name`` for a model
    #: outside the registry (a bare definition or an instance added in code)
    key: str
    name: str
    version: int | None
    definition: ModelDefinition


def definition_of(version: ModelVersion) -> ModelDefinition:
    """The backend definition stored with an ``llm`` version; owned files are its path."""
    raw = dict(version.params.get("definition") or {})
    if version.params.get("files") == "owned" and version.path is not None:
        raw["path"] = str(version.path)
    return ModelDefinition.model_validate(raw)


def parse_definition(raw: dict[str, Any], field: str = "definition") -> ModelDefinition:
    """A definition from user input; ``ValidationError`` naming each bad field."""
    try:
        return ModelDefinition.model_validate(raw)
    except PydanticValidationError as exc:
        problems = [
            {"field": ".".join([field, *(str(p) for p in err["loc"])]), "message": err["msg"]}
            for err in exc.errors()
        ]
        raise ValidationError(
            "; ".join(f"{p['field']}: {p['message']}" for p in problems),
            details={"problems": problems},
        ) from exc


def definition_params(definition: ModelDefinition) -> dict[str, Any]:
    """The definition as stored: only the fields that differ from the defaults."""
    return definition.model_dump(exclude_defaults=True) | {"backend": definition.backend}


class ModelCatalog:
    """Resolves references against the registry (or bare definitions) and fills it."""

    def __init__(
        self,
        definitions: dict[str, ModelDefinition],
        default_model: str,
        backends: BackendRegistry,
        versions: ModelVersions | None = None,
    ) -> None:
        self.default_model = default_model
        self._definitions = dict(definitions)
        self._backends = backends
        self.versions = versions

    # --- resolving ------------------------------------------------------------------------

    def registered(self, name: str) -> bool:
        return self.versions is not None and self.versions.latest(name) is not None

    def resolve(self, reference: str | None) -> ResolvedModel:
        """What ``reference`` (the default model when None) means now."""
        reference = reference or self.default_model
        name, _, tag = reference.partition("@")
        if self.versions is not None and self.registered(name):
            version = self._version(name, tag)
            if version.kind != LLM_KIND:
                raise ValidationError(
                    f"{version.key} is a {version.kind} model, not a language model",
                    details={"model": reference, "kind": version.kind},
                )
            return ResolvedModel(
                reference, version.key, name, version.version, definition_of(version)
            )
        definition = self._definitions.get(name)
        if definition is None or tag not in ("", "latest"):
            raise self.not_found(reference)
        return ResolvedModel(reference, name, name, None, definition)

    def _version(self, name: str, tag: str) -> ModelVersion:
        assert self.versions is not None
        if tag == "":
            tag = DEFAULT_ALIAS if DEFAULT_ALIAS in self.versions.aliases(name) else "latest"
        version = self.versions.resolve(f"{name}@{tag}")
        if version is None:  # removed between the two reads
            raise self.not_found(f"{name}@{tag}")
        return version

    def names(self) -> list[str]:
        """Every language model name: registered ones and bare definitions."""
        names = set(self._definitions)
        if self.versions is not None:
            names |= {v.name for v in self.versions.list() if v.kind == LLM_KIND}
        return sorted(names)

    def not_found(self, reference: str, extra: list[str] | None = None) -> NotFoundError:
        known = sorted(set(self.names()) | set(extra or []))
        return NotFoundError(
            f"unknown model {reference!r}; known models: {', '.join(known) or 'none'}",
            details={"model": reference, "known": known},
        )

    def add_definition(self, name: str, definition: ModelDefinition) -> None:
        self._definitions[name] = definition

    def has_definition(self, name: str) -> bool:
        return name in self._definitions

    # --- filling the registry -------------------------------------------------------------

    def check(self, definition: ModelDefinition) -> None:
        """``ValidationError`` when ``definition`` cannot work (unknown backend, bad path)."""
        try:
            cls = self._backends.get(definition.backend)
        except ConfigError as exc:  # a caller's definition, not the configuration file
            raise ValidationError(exc.message, details=exc.details) from exc
        reason = cls.check_definition(definition)
        if reason is not None:
            raise ValidationError(reason, details={"backend": definition.backend})

    def register(
        self,
        name: str,
        definition: ModelDefinition,
        *,
        notes: str | None = None,
        created_by: str | None = None,
        source: str | None = None,
    ) -> ModelVersion:
        """Record ``definition`` as the next version of ``name``; files stay where they are."""
        versions = self._require_versions()
        self.check(definition)
        path, checksum, size = self._local_file(definition)
        return versions.register_reference(
            name,
            LLM_KIND,
            path=path,
            checksum=checksum,
            size_bytes=size,
            source=source or definition.path or definition.base_url or definition.backend,
            params={"definition": definition_params(definition), "files": "referenced"},
            notes=notes,
            created_by=created_by,
        )

    def import_path(
        self,
        name: str,
        path: Path,
        definition: ModelDefinition,
        *,
        notes: str | None = None,
        created_by: str | None = None,
    ) -> ModelVersion:
        """Copy the model at ``path`` (a .gguf file or a model directory) into the registry.

        It is checked before anything is copied: a missing, corrupt or truncated file
        leaves the registry unchanged.
        """
        versions = self._require_versions()
        path = path.expanduser()
        if not path.exists():
            raise ValidationError(f"{path} does not exist", details={"path": str(path)})
        self.check(definition.model_copy(update={"path": str(path)}))
        if path.is_file():
            reason = verify_model_file(path)
            if reason is not None:
                raise ValidationError(f"{path}: {reason}", details={"path": str(path)})
        stored = definition_params(definition)
        stored.pop("path", None)
        return versions.register_files(
            name,
            LLM_KIND,
            path,
            source=str(path.resolve()),
            params={"definition": stored, "files": "owned"},
            notes=notes,
            created_by=created_by,
        )

    def sync_config(self) -> list[ModelVersion]:
        """Register each configured model whose definition is new or changed."""
        if self.versions is None:
            return []
        added: list[ModelVersion] = []
        for name, definition in sorted(self._definitions.items()):
            stored = definition_params(definition)
            from_config = [v for v in self.versions.list(name) if v.created_by == CONFIG_CREATOR]
            if from_config and from_config[-1].params.get("definition") == stored:
                continue
            try:
                version = self.register(
                    name, definition, created_by=CONFIG_CREATOR, source="configuration"
                )
            except ValidationError as exc:
                logger.warning("model %r from the configuration not registered: %s", name, exc)
                continue
            logger.info("registered %s from the configuration", version.key)
            added.append(version)
        return added

    def _require_versions(self) -> ModelVersions:
        if self.versions is None:
            raise ValidationError("this model manager has no registry (no database)")
        return self.versions

    @staticmethod
    def _local_file(definition: ModelDefinition) -> tuple[str, str, int]:
        """(path, checksum, size) of the local file or directory a definition names."""
        if not definition.path:
            return "", "", 0
        path = _local_path(definition.path)
        if path is None:
            return definition.path, "", 0
        checksum, size = path_checksum(path)
        return str(path), checksum, size


def _local_path(raw: str) -> Path | None:
    if raw == "bundled":
        from smolit.models.backends.transformers_local import bundled_model_path

        try:
            return bundled_model_path()
        except Exception:  # the backend's check already said what is wrong
            return None
    path = Path(raw).expanduser()
    return path if path.exists() else None


def verify_model_file(path: Path) -> str | None:
    """Why the model file at ``path`` is unusable (corrupt, truncated), or None."""
    if path.suffix.lower() == ".gguf":
        from smolit.models.backends.transformers_local import verify_gguf

        return verify_gguf(path)
    return None
