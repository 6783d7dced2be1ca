"""Read files into documents with metadata: the format-independent half of processing.

``extract`` picks the extractor for a file's suffix (``extractors.FORMATS``), then gives
every document a title (the format's own, else the file name) and metadata: what the
format says (author, dates, pages, encoding) plus MIME type, size, sha256 checksum of the
file, source and detected language. Every problem with one file is a ``ValidationError``,
so that ingesting many files can report it and go on with the others.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smolit.errors import ValidationError
from smolit.knowledge.extractors import FORMATS, ExtractedDocument, suffix_for_mime
from smolit.knowledge.extractors.text import markdown_title

#: file name suffixes that ``extract`` understands
SUPPORTED_SUFFIXES = frozenset(FORMATS)
#: language detection reads at most this many characters of a document ...
LANGUAGE_SAMPLE_CHARS = 4000
#: ... and needs at least this many letters
LANGUAGE_MIN_LETTERS = 20
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)

_language_lock = threading.Lock()

__all__ = [
    "SUPPORTED_SUFFIXES",
    "ExtractedDocument",
    "detect_language",
    "document_source",
    "extract",
    "is_supported",
    "markdown_title",
    "read_file",
    "suffix_for_mime",
]


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def document_source(base: str, key: str | None) -> str:
    """The source of one document of a file: the file's, plus ``#key`` for a part."""
    return base if key is None else f"{base}#{key}"


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of the language ``text`` is in; None when too short to tell."""
    sample = text[:LANGUAGE_SAMPLE_CHARS]
    if len(_LETTER.findall(sample)) < LANGUAGE_MIN_LETTERS:
        return None
    import py3langid  # loads its model (about a second) on first use

    with _language_lock:
        language, _ = py3langid.classify(sample)
    return str(language)


def _unsupported(name: str) -> ValidationError:
    supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
    return ValidationError(
        f"unsupported file type {Path(name).suffix or '(no suffix)'} (supported: {supported})"
    )


def extract(
    data: bytes,
    name: str,
    source: str,
    *,
    suffix: str | None = None,
    modified: datetime | None = None,
) -> list[ExtractedDocument]:
    """The documents in ``data``, the bytes of the file ``name`` found at ``source``.

    ``suffix`` overrides the one of ``name`` (for URLs whose type comes from the server);
    ``modified`` is the file's modification time, kept when the format has no date.
    """
    suffix = (suffix or Path(name).suffix).lower()
    if suffix not in FORMATS:
        raise _unsupported(name)
    if not data.strip():
        raise ValidationError("empty file")
    mime_type, extractor = FORMATS[suffix]
    found = [doc for doc in extractor(data, name) if doc.text.strip()]
    if not found:
        raise ValidationError("no text found in the file")
    stem = Path(name).stem or name
    common: dict[str, Any] = {
        "file_name": name,
        "mime_type": mime_type,
        "size": len(data),
        "checksum": hashlib.sha256(data).hexdigest(),
    }
    if modified is not None:
        common["modified"] = modified.astimezone(UTC).isoformat()
    documents = []
    for doc in found:
        metadata = {**common, **doc.metadata, "source": document_source(source, doc.key)}
        if "language" not in metadata:
            language = detect_language(doc.text)
            if language is not None:
                metadata["language"] = language
        title = doc.title.strip() or (stem if doc.key is None else f"{stem}#{doc.key}")
        documents.append(replace(doc, title=title, metadata=metadata))
    return documents


def read_file(path: Path, source: str, max_bytes: int | None = None) -> list[ExtractedDocument]:
    """The documents in the file at ``path``; see ``extract``.

    A file over ``max_bytes`` is refused before it is read. Errors say what is wrong and
    carry the file in ``details["path"]``.
    """
    where = {"path": str(path)}
    try:
        if not is_supported(path):
            raise _unsupported(path.name)
        stat = path.stat()
        if max_bytes is not None and stat.st_size > max_bytes:
            raise ValidationError(
                f"file too large ({stat.st_size / 1e6:.1f} MB, the limit is "
                f"{max_bytes / 1e6:g} MB: knowledge.max_file_mb)"
            )
        data = path.read_bytes()
        modified = datetime.fromtimestamp(stat.st_mtime, UTC)
        return extract(data, path.name, source, modified=modified)
    except OSError as exc:
        raise ValidationError(f"cannot read ({exc.strerror or exc})", details=where) from exc
    except ValidationError as exc:
        raise ValidationError(exc.message, details={**exc.details, **where}) from exc
