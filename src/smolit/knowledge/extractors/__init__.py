"""One extractor per file format, chosen by file name suffix or, for URLs, MIME type."""

from __future__ import annotations

from smolit.knowledge.extractors.base import ExtractedDocument, Extractor
from smolit.knowledge.extractors.html import extract_html
from smolit.knowledge.extractors.office import extract_docx, extract_pdf
from smolit.knowledge.extractors.structured import extract_csv, extract_json, extract_jsonl
from smolit.knowledge.extractors.text import extract_markdown, extract_plain

#: suffix -> (MIME type, extractor)
FORMATS: dict[str, tuple[str, Extractor]] = {
    ".txt": ("text/plain", extract_plain),
    ".text": ("text/plain", extract_plain),
    ".md": ("text/markdown", extract_markdown),
    ".markdown": ("text/markdown", extract_markdown),
    ".html": ("text/html", extract_html),
    ".htm": ("text/html", extract_html),
    ".pdf": ("application/pdf", extract_pdf),
    ".docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        extract_docx,
    ),
    ".csv": ("text/csv", extract_csv),
    ".json": ("application/json", extract_json),
    ".jsonl": ("application/x-ndjson", extract_jsonl),
    ".ndjson": ("application/x-ndjson", extract_jsonl),
}

#: MIME types servers send -> the suffix whose extractor reads them
_MIME_SUFFIXES: dict[str, str] = {mime: suffix for suffix, (mime, _) in reversed(FORMATS.items())}
_MIME_SUFFIXES.update(
    {
        "application/xhtml+xml": ".html",
        "text/x-markdown": ".md",
        "application/jsonl": ".jsonl",
        "application/json-lines": ".jsonl",
        "application/x-jsonlines": ".jsonl",
    }
)


def suffix_for_mime(content_type: str | None) -> str | None:
    """The suffix for a ``Content-Type`` header value (parameters ignored), if known."""
    if not content_type:
        return None
    return _MIME_SUFFIXES.get(content_type.split(";")[0].strip().lower())


__all__ = [
    "FORMATS",
    "ExtractedDocument",
    "suffix_for_mime",
]
