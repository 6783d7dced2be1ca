"""What an extractor returns, and the type every extractor has."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ExtractedDocument:
    """One document read from a file.

    ``title`` may be empty (the caller then names it after the file); ``key`` is set when
    one file holds several documents (a JSON Lines row's ``_id``), and the document's
    source becomes ``<file>#<key>``. ``metadata`` holds what the format itself says
    (author, dates, language, encoding, pages).
    """

    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    key: str | None = None


#: an extractor reads the bytes of a file (``name`` is its file name, for messages and
#: titles) into documents, and raises ``ValidationError`` when it cannot
Extractor = Callable[[bytes, str], list[ExtractedDocument]]


def clean_metadata(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without empty entries; dates become ISO 8601 text."""
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        if isinstance(value, str):
            value = value.strip()
        if value not in (None, "", [], {}):
            cleaned[key] = value
    return cleaned
