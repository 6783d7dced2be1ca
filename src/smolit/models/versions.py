"""``ModelVersions``: named models with numbered versions and aliases, in the database.

Files live under ``<home>/models/<name>/v<version>/``; the database holds where, a checksum
over every file, the size, and who made it. ``name@alias`` (e.g. ``router@production``)
points at one version; ``latest`` is always the highest version.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient

from smolit.errors import NotFoundError, StorageError, ValidationError
from smolit.storage import Database, ModelAliasRow, ModelVersionRow
from smolit.storage.tables import utcnow

ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    kind: str
    path: Path
    checksum: str
    size_bytes: int
    source: str | None
    params: dict[str, Any]
    created_by: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path), "created_at": self.created_at.isoformat()}


def directory_checksum(directory: Path) -> tuple[str, int]:
    """SHA-256 over every file's relative path and bytes, and the total size."""
    digest = hashlib.sha256()
    size = 0
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    return digest.hexdigest(), size


def _view(row: ModelVersionRow) -> ModelVersion:
    return ModelVersion(
        row.name,
        row.version,
        row.kind,
        Path(row.path),
        row.checksum,
        row.size_bytes,
        row.source,
        dict(row.params or {}),
        row.created_by,
        row.created_at,
    )


class ModelVersions:
    def __init__(self, database: Database, models_dir: Path) -> None:
        self._db = database
        self._dir = models_dir

    def register_directory(
        self,
        name: str,
        kind: str,
        files: Path,
        *,
        source: str | None = None,
        params: dict[str, Any] | None = None,
        created_by: str | None = None,
    ) -> ModelVersion:
        """Copy ``files`` in as the next version of ``name`` and record it.

        The files are copied and summed in a staging folder first; the version number is
        then claimed by inserting its row (the unique (name, version) constraint settles a
        race with another registration, which retries with the next number), and only
        then is the folder renamed into place.
        """
        (self._dir / name).mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self._dir / name))
        try:
            shutil.copytree(files, staging, dirs_exist_ok=True)
            checksum, size = directory_checksum(staging)
            row = ModelVersionRow(
                name=name,
                kind=kind,
                path="",
                checksum=checksum,
                size_bytes=size,
                source=source,
                params=params or {},
                created_by=created_by,
                created_at=utcnow(),
            )
            self._claim_version(name, row)
            target = Path(row.path)
            if target.exists():  # left by a registration that never recorded its row
                shutil.rmtree(target)
            os.rename(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return _view(row)

    def _claim_version(self, name: str, row: ModelVersionRow) -> None:
        for _ in range(100):
            with self._db.session() as session:
                latest = session.scalar(
                    select(func.max(ModelVersionRow.version)).where(ModelVersionRow.name == name)
                )
            row.version = (latest or 0) + 1
            row.path = str((self._dir / name / f"v{row.version}").resolve())
            try:
                with self._db.session() as session:
                    session.add(row)
                return
            except IntegrityError:
                make_transient(row)
                row.id = None  # type: ignore[assignment]
        raise StorageError(f"could not claim a version number for model {name!r}")

    def list(self, name: str | None = None) -> list[ModelVersion]:
        query = select(ModelVersionRow).order_by(ModelVersionRow.name, ModelVersionRow.version)
        if name is not None:
            query = query.where(ModelVersionRow.name == name)
        with self._db.session() as session:
            return [_view(row) for row in session.scalars(query)]

    def get(self, name: str, version: int) -> ModelVersion:
        with self._db.session() as session:
            row = session.scalar(
                select(ModelVersionRow).where(
                    ModelVersionRow.name == name, ModelVersionRow.version == version
                )
            )
            if row is None:
                known = [v.version for v in self.list(name)]
                raise NotFoundError(f"model {name!r} has no version {version} (versions: {known})")
            return _view(row)

    def latest(self, name: str) -> ModelVersion | None:
        versions = self.list(name)
        return versions[-1] if versions else None

    def set_alias(self, name: str, alias: str, version: int) -> None:
        if not ALIAS_PATTERN.match(alias) or alias == "latest":
            raise ValidationError(f"invalid alias {alias!r}")
        self.get(name, version)
        with self._db.session() as session:
            row = session.get(ModelAliasRow, (name, alias))
            if row is None:
                session.add(
                    ModelAliasRow(name=name, alias=alias, version=version, updated_at=utcnow())
                )
            else:
                row.version, row.updated_at = version, utcnow()

    def resolve(self, reference: str) -> ModelVersion | None:
        """``name``, ``name@latest``, ``name@<alias>`` or ``name@<version>``.

        None when ``name`` has no version at all (for ``name`` and ``name@latest``); an unknown
        alias or version is a ``NotFoundError``.
        """
        name, _, tag = reference.partition("@")
        if tag.isdigit():
            return self.get(name, int(tag))
        if tag in ("", "latest"):
            return self.latest(name)
        with self._db.session() as session:
            row = session.get(ModelAliasRow, (name, tag))
        if row is None:
            raise NotFoundError(f"model {name!r} has no alias {tag!r}")
        return self.get(name, row.version)
