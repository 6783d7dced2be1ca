"""Decode bytes to text, and read plain text and Markdown.

Decoding tries a byte-order mark (UTF-8, UTF-16, UTF-32), then UTF-8, then the charset
detector (trusted only when it also recognises the language), then Windows-1252 / Latin-1.
Anything other than UTF-8 is noted in the metadata, so a wrongly guessed encoding can be
found and fixed at the source.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any

import charset_normalizer
import yaml

from smolit.errors import ValidationError
from smolit.knowledge.extractors.base import ExtractedDocument, clean_metadata

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: a text with more than this share of control characters is taken for binary data
MAX_CONTROL_SHARE = 0.05
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MARKDOWN_TITLE = re.compile(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n", re.DOTALL)
_FRONT_MATTER_KEYS = {"title", "author", "date", "created", "modified", "language", "tags"}


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str
    note: str | None = None


def _with_bom(data: bytes) -> DecodedText | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return DecodedText(data.decode(encoding), encoding.removesuffix("-sig"))
            except UnicodeDecodeError as exc:
                raise ValidationError(
                    f"not valid {encoding} text although it starts with a byte-order mark "
                    f"({exc.reason} at byte {exc.start})"
                ) from exc
    return None


def _guessed(data: bytes) -> DecodedText:
    match = charset_normalizer.from_bytes(data).best()
    if match is not None and match.language != "Unknown":
        return DecodedText(
            str(match),
            match.encoding,
            f"not UTF-8: decoded as {match.encoding} (detected, {match.language})",
        )
    try:
        return DecodedText(
            data.decode("cp1252"),
            "cp1252",
            "not UTF-8 and no encoding detected: decoded as Windows-1252, "
            "some characters may be wrong",
        )
    except UnicodeDecodeError:
        return DecodedText(
            data.decode("latin-1"),
            "latin-1",
            "not UTF-8 and no encoding detected: decoded as Latin-1, some characters may be wrong",
        )


def decode_text(data: bytes) -> DecodedText:
    """The text in ``data``; ``ValidationError`` for binary data."""
    decoded = _with_bom(data)
    if decoded is None:
        if b"\x00" in data:
            raise ValidationError("binary file, not text")
        try:
            decoded = DecodedText(data.decode("utf-8"), "utf-8")
        except UnicodeDecodeError:
            decoded = _guessed(data)
    if len(_CONTROL.findall(decoded.text)) > MAX_CONTROL_SHARE * max(len(decoded.text), 1):
        raise ValidationError("binary file, not text")
    return decoded


def _encoding_metadata(decoded: DecodedText) -> dict[str, Any]:
    return {"encoding": decoded.encoding, "encoding_note": decoded.note}


def extract_plain(data: bytes, _name: str) -> list[ExtractedDocument]:
    decoded = decode_text(data)
    return [ExtractedDocument("", decoded.text, clean_metadata(_encoding_metadata(decoded)))]


def markdown_title(text: str) -> str | None:
    """The first level-one ``# `` heading of a Markdown text."""
    match = _MARKDOWN_TITLE.search(text)
    return match.group(1).strip() if match else None


def front_matter(text: str) -> tuple[dict[str, Any], str]:
    """A leading ``---`` YAML block's known keys, and the text after it."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}, text
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}, text
    if not isinstance(data, dict):
        return {}, text
    fields = {str(k): v for k, v in data.items() if str(k) in _FRONT_MATTER_KEYS}
    return fields, text[match.end() :]


def extract_markdown(data: bytes, _name: str) -> list[ExtractedDocument]:
    """Markdown: the title is the front matter's ``title`` or else the first ``# `` heading."""
    decoded = decode_text(data)
    fields, body = front_matter(decoded.text)
    title = str(fields.pop("title", "") or "") or markdown_title(body) or ""
    if "date" in fields:
        fields.setdefault("created", fields.pop("date"))
    metadata: dict[str, Any] = {
        key: value if isinstance(value, list) else str(value) for key, value in fields.items()
    }
    metadata.update(_encoding_metadata(decoded))
    return [ExtractedDocument(title, body, clean_metadata(metadata))]
