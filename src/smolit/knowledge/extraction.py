"""Read files into (title, text): plain text and Markdown for now.

Every problem with one file is a ``ValidationError``, so that ingesting a
directory can report it and go on with the other files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from smolit.errors import ValidationError

#: file name suffixes that ``read_document`` understands
SUPPORTED_SUFFIXES = frozenset({".txt", ".md"})

_MARKDOWN_TITLE = re.compile(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class ExtractedDocument:
    title: str
    text: str


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def markdown_title(text: str) -> str | None:
    """The first level-one ``# `` heading of a Markdown text."""
    match = _MARKDOWN_TITLE.search(text)
    return match.group(1).strip() if match else None


def read_document(path: Path) -> ExtractedDocument:
    """Read a UTF-8 ``.txt`` or ``.md`` file; Markdown takes its title from its first heading.

    Errors say what is wrong and carry the file in ``details["path"]``.
    """
    where = {"path": str(path)}
    if not is_supported(path):
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise ValidationError(f"unsupported file type (supported: {supported})", details=where)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read ({exc.strerror or exc})", details=where) from exc
    if b"\x00" in data:
        raise ValidationError("binary file, not text", details=where)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})", details=where
        ) from exc
    if not text.strip():
        raise ValidationError("empty file", details=where)
    title = markdown_title(text) if path.suffix.lower() == ".md" else None
    return ExtractedDocument(title=title or path.stem, text=text)
