"""PDF (pypdf) and Word ``.docx`` (python-docx): text by page or paragraph, and properties.

A corrupt file makes the parser fail in many ways (its own errors, but also ``KeyError``,
``ValueError`` or ``zipfile.BadZipFile`` from deep inside); each becomes one
``ValidationError`` that names the format, so one bad file never stops a batch.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import docx
import pypdf

from smolit.errors import ValidationError
from smolit.knowledge.extractors.base import ExtractedDocument, clean_metadata

logger = logging.getLogger(__name__)


def _pdf_metadata(reader: pypdf.PdfReader) -> tuple[str, dict[str, Any]]:
    info = reader.metadata
    if info is None:
        return "", {}
    fields: dict[str, Any] = {"author": info.author, "subject": info.subject}
    dates = (
        ("created", "creation_date", "/CreationDate"),
        ("modified", "modification_date", "/ModDate"),
    )
    for key, attribute, raw in dates:
        try:
            fields[key] = getattr(info, attribute)
        except ValueError:  # a date pypdf cannot parse: keep the raw text
            fields[key] = str(info.get(raw, ""))
    return str(info.title or ""), fields


def extract_pdf(data: bytes, _name: str) -> list[ExtractedDocument]:
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ValidationError("encrypted PDF: cannot read it without its password")
        pages = [page.extract_text() or "" for page in reader.pages]
        title, fields = _pdf_metadata(reader)
    except ValidationError:
        raise
    except Exception as exc:  # the parser fails in many ways: see the module docstring
        logger.debug("PDF parser failed", exc_info=True)
        raise ValidationError(f"corrupt or unreadable PDF ({exc.__class__.__name__})") from exc
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise ValidationError("the PDF has no extractable text (a scan without a text layer?)")
    fields["pages"] = len(pages)
    return [ExtractedDocument(title, text, clean_metadata(fields))]


def _docx_text(document: Any) -> str:
    parts = [p.text.strip() for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells]
            parts.append(" | ".join(cell for cell in cells if cell))
    return "\n\n".join(part for part in parts if part)


def extract_docx(data: bytes, _name: str) -> list[ExtractedDocument]:
    try:
        document = docx.Document(io.BytesIO(data))
        props = document.core_properties
        title = props.title or ""
        fields: dict[str, Any] = {
            "author": props.author,
            "created": props.created,
            "modified": props.modified,
            "language": props.language,
            "subject": props.subject,
            "keywords": props.keywords,
        }
        text = _docx_text(document)
    except Exception as exc:  # the parser fails in many ways: see the module docstring
        logger.debug("DOCX parser failed", exc_info=True)
        raise ValidationError(f"corrupt or unreadable DOCX ({exc.__class__.__name__})") from exc
    return [ExtractedDocument(title, text, clean_metadata(fields))]
