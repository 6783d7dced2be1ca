"""``Ingester``: documents into a collection, checked, chunked, embedded and stored.

Documents come in as text (``add_documents``), as files below a path (``ingest_path``) or
as an upload (``add_upload``). Each is prepared (checked, chunked for the encoder) into one
``PreparedDocument``; the chunks of up to ``INGEST_BATCH`` documents are embedded in one
call, and each document is stored with its embeddings.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from smolit.config import NAME_PATTERN, KnowledgeSettings
from smolit.errors import KnowledgeError, NotFoundError, SmolitError, ValidationError
from smolit.knowledge.chunking import chunk_for_encoder
from smolit.knowledge.encoding import StoreEncoder
from smolit.knowledge.extraction import ExtractedDocument, extract, is_supported, read_file
from smolit.knowledge.records import (
    DocumentRecord,
    IngestError,
    IngestReport,
    NewDocument,
    PreparedDocument,
)
from smolit.knowledge.store import KnowledgeStore
from smolit.knowledge.uploads import read_upload, safe_file_name, store_upload
from smolit.units import MB

logger = logging.getLogger(__name__)

Outcome = Literal["added", "updated", "unchanged"]
#: what storing one document gives: the record and what happened, or why it was refused
AddResult = tuple[DocumentRecord, Outcome] | SmolitError
#: documents whose chunks are embedded in one call (bounded memory, little padding)
INGEST_BATCH = 64


@dataclass(frozen=True)
class _ToEmbed:
    """A prepared document and the texts its chunks are encoded from."""

    document: PreparedDocument
    inputs: list[str]


def check_collection(collection: str) -> None:
    if not re.fullmatch(NAME_PATTERN, collection):
        raise ValidationError(
            f"invalid collection name {collection!r}: use 1-64 lower-case letters, digits, "
            "'_' or '-', starting with a letter or digit",
            details={"collection": collection},
        )


def _absolute(path: Path) -> Path:
    """``path`` made absolute and normalised, without following symbolic links."""
    return Path(os.path.abspath(path))


def _source_for(file: Path, root: Path | None) -> str:
    if root is None:
        return str(_absolute(file))
    return _absolute(file).relative_to(_absolute(root)).as_posix()


def _files_under(directory: Path) -> list[Path]:
    """Supported files below ``directory``, skipping hidden files and directories."""
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file()
        and is_supported(path)
        and not any(part.startswith(".") for part in path.relative_to(directory).parts)
    )


class Ingester:
    """Stores documents in ``store``; uploads are kept under ``uploads_dir``, sealed
    with ``files_key`` when encryption at rest is on."""

    def __init__(
        self,
        settings: KnowledgeSettings,
        store: KnowledgeStore,
        encoder: StoreEncoder,
        uploads_dir: Path,
        files_key: bytes | None = None,
    ) -> None:
        self.settings = settings
        self._store = store
        self._encoder = encoder
        self.uploads_dir = uploads_dir
        self._files_key = files_key
        self.max_file_bytes = int(settings.max_file_mb * MB)

    def add_documents(
        self,
        collection: str,
        documents: Sequence[NewDocument],
        *,
        source_id: str | None = None,
        origin: str | None = None,
    ) -> list[AddResult]:
        """Store ``documents``, one result per document, in order.

        A document is known by its source within a collection: the same source with the
        same text is left unchanged, with new text it is replaced. The chunks of up to
        ``INGEST_BATCH`` documents are embedded together: the encoder groups texts of
        similar length, so a batch pads less and runs several times faster than one
        document at a time. A document that cannot be stored gets its error as its
        result; the others still go in. ``source_id`` and ``origin`` link every document
        to the source it was synced from.
        """
        check_collection(collection)
        results: list[AddResult] = []
        for start in range(0, len(documents), INGEST_BATCH):
            batch = documents[start : start + INGEST_BATCH]
            results += self._add_batch(collection, batch, source_id, origin)
        return results

    def _add_batch(
        self,
        collection: str,
        documents: Sequence[NewDocument],
        source_id: str | None,
        origin: str | None,
    ) -> list[AddResult]:
        results: list[AddResult | _ToEmbed] = []
        for document in documents:
            try:
                results.append(self._prepare(collection, document, source_id, origin))
            except (ValidationError, KnowledgeError) as exc:
                results.append(exc)
        prepared = [item for item in results if isinstance(item, _ToEmbed)]
        if not prepared:
            return [item for item in results if not isinstance(item, _ToEmbed)]
        try:
            embeddings = self._encoder.encode([text for item in prepared for text in item.inputs])
        except KnowledgeError as exc:
            return [exc if isinstance(item, _ToEmbed) else item for item in results]
        offsets = itertools.accumulate((len(item.inputs) for item in prepared), initial=0)
        rows = itertools.pairwise(offsets)  # each prepared document's rows, in order
        stored: list[AddResult] = []
        for item in results:
            if not isinstance(item, _ToEmbed):
                stored.append(item)
                continue
            begin, end = next(rows)
            try:
                stored.append(self._save(item.document, embeddings[begin:end]))
            except (ValidationError, KnowledgeError) as exc:
                stored.append(exc)
        return stored

    def _prepare(
        self, collection: str, document: NewDocument, source_id: str | None, origin: str | None
    ) -> AddResult | _ToEmbed:
        """The stored record when ``document`` is unchanged, else its chunks to embed."""
        title, source = document.title.strip(), document.source.strip()
        if not title or not source:
            raise ValidationError("a document needs a title and a source")
        checksum = hashlib.sha256(document.text.encode("utf-8")).hexdigest()
        existing = self._store.find_document(collection, source)
        if existing is not None and existing.checksum == checksum:
            return existing, "unchanged"
        settings = self.settings
        encoded = chunk_for_encoder(
            title, document.text, settings.chunk_words, settings.chunk_overlap, self._encoder.get()
        )
        if not encoded.chunks:
            raise ValidationError("the document has no text", details={"source": source})
        if existing is None:  # refuse before encoding; save_document checks again atomically
            self._store.check_capacity(settings.max_documents)
        prepared = PreparedDocument(
            collection,
            title,
            source,
            checksum,
            encoded.chunks,
            document.metadata,
            document.text,
            source_id,
            origin,
        )
        return _ToEmbed(prepared, encoded.inputs)

    def _save(
        self, document: PreparedDocument, embeddings: torch.Tensor
    ) -> tuple[DocumentRecord, Outcome]:
        record, created = self._store.save_document(
            document, embeddings, self.settings.max_documents
        )
        return record, "added" if created else "updated"

    def _ingest(
        self, collection: str, documents: list[ExtractedDocument], report: IngestReport
    ) -> list[tuple[DocumentRecord | None, SmolitError | None]]:
        """Store each document; a failure is reported and the others still go in."""
        batch = [
            NewDocument(
                document.title, document.text, str(document.metadata["source"]), document.metadata
            )
            for document in documents
        ]
        results: list[tuple[DocumentRecord | None, SmolitError | None]] = []
        for document, result in zip(documents, self.add_documents(collection, batch), strict=True):
            where = document.metadata["source"]
            if isinstance(result, SmolitError):
                report.errors.append(IngestError(path=where, message=result.message))
                results.append((None, result))
                continue
            record, outcome = result
            report.count(outcome)
            note = document.metadata.get("encoding_note")
            if note and outcome != "unchanged":
                report.warnings.append(IngestError(path=where, message=str(note)))
            results.append((record, None))
        return results

    def ingest_path(self, collection: str, path: Path, root: Path | None = None) -> IngestReport:
        """Ingest a file, or every file of a supported type below a directory.

        A file's source is its path relative to ``root``, or its absolute path without one
        (plus ``#key`` for each record of a JSON Lines or record file). Files that cannot
        be ingested are listed in the report's errors; the rest go in.
        """
        check_collection(collection)
        if not path.exists():
            raise NotFoundError(f"{path}: no such file or directory", details={"path": str(path)})
        if root is not None and not _absolute(path).is_relative_to(_absolute(root)):
            raise ValidationError(f"{path} is not inside {root}", details={"path": str(path)})
        report = IngestReport()
        for file in _files_under(path) if path.is_dir() else [path]:
            try:
                documents = read_file(file, _source_for(file, root), self.max_file_bytes)
            except ValidationError as exc:
                report.errors.append(IngestError(path=str(file), message=exc.message))
                continue
            self._ingest(collection, documents, report)
        logger.info(
            "ingested %s into %r: %d added, %d updated, %d unchanged, %d errors",
            path,
            collection,
            report.added,
            report.updated,
            report.unchanged,
            len(report.errors),
        )
        return report

    def add_upload(
        self, collection: str, filename: str, data: bytes
    ) -> tuple[list[DocumentRecord], IngestReport]:
        """Keep an uploaded file under ``uploads_dir/<collection>/`` and ingest it.

        A file name with a directory part, a file too large or a file that cannot be read
        raises ``ValidationError`` and nothing is kept. Uploading the same name again
        replaces that upload's documents.
        """
        check_collection(collection)
        name = safe_file_name(filename)
        if len(data) > self.max_file_bytes:
            raise ValidationError(
                f"file too large ({len(data) / MB:.1f} MB, the limit is "
                f"{self.max_file_bytes / MB:g} MB: knowledge.max_file_mb)",
                details={"size": len(data), "limit": self.max_file_bytes},
            )
        path = self.uploads_dir / collection / name
        documents = extract(data, name, str(path))
        store_upload(path, data, self._files_key)
        report = IngestReport()
        results = self._ingest(collection, documents, report)
        stored = [record for record, _ in results if record is not None]
        if not stored:
            first_error = next(error for _, error in results if error is not None)
            raise first_error
        kept = {record.source for record in stored} | {d.metadata["source"] for d in documents}
        for record in self._store.list_documents(collection):
            if record.source.startswith(f"{path}#") and record.source not in kept:
                self._store.remove_document(record.id)
                report.removed += 1
        return stored, report

    def upload(self, collection: str, filename: str) -> bytes:
        """The original of an upload, as it was sent (decrypted when sealed at rest)."""
        check_collection(collection)
        path = self.uploads_dir / collection / safe_file_name(filename)
        if not path.is_file():
            raise NotFoundError(
                f"no upload {filename!r} in collection {collection!r}",
                details={"collection": collection, "filename": filename},
            )
        return read_upload(path, self._files_key)
