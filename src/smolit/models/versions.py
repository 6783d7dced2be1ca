"""``ModelVersions``: named models with numbered versions and aliases, in the database.

A version either owns files copied in under ``<home>/models/<name>/v<version>/``
(``register_files``: imported models, router checkpoints) or refers to something it does
not own (``register_reference``: a remote API, a Hugging Face id, a file left in place).
The database holds where, a checksum, the size, the backend parameters, notes and who made
it. ``name@alias`` (e.g. ``router@production``) points at one version; ``latest`` is always
the highest. Every alias move is recorded, so ``rollback`` walks back through them.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient

from smolit.config import NAME_PATTERN
from smolit.errors import ConflictError, NotFoundError, StorageError, ValidationError
from smolit.storage import Database, ModelAliasEventRow, ModelAliasRow, ModelVersionRow
from smolit.storage.changes import MODELS, bump
from smolit.storage.private import make_tree_private, private_dir
from smolit.storage.tables import utcnow

ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
NAME_RE = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    kind: str
    #: the files (owned or referenced); None for a version with no local files
    path: Path | None
    checksum: str
    size_bytes: int
    source: str | None
    params: dict[str, Any]
    created_by: str | None
    created_at: datetime
    notes: str | None = None

    @property
    def key(self) -> str:
        """``name@version``: how the pool, the metrics and task records name this version."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "path": str(self.path) if self.path else None,
            "created_at": self.created_at.isoformat(),
        }


def directory_checksum(directory: Path) -> tuple[str, int]:
    """SHA-256 over every file's relative path and bytes, and the total size."""
    digest = hashlib.sha256()
    size = 0
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode())
        size += _feed(digest, path)
    return digest.hexdigest(), size


def file_checksum(path: Path) -> tuple[str, int]:
    """SHA-256 of one file's bytes, and its size."""
    digest = hashlib.sha256()
    size = _feed(digest, path)
    return digest.hexdigest(), size


def path_checksum(path: Path) -> tuple[str, int]:
    """``file_checksum`` or ``directory_checksum``, whichever ``path`` is."""
    return directory_checksum(path) if path.is_dir() else file_checksum(path)


def _feed(digest: Any, path: Path) -> int:
    size = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return size


def _view(row: ModelVersionRow) -> ModelVersion:
    return ModelVersion(
        row.name,
        row.version,
        row.kind,
        Path(row.path) if row.path else None,
        row.checksum,
        row.size_bytes,
        row.source,
        dict(row.params or {}),
        row.created_by,
        row.created_at,
        row.notes,
    )


