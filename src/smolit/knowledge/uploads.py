"""Uploaded files: a safe file name, and a place under the data directory to keep them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PureWindowsPath

from smolit.errors import KnowledgeError, ValidationError

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


def store_upload(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a reader never sees half a file)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise KnowledgeError(f"cannot store the upload at {path}: {exc}") from exc
