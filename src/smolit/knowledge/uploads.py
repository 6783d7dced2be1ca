"""Uploaded files: a safe file name, and a place under the data directory to keep them
(0600, sealed with AES-GCM when encryption at rest is on)."""

from __future__ import annotations

from pathlib import Path, PureWindowsPath

from smolit.errors import KnowledgeError, ValidationError
from smolit.security.envelope import seal, unseal
from smolit.storage.private import write_private

#: longest file name an upload may have
MAX_NAME_CHARS = 255


def safe_file_name(name: str) -> str:
    """``name`` when it is a plain file name; ``ValidationError`` for any path in it."""
    problem = None
    if not name or not name.strip():
        problem = "it is empty"
    elif len(name) > MAX_NAME_CHARS:
        problem = f"it is longer than {MAX_NAME_CHARS} characters"
    elif "\x00" in name or any(ord(c) < 32 for c in name):
        problem = "it has control characters"
    elif "/" in name or "\\" in name or PureWindowsPath(name).drive:
        problem = "it has a directory part (absolute path or '../')"
    elif name in (".", "..") or name.startswith("."):
        problem = "it starts with '.'"
    if problem is not None:
        raise ValidationError(
            f"invalid upload file name {name!r}: {problem}; send a plain file name",
            details={"filename": name},
        )
    return name


def store_upload(path: Path, data: bytes, key: bytes | None = None) -> None:
    """Write ``data`` to ``path`` atomically and 0600 (a reader never sees half a file);
    sealed with AES-GCM when there is an at-rest ``key``."""
    try:
        write_private(path, seal(data, key) if key is not None else data)
    except OSError as exc:
        raise KnowledgeError(f"cannot store the upload at {path}: {exc}") from exc


def read_upload(path: Path, key: bytes | None = None) -> bytes:
    """The bytes ``store_upload`` kept at ``path``; ``ValidationError`` when the sealed
    file was altered or sealed with another key."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KnowledgeError(f"cannot read the upload at {path}: {exc}") from exc
    return unseal(data, key) if key is not None else data
