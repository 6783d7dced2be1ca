"""``SourceSync``: bring a collection's documents in step with one of its sources.

One sync is: mark the source running, find what changed (a file whose size and
modification time are unchanged is not read; a read file or fetched URL whose sha256
matches the last sync is not processed; a URL the server answers 304 is not downloaded),
extract and store the changed documents, remove the documents of files or records that
are gone, and record the status and counts. A file that fails is reported and keeps its
stored documents; the rest of the source still syncs.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from smolit.errors import KnowledgeError, NotFoundError, SmolitError, ValidationError
from smolit.knowledge.extraction import ExtractedDocument, document_source, extract
from smolit.knowledge.records import (
    DocumentRecord,
    IngestError,
    IngestReport,
    NewDocument,
    SourceItem,
    SourceRecord,
    SyncStatus,
)
from smolit.knowledge.source_store import SourceStore
from smolit.knowledge.sources import check_allowed, fetch, list_files
from smolit.knowledge.store import KnowledgeStore
from smolit.security.egress import EgressPolicy
from smolit.units import MB

logger = logging.getLogger(__name__)


class AddDocuments(Protocol):
    """Stores documents (``KnowledgeManager.add_documents``): one result per document,
    (record, "added" | "updated" | "unchanged") or the error that refused it."""

    def __call__(
        self,
        collection: str,
        documents: Sequence[NewDocument],
        *,
        source_id: str | None = None,
        origin: str | None = None,
    ) -> Sequence[tuple[DocumentRecord, str] | SmolitError]: ...


@dataclass(frozen=True)
class SyncLimits:
    allowed_roots: Sequence[Path]
    max_file_bytes: int
    fetch_timeout: float
    egress: EgressPolicy


class SourceSync:
    """Syncs sources into ``store`` through ``add`` (which chunks, embeds and saves)."""

    def __init__(
        self, store: KnowledgeStore, sources: SourceStore, add: AddDocuments, limits: SyncLimits
    ) -> None:
        self._store = store
        self._sources = sources
        self._add = add
        self._limits = limits

    def run(self, source: SourceRecord) -> IngestReport:
        """Sync ``source`` and record how it went; failures end up in the record."""
        self._sources.mark_started(source.id)
        report = IngestReport()
        error: str | None = None
        try:
            if source.kind == "url":
                self._sync_url(source, report)
            else:
                self._sync_files(source, report)
        except SmolitError as exc:
            error = exc.message
        except Exception as exc:  # recorded, so that one broken source never stops the rest
            logger.exception("sync of source %s failed", source.id)
            error = f"unexpected error: {exc.__class__.__name__}: {exc}"
        if error is None and report.errors:
            error = f"{len(report.errors)} document(s) failed; see the report"
        status: SyncStatus = "ok" if error is None else "error"
        self._sources.mark_finished(source.id, status, error, report.to_dict())
        logger.info(
            "synced source %s (%s) into %r: %s; %d added, %d updated, %d unchanged, "
            "%d removed, %d errors",
            source.id,
            source.location,
            source.collection,
            status,
            report.added,
            report.updated,
            report.unchanged,
            report.removed,
            len(report.errors),
        )
        return report

    # --- files and directories ---------------------------------------------------------------

    def _sync_files(self, source: SourceRecord, report: IngestReport) -> None:
        location = Path(source.location)
        check_allowed(location, self._limits.allowed_roots)
        if not location.exists():
            raise NotFoundError(f"{location}: no such file or directory (nothing was removed)")
        if source.kind == "file":
            files = [(source.location, location)]
        else:
            files = list_files(location, source.include, source.exclude)
        known = self._store.source_documents(source.id)
        items = self._sources.items(source.id)
        for item, path in files:
            try:
                self._sync_file(source, item, path, items.get(item), known.get(item, {}), report)
            except (ValidationError, KnowledgeError) as exc:
                report.errors.append(IngestError(path=str(path), message=exc.message))
        present = {item for item, _ in files}
        for gone in (set(items) | set(known)) - present:
            self._remove_item(source.id, gone, known.get(gone, {}), report)

    def _sync_file(
        self,
        source: SourceRecord,
        item: str,
        path: Path,
        previous: SourceItem | None,
        stored: dict[str, str],
        report: IngestReport,
    ) -> None:
        check_allowed(path, self._limits.allowed_roots)
        stat = path.stat()
        if (
            previous
            and stored
            and (previous.size, previous.mtime_ns)
            == (
                stat.st_size,
                stat.st_mtime_ns,
            )
        ):
            report.unchanged += len(stored)
            return
        if stat.st_size > self._limits.max_file_bytes:
            raise _too_large(stat.st_size, self._limits.max_file_bytes)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValidationError(f"cannot read ({exc.strerror or exc})") from exc
        state = SourceItem(item, _sha256(data), stat.st_size, stat.st_mtime_ns)
        if previous and stored and previous.checksum == state.checksum:
            self._sources.save_item(source.id, state)
            report.unchanged += len(stored)
            return
        modified = datetime.fromtimestamp(stat.st_mtime, UTC)
        documents = extract(data, path.name, str(path), modified=modified)
        if self._store_documents(source, item, str(path), documents, stored, report):
            self._sources.save_item(source.id, state)

    # --- URLs --------------------------------------------------------------------------------

    def _sync_url(self, source: SourceRecord, report: IngestReport) -> None:
        url = source.location
        stored = self._store.source_documents(source.id).get(url, {})
        previous = self._sources.items(source.id).get(url) if stored else None
        limits = self._limits
        fetched = fetch(url, previous, limits.fetch_timeout, limits.max_file_bytes, limits.egress)
        if fetched is None:
            report.unchanged += len(stored)
            return
        state = SourceItem(
            url, _sha256(fetched.data), len(fetched.data), None, fetched.etag, fetched.last_modified
        )
        if previous and previous.checksum == state.checksum:
            self._sources.save_item(source.id, state)
            report.unchanged += len(stored)
            return
        try:
            documents = extract(
                fetched.data, fetched.name, url, suffix=fetched.suffix, modified=fetched.modified
            )
        except ValidationError as exc:
            report.errors.append(IngestError(path=url, message=exc.message))
            return
        if self._store_documents(source, url, url, documents, stored, report):
            self._sources.save_item(source.id, state)

    # --- storing -------------------------------------------------------------------------------

    def _store_documents(
        self,
        source: SourceRecord,
        item: str,
        base: str,
        documents: list[ExtractedDocument],
        stored: dict[str, str],
        report: IngestReport,
    ) -> bool:
        """Store the documents of one item, drop its stored ones that are gone; True if all
        went in (else the item is synced again next time)."""
        batch = [
            NewDocument(
                document.title,
                document.text,
                document_source(base, document.key),
                {**document.metadata, "source_id": source.id},
            )
            for document in documents
        ]
        kept = {new.source for new in batch}
        results = self._add(source.collection, batch, source_id=source.id, origin=item)
        failed = False
        for document, new, result in zip(documents, batch, results, strict=True):
            if isinstance(result, SmolitError):
                report.errors.append(IngestError(path=new.source, message=result.message))
                failed = True
                continue
            outcome = result[1]
            report.count(outcome)
            note = document.metadata.get("encoding_note")
            if note and outcome != "unchanged":
                report.warnings.append(IngestError(path=new.source, message=str(note)))
        for where, document_id in stored.items():
            if where not in kept:
                self._store.remove_document(document_id)
                report.removed += 1
        return not failed

    def _remove_item(
        self, source_id: str, item: str, stored: dict[str, str], report: IngestReport
    ) -> None:
        for document_id in stored.values():
            self._store.remove_document(document_id)
            report.removed += 1
        self._sources.delete_item(source_id, item)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _too_large(size: int, limit: int) -> ValidationError:
    return ValidationError(
        f"file too large ({size / MB:.1f} MB, the limit is {limit / MB:g} MB: "
        "raise knowledge.max_file_mb to take it)",
        details={"size": size, "limit": limit},
    )
