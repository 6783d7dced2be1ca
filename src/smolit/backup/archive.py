"""The backup archive: a staged copy of the data, a manifest of SHA-256 checksums, packed
as tar.gz; and the checks that unpacking does before anything is trusted.

Layout inside the archive::

    manifest.json               format, id, time, version, database kind, files
    database/smolit.db          SQLite online backup  (or database/dump.sql from pg_dump)
    knowledge/...               the knowledge indexes (SQLite files by the backup API)
    models/...                  registry model files
    config/smolit.yaml          the configuration file, when there is one
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sqlite3
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from smolit.errors import ValidationError

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


def sqlite_snapshot(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API, one step)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def copy_tree(source: Path, target: Path) -> None:
    """Copy a directory; SQLite databases inside through the backup API, their side files
    left out; links are not followed."""
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        destination = target / relative
        if path.is_symlink():
            continue
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        elif _sqlite_side_file(path):
            continue
        elif path.suffix in SQLITE_SUFFIXES and _is_sqlite(path):
            sqlite_snapshot(path, destination)
        elif path.is_file():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)


def _sqlite_side_file(path: Path) -> bool:
    return any(
        path.name.endswith(suffix) and (path.parent / path.name[: -len(suffix)]).is_file()
        for suffix in SQLITE_SIDE_FILES
    )


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(16) == b"SQLite format 3\x00"


def write_manifest(staging: Path, info: dict[str, Any]) -> dict[str, Any]:
    files = {
        path.relative_to(staging).as_posix(): {
            "sha256": sha256_of(path),
            "size": path.stat().st_size,
        }
        for path in sorted(staging.rglob("*"))
        if path.is_file()
    }
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **info, "files": files}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def pack(staging: Path, target: Path) -> None:
    with tarfile.open(target, "w:gz", compresslevel=6) as archive:
        for path in sorted(staging.rglob("*")):
            archive.add(path, arcname=path.relative_to(staging).as_posix(), recursive=False)


def _safe_name(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not name or "\\" in name:
        raise ValidationError(
            f"refusing the archive: member {name!r} would be written outside the restore directory",
            details={"member": name},
        )
    return name


def unpack(archive_path: Path, target: Path) -> dict[str, Any]:
    """Extract a plain archive into ``target`` after checking every member (regular files
    and directories only, no absolute paths, no ``..``), then check the manifest and every
    checksum. Returns the manifest."""
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            members = archive.getmembers()
            for member in members:
                _safe_name(member.name)
                if not (member.isfile() or member.isdir()):
                    raise ValidationError(
                        f"refusing the archive: member {member.name!r} is a link or a special file",
                        details={"member": member.name},
                    )
            archive.extractall(target, members=members, filter="data")
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ValidationError(
            f"{archive_path.name} is truncated or damaged, or not a tar.gz archive ({exc})"
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