class ModelVersions:
    def __init__(self, database: Database, models_dir: Path) -> None:
        self._db = database
        self._dir = models_dir

    @property
    def models_dir(self) -> Path:
        return self._dir

    # --- registering --------------------------------------------------------------------

    def register_files(
        self,
        name: str,
        kind: str,
        files: Path,
        *,
        source: str | None = None,
        params: dict[str, Any] | None = None,
        notes: str | None = None,
        created_by: str | None = None,
    ) -> ModelVersion:
        """Copy ``files`` (a directory, or one file) in as the next version of ``name``.

        The files are copied and summed in a staging folder first; the version number is
        then claimed by inserting its row (the unique (name, version) constraint settles a
        race with another registration, which retries with the next number), and only
        then is the folder renamed into place. A single file keeps its name inside the
        version folder, and the version's ``path`` is that file.
        """
        check_model_name(name)
        private_dir(self._dir / name)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self._dir / name))
        try:
            if files.is_dir():
                shutil.copytree(files, staging, dirs_exist_ok=True)
                inner = ""
            else:
                shutil.copy2(files, staging / files.name)
                inner = files.name
            make_tree_private(staging)  # model files are this installation's: 0600
            checksum, size = (
                directory_checksum(staging) if not inner else file_checksum(staging / inner)
            )
            row = _new_row(name, kind, checksum, size, source, params, notes, created_by)
            self._claim_version(name, row, inner)
            target = self._dir / name / f"v{row.version}"
            if target.exists():  # left by a registration that never recorded its row
                shutil.rmtree(target)
            os.rename(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return _view(row)

    def register_reference(
        self,
        name: str,
        kind: str,
        *,
        path: str = "",
        checksum: str = "",
        size_bytes: int = 0,
        source: str | None = None,
        params: dict[str, Any] | None = None,
        notes: str | None = None,
        created_by: str | None = None,
    ) -> ModelVersion:
        """Record the next version of ``name`` for something the registry does not own:
        a remote API, a Hugging Face id, or a file left where it is (``path``)."""
        check_model_name(name)
        row = _new_row(name, kind, checksum, size_bytes, source, params, notes, created_by)
        self._claim_version(name, row, None, path)
        return _view(row)

    def _claim_version(
        self, name: str, row: ModelVersionRow, inner: str | None, path: str = ""
    ) -> None:
        """Insert ``row`` as the next version; ``inner`` is the file inside an owned version
        folder ("" for the folder itself), None for a reference whose ``path`` is kept."""
        for _ in range(100):
            with self._db.session() as session:
                latest = session.scalar(
                    select(func.max(ModelVersionRow.version)).where(ModelVersionRow.name == name)
                )
            row.version = (latest or 0) + 1
            if inner is None:
                row.path = path
            else:
                folder = (self._dir / name / f"v{row.version}").resolve()
                row.path = str(folder / inner) if inner else str(folder)
            try:
                with self._db.session() as session:
                    session.add(row)
                return
            except IntegrityError:
                make_transient(row)
                row.id = None  # type: ignore[assignment]
        raise StorageError(f"could not claim a version number for model {name!r}")

    # --- reading ------------------------------------------------------------------------

    def names(self) -> list[str]:
        with self._db.read() as session:
            return list(
                session.scalars(
                    select(ModelVersionRow.name).distinct().order_by(ModelVersionRow.name)
                )
            )

    def list(self, name: str | None = None) -> list[ModelVersion]:
        query = select(ModelVersionRow).order_by(ModelVersionRow.name, ModelVersionRow.version)
        if name is not None:
            query = query.where(ModelVersionRow.name == name)
        with self._db.read() as session:
            return [_view(row) for row in session.scalars(query)]

    def get(self, name: str, version: int) -> ModelVersion:
        with self._db.read() as session:
            row = session.scalar(
                select(ModelVersionRow).where(
                    ModelVersionRow.name == name, ModelVersionRow.version == version
                )
            )
            if row is None:
                known = [v.version for v in self.list(name)]
                if not known:
                    raise self._unknown(name)
                raise NotFoundError(
                    f"model {name!r} has no version {version} (versions: {known})",
                    details={"model": name, "version": version, "versions": known},
                )
            return _view(row)

    def _unknown(self, name: str) -> NotFoundError:
        known = self.names()
        return NotFoundError(
            f"unknown model {name!r}; registered models: {', '.join(known) or 'none'}",
            details={"model": name, "known": known},
        )

    def latest(self, name: str) -> ModelVersion | None:
        versions = self.list(name)
        return versions[-1] if versions else None

    def aliases(self, name: str) -> dict[str, int]:
        """``alias -> version`` for ``name``."""
        with self._db.read() as session:
            rows = session.scalars(
                select(ModelAliasRow)
                .where(ModelAliasRow.name == name)
                .order_by(ModelAliasRow.alias)
            )
            return {row.alias: row.version for row in rows}

    def history(self, name: str, alias: str | None = None) -> builtins.list[dict[str, Any]]:
        """Every alias move of ``name``, oldest first."""
        query = select(ModelAliasEventRow).where(ModelAliasEventRow.name == name)
        if alias is not None:
            query = query.where(ModelAliasEventRow.alias == alias)
        with self._db.read() as session:
            return [
                {
                    "alias": row.alias,
                    "version": row.version,
                    "action": row.action,
                    "undone": row.undone,
                    "created_by": row.created_by,
                    "created_at": row.created_at.isoformat(),
                }
                for row in session.scalars(query.order_by(ModelAliasEventRow.id))
            ]

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
        with self._db.read() as session:
            row = session.get(ModelAliasRow, (name, tag))
        if row is None:
            known = sorted(self.aliases(name))
            raise NotFoundError(
                f"model {name!r} has no alias {tag!r} (aliases: {', '.join(known) or 'none'})",
                details={"model": name, "alias": tag, "aliases": known},
            )
        return self.get(name, row.version)

    # --- aliases ------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int, created_by: str | None = None) -> None:
        """Point ``name@alias`` at ``version`` (a ``promote``), recording the move."""
        _check_alias(alias)
        self.get(name, version)
        with self._db.session() as session:
            row = session.get(ModelAliasRow, (name, alias))
            if row is None:
                session.add(
                    ModelAliasRow(name=name, alias=alias, version=version, updated_at=utcnow())
                )
            else:
                row.version, row.updated_at = version, utcnow()
            session.add(_event(name, alias, version, "promote", created_by))
            bump(session, MODELS)

    def rollback(self, name: str, alias: str, created_by: str | None = None) -> int:
        """Undo the last move of ``name@alias``: it points where it pointed before.

        Repeated rollbacks keep walking back. ``ConflictError`` when there is nothing to
        go back to; the version it would go back to must still exist.
        """
        _check_alias(alias)
        with self._db.session() as session:
            moves = list(
                session.scalars(
                    select(ModelAliasEventRow)
                    .where(
                        ModelAliasEventRow.name == name,
                        ModelAliasEventRow.alias == alias,
                        ModelAliasEventRow.action == "promote",
                        ModelAliasEventRow.undone.is_(False),
                    )
                    .order_by(ModelAliasEventRow.id.desc())
                    .limit(2)
                )
            )
            if len(moves) < 2:
                raise ConflictError(
                    f"{name}@{alias} has no earlier version to roll back to",
                    details={"model": name, "alias": alias},
                )
            current, previous = moves
            exists = session.scalar(
                select(ModelVersionRow.id).where(
                    ModelVersionRow.name == name, ModelVersionRow.version == previous.version
                )
            )
            if exists is None:
                raise ConflictError(
                    f"{name}@{alias} would roll back to version {previous.version}, "
                    "which was removed",
                    details={"model": name, "alias": alias, "version": previous.version},
                )
            current.undone = True
            row = session.get(ModelAliasRow, (name, alias))
            if row is not None:
                row.version, row.updated_at = previous.version, utcnow()
            session.add(_event(name, alias, previous.version, "rollback", created_by))
            bump(session, MODELS)
            return previous.version

    # --- removing -----------------------------------------------------------------------

    def remove(self, name: str, version: int, *, force: bool = False) -> ModelVersion:
        """Delete one version and the files it owns.

        An alias pointing at it blocks the removal (``ConflictError`` naming the alias)
        unless ``force``, which drops those aliases too. Files are deleted only when they
        live inside the registry's own folder.
        """
        removed = self.get(name, version)
        with self._db.session() as session:
            pointing = list(
                session.scalars(
                    select(ModelAliasRow).where(
                        ModelAliasRow.name == name, ModelAliasRow.version == version
                    )
                )
            )
            if pointing and not force:
                aliases = sorted(row.alias for row in pointing)
                raise ConflictError(
                    f"{name}@{version} is what {', '.join(f'{name}@{a}' for a in aliases)} "
                    "points at: promote another version first, or force the removal",
                    details={"model": name, "version": version, "aliases": aliases},
                )
            for row in pointing:
                session.delete(row)
            bump(session, MODELS)
            session.execute(
                delete(ModelVersionRow).where(
                    ModelVersionRow.name == name, ModelVersionRow.version == version
                )
            )
        folder = (self._dir / name / f"v{version}").resolve()
        if folder.is_dir() and folder.is_relative_to(self._dir.resolve()):
            shutil.rmtree(folder, ignore_errors=True)
        return removed


def check_model_name(name: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise ValidationError(
            f"invalid model name {name!r}: lower-case letters, digits, '-' and '_' (at most 64)",
            details={"model": name},
        )


def _check_alias(alias: str) -> None:
    if not ALIAS_PATTERN.fullmatch(alias) or alias == "latest":
        raise ValidationError(
            f"invalid alias {alias!r}: lower-case letters, digits, '-' and '_', "
            "starting with a letter, not 'latest'",
            details={"alias": alias},
        )


def _new_row(
    name: str,
    kind: str,
    checksum: str,
    size: int,
    source: str | None,
    params: dict[str, Any] | None,
    notes: str | None,
    created_by: str | None,
) -> ModelVersionRow:
    return ModelVersionRow(
        name=name,
        kind=kind,
        path="",
        checksum=checksum,
        size_bytes=size,
        source=source,
        params=params or {},
        notes=notes,
        created_by=created_by,
        created_at=utcnow(),
    )


def _event(
    name: str, alias: str, version: int, action: str, created_by: str | None
) -> ModelAliasEventRow:
    return ModelAliasEventRow(
        name=name,
        alias=alias,
        version=version,
        action=action,
        undone=False,
        created_by=created_by,
        created_at=utcnow(),
    )
