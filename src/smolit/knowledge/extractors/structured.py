"""CSV, JSON and JSON Lines.

Records with a ``text`` field (BEIR-style ``{"_id", "title", "text"}``) are one document
each, keyed by ``_id`` (or ``id``, else their position), so the document's source is
``<file>#<key>``. Anything else is one document of ``field: value`` lines.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from typing import Any

from smolit.errors import ValidationError
from smolit.knowledge.extractors.base import ExtractedDocument, clean_metadata
from smolit.knowledge.extractors.text import DecodedText, decode_text

_KEY_FIELDS = ("_id", "id", "doc_id", "docid")
_META_FIELDS = ("author", "created", "modified", "date", "language", "url")


def _flatten(value: Any, prefix: str = "") -> list[str]:
    """``path: value`` lines for every scalar inside ``value``."""
    if isinstance(value, dict):
        return [line for k, v in value.items() for line in _flatten(v, f"{prefix}{k}.")]
    if isinstance(value, list):
        return [line for i, v in enumerate(value) for line in _flatten(v, f"{prefix}{i}.")]
    if value is None or value == "":
        return []
    return [f"{prefix.rstrip('.')}: {value}" if prefix else str(value)]


def _is_record(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("text"), str)


def _record_document(
    record: dict[str, Any], position: int, base: dict[str, Any]
) -> ExtractedDocument:
    key = next((str(record[f]) for f in _KEY_FIELDS if record.get(f) not in (None, "")), None)
    fields = {f: record[f] for f in _META_FIELDS if isinstance(record.get(f), str | int | float)}
    if "date" in fields:
        fields.setdefault("created", fields.pop("date"))
    extra = record.get("metadata")
    if isinstance(extra, dict):
        fields.update({k: v for k, v in extra.items() if isinstance(v, str | int | float | bool)})
    title = record.get("title")
    return ExtractedDocument(
        title=title if isinstance(title, str) else "",
        text=record["text"],
        metadata=clean_metadata({**base, **fields}),
        key=key or str(position),
    )


def _records(items: list[Any], base: dict[str, Any]) -> list[ExtractedDocument]:
    documents = [_record_document(item, i, base) for i, item in enumerate(items, start=1)]
    keys = [document.key for document in documents]
    duplicates = sorted({k for k in keys if keys.count(k) > 1}, key=str)
    if duplicates:
        raise ValidationError(f"duplicate record ids: {', '.join(map(str, duplicates[:5]))}")
    return documents


def _encoding(decoded: DecodedText) -> dict[str, Any]:
    return {"encoding": decoded.encoding, "encoding_note": decoded.note}


def extract_json(data: bytes, _name: str) -> list[ExtractedDocument]:
    decoded = decode_text(data)
    try:
        value = json.loads(decoded.text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    base = _encoding(decoded)
    if _is_record(value):
        return _records([value], base)
    if isinstance(value, list) and value and all(_is_record(item) for item in value):
        return _records(value, base)
    return [ExtractedDocument("", "\n".join(_flatten(value)), clean_metadata(base))]


def extract_jsonl(data: bytes, _name: str) -> list[ExtractedDocument]:
    """One document per non-blank line; every line must be a JSON object with ``text``."""
    decoded = decode_text(data)
    items: list[Any] = []
    for number, line in enumerate(decoded.text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"line {number}: invalid JSON ({exc.msg})") from exc
        if not _is_record(item):
            raise ValidationError(f'line {number}: expected an object with a "text" field')
        items.append(item)
    return _records(items, _encoding(decoded))


def extract_csv(data: bytes, _name: str) -> list[ExtractedDocument]:
    """A CSV with a ``text`` column is one document per row; any other is one document."""
    decoded = decode_text(data)
    dialect: Any = csv.excel
    with contextlib.suppress(csv.Error):  # not enough text to tell: plain comma-separated
        dialect = csv.Sniffer().sniff(decoded.text[:4096], delimiters=",;\t|")
    try:
        rows = list(csv.DictReader(io.StringIO(decoded.text), dialect=dialect))
    except csv.Error as exc:
        raise ValidationError(f"invalid CSV ({exc})") from exc
    base = _encoding(decoded)
    if rows and "text" in rows[0]:
        records = [{k: v for k, v in row.items() if k} for row in rows]
        return _records([r for r in records if isinstance(r.get("text"), str)], base)
    lines = [
        " | ".join(f"{k}: {v}" for k, v in row.items() if k and v not in (None, "")) for row in rows
    ]
    return [ExtractedDocument("", "\n".join(line for line in lines if line), clean_metadata(base))]
