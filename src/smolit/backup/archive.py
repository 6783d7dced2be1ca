"""The backup archive: the data and a manifest of SHA-256 checksums, streamed as tar.gz
(through the AES-GCM envelope when there is a key, so nothing in the clear is written);
and the checks that unpacking does before anything is trusted.

Layout inside the archive::

    manifest.json               format, id, time, version, database kind, files (last)
    database/smolit.db          SQLite online backup  (or database/dump.sql from pg_dump);
                                an encrypted installation's stays encrypted (SQLCipher)
    knowledge/...               the knowledge indexes (SQLite files by the backup API)
    models/...                  registry model files
    config/smolit.yaml          the configuration file, when there is one
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sqlite3
import tarfile
import time
import zlib
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from smolit.errors import ValidationError
from smolit.storage import sqlcipher

FORMAT = "smolit-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
#: files SQLite keeps next to a database; the online backup already contains their data
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def snapshot_bytes(source: Path) -> bytes:
    """A consistent copy of a live plain SQLite database, in memory (the online backup
    API, one step): nothing in the clear is written beside the backup."""
    src = sqlite3.connect(sqlcipher.read_only_uri(source), uri=True, timeout=30)
    try:
        memory = sqlite3.connect(":memory:")
        try:
            src.backup(memory)
            return memory.serialize()
        finally:
            memory.close()
    finally:
        src.close()


class _Hashing(io.RawIOBase):
    """Reads ``source`` and sums what was read (one pass for the archive and the sum)."""

    def __init__(self, source: BinaryIO) -> None:
        super().__init__()
        self._source = source
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self.digest.update(data)
        return data


class ArchiveWriter:
    """Streams a backup archive (tar.gz) into ``out``: members as they come, the manifest
    of their SHA-256 sums last. Every member is 0600 and owned by nobody in particular."""

    def __init__(self, out: BinaryIO, scratch: Path, *, sealed: bool) -> None:
        """``scratch``: a private directory for database snapshots; ``sealed``: the archive
        is encrypted, so no plain snapshot may be written there (they are taken in memory)."""
        self._gzip = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6)
        self._tar = tarfile.open(fileobj=self._gzip, mode="w|")  # noqa: SIM115 (closed by close())
        self._scratch = scratch
        self._sealed = sealed
        self.files: dict[str, dict[str, Any]] = {}

    def _add(self, name: str, size: int, data: BinaryIO) -> None:
        member = tarfile.TarInfo(_safe_name(name))
        member.size, member.mode, member.mtime = size, 0o600, int(time.time())
        hashing = _Hashing(data)
        self._tar.addfile(member, hashing)
        self.files[name] = {"sha256": hashing.digest.hexdigest(), "size": size}

    def add_bytes(self, name: str, data: bytes) -> None:
        self._add(name, len(data), io.BytesIO(data))

    def add_file(self, name: str, path: Path) -> None:
        with path.open("rb") as handle:
            self._add(name, os.fstat(handle.fileno()).st_size, handle)

    def add_database(self, name: str, path: Path, key: bytes | None) -> None:
        """A live SQLite database, snapshot into the scratch directory (an encrypted one
        stays encrypted with ``key``), or in memory when it is plain and the archive is
        sealed: nothing in the clear is written beside an encrypted backup."""
        plain = sqlcipher.state(path) == "plain"
        if plain and self._sealed:
            self.add_bytes(name, snapshot_bytes(path))
            return
        staged = self._scratch / f"{len(self.files)}.db"
        sqlcipher.snapshot(path, staged, None if plain else key)
        try:
            self.add_file(name, staged)
        finally:
            staged.unlink(missing_ok=True)

    def add_tree(self, prefix: str, source: Path, key: bytes | None) -> None:
        """The files below ``source``; SQLite databases as snapshots, their side files
        left out; links not followed."""
        for path in sorted(source.rglob("*")):
            name = f"{prefix}/{path.relative_to(source).as_posix()}"
            if path.is_symlink() or not path.is_file() or _sqlite_side_file(path):
                continue
            if path.suffix in SQLITE_SUFFIXES and _is_database(path, key):
                self.add_database(name, path, key)
            else:
                self.add_file(name, path)

    def close(self, info: dict[str, Any]) -> dict[str, Any]:
        """Write the manifest and finish the archive; the manifest."""
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **info}
        manifest["files"] = dict(sorted(self.files.items()))
        self.add_bytes(MANIFEST, json.dumps(manifest, indent=2).encode())
        self.files.pop(MANIFEST)
        self._tar.close()
        self._gzip.close()
        return manifest


def _sqlite_side_file(path: Path) -> bool:
    return any(
        path.name.endswith(suffix) and (path.parent / path.name[: -len(suffix)]).is_file()
        for suffix in SQLITE_SIDE_FILES
    )


def _is_database(path: Path, key: bytes | None) -> bool:
    """A plain SQLite file, or (with an at-rest key) one encrypted with SQLCipher."""
    found = sqlcipher.state(path)
    return found == "plain" or (found == "encrypted" and key is not None)


def _safe_name(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not name or "\\" in name:
        raise ValidationError(
            f"refusing the archive: member {name!r} would be written outside the restore directory",
            details={"member": name},
        )
    return name


def unpack(stream: BinaryIO, target: Path, name: str) -> dict[str, Any]:
    """Extract a plain archive, read as a stream, into ``target`` while checking every
    member (regular files and directories only, no absolute paths, no ``..``), then
    check the manifest and every checksum. Returns the manifest. ``name`` is for errors."""
    try:
        with tarfile.open(fileobj=stream, mode="r|gz") as archive:
            for member in archive:
                _safe_name(member.name)
                if not (member.isfile() or member.isdir()):
                    raise ValidationError(
                        f"refusing the archive: member {member.name!r} is a link or a special file",
                        details={"member": member.name},
                    )
                archive.extract(member, target, filter="data")
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ValidationError(
            f"{name} is truncated or damaged, or not a tar.gz archive ({exc})"
        ) from exc
    return check_manifest(target)


def check_manifest(root: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationError("not a smolit backup: the archive has no readable manifest") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValidationError("not a smolit backup: its manifest has another format")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValidationError(
            f"backup format version {manifest.get('format_version')!r} is not supported "
            f"(this version reads {FORMAT_VERSION})"
        )
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise ValidationError("not a smolit backup: its manifest lists no files")
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    present.discard(MANIFEST)
    if extra := sorted(present - set(listed)):
        raise ValidationError(f"tampered backup: {extra[0]} is not in its manifest")
    for name, entry in sorted(listed.items()):
        path = root / _safe_name(name)
        if not path.is_file():
            raise ValidationError(f"damaged backup: {name} is missing")
        if sha256_of(path) != entry.get("sha256"):
            raise ValidationError(f"tampered backup: the checksum of {name} does not match")
    return manifest
