"""Sources of a collection: files and directories under allowed roots, synced by change."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from smolit.config import KnowledgeSettings
from smolit.errors import ConflictError, NotFoundError, ValidationError
from smolit.knowledge import KnowledgeManager
from smolit.knowledge.store import KnowledgeStore
from smolit.testing import LookupEncoder
from tests.unit.knowledge_files import make_pdf


def make_manager(tmp_path: Path, **settings: object) -> KnowledgeManager:
    return KnowledgeManager(
        KnowledgeSettings.model_validate({"chunk_words": 32, "chunk_overlap": 4, **settings}),
        tmp_path / "home" / "knowledge",
        lambda: LookupEncoder(),
        allowed_roots=[tmp_path / "allowed"],
    )


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "allowed" / "docs"
    (root / "guides").mkdir(parents=True)
    (root / "guides" / "setup.md").write_text("# Setting up\n\nInstall the package first.\n")
    (root / "notes.txt").write_text("Plain notes about nightly backups.\n")
    (root / "manual.pdf").write_bytes(make_pdf(["Restore a backup from the archive."]))
    return root


@pytest.fixture
def manager(tmp_path: Path) -> KnowledgeManager:
    return make_manager(tmp_path)


def counts(report: object) -> tuple[int, int, int, int]:
    return (report.added, report.updated, report.unchanged, report.removed)  # type: ignore[attr-defined]


def test_directory_source_ingests_its_files_linked_to_the_source(
    manager: KnowledgeManager, docs: Path
) -> None:
    source = manager.add_source("docs", str(docs))
    record, report = manager.sync_source(source.id)
    assert counts(report) == (3, 0, 0, 0) and report.errors == []
    assert (record.kind, record.status, record.documents) == ("directory", "ok", 3)
    assert record.last_report["added"] == 3 and record.sync_finished is not None
    documents = manager.list_documents("docs", source_id=source.id)
    assert {d.metadata["source_id"] for d in documents} == {source.id}
    hit = manager.search_sync("docs", "restore archive", mode="keyword")[0]
    assert hit.source == str(docs / "manual.pdf")


def test_unchanged_files_are_not_read_again(
    manager: KnowledgeManager, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = manager.add_source("docs", str(docs))
    manager.sync_source(source.id)

    def refuse(path: Path) -> bytes:
        raise AssertionError(f"{path} was read although its size and mtime are the same")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    _, report = manager.sync_source(source.id)
    assert counts(report) == (0, 0, 3, 0) and report.errors == []


def test_touched_file_with_same_content_is_unchanged(manager: KnowledgeManager, docs: Path) -> None:
    source = manager.add_source("docs", str(docs))
    manager.sync_source(source.id)
    stat = (docs / "notes.txt").stat()
    os.utime(docs / "notes.txt", ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    _, report = manager.sync_source(source.id)
    assert counts(report) == (0, 0, 3, 0)


def test_resync_adds_updates_and_removes_what_changed(
    manager: KnowledgeManager, docs: Path
) -> None:
    source = manager.add_source("docs", str(docs))
    manager.sync_source(source.id)
    (docs / "notes.txt").write_text("Plain notes about weekly restores, now longer.\n")
    (docs / "guides" / "setup.md").unlink()
    (docs / "new.md").write_text("# New\n\nA brand new page.\n")
    record, report = manager.sync_source(source.id)
    assert counts(report) == (1, 1, 1, 1) and record.documents == 3
    assert manager.search_sync("docs", "install package", mode="keyword") == []


def test_include_and_exclude_patterns_pick_files(manager: KnowledgeManager, docs: Path) -> None:
    source = manager.add_source("docs", str(docs), include=["*.md", "*.txt"], exclude=["guides/*"])
    _, report = manager.sync_source(source.id)
    assert report.added == 1
    assert [d.title for d in manager.list_documents("docs")] == ["notes"]


def test_explicitly_included_unsupported_file_is_an_error(
    manager: KnowledgeManager, docs: Path
) -> None:
    (docs / "data.bin").write_bytes(b"\x00\x01")
    source = manager.add_source("docs", str(docs), include=["*.bin"])
    record, report = manager.sync_source(source.id)
    assert "unsupported file type" in report.errors[0].message and record.status == "error"


def test_single_file_source(manager: KnowledgeManager, docs: Path) -> None:
    source = manager.add_source("docs", str(docs / "notes.txt"))
    record, report = manager.sync_source(source.id)
    assert (source.kind, report.added, record.status) == ("file", 1, "ok")


def test_path_outside_the_allowed_roots_is_refused(
    manager: KnowledgeManager, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with pytest.raises(ValidationError, match=r"knowledge.allowed_roots"):
        manager.add_source("docs", str(outside))
    with pytest.raises(ValidationError, match="outside the allowed roots"):
        manager.add_source("docs", str(tmp_path / "allowed" / ".." / "elsewhere"))


def test_symlink_to_a_file_outside_the_roots_is_a_per_file_error(
    manager: KnowledgeManager, docs: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_text("top secret words")
    (docs / "link.txt").symlink_to(tmp_path / "secret.txt")
    _, report = manager.sync_source(manager.add_source("docs", str(docs)).id)
    assert report.added == 3
    assert [Path(e.path).name for e in report.errors] == ["link.txt"]
    assert manager.search_sync("docs", "secret", mode="keyword") == []


def test_missing_path_and_bad_scheme_are_refused(manager: KnowledgeManager, docs: Path) -> None:
    with pytest.raises(NotFoundError):
        manager.add_source("docs", str(docs / "missing"))
    with pytest.raises(ValidationError, match="scheme"):
        manager.add_source("docs", "ftp://example.org/file.txt")


def test_patterns_apply_to_directories_only(manager: KnowledgeManager, docs: Path) -> None:
    with pytest.raises(ValidationError, match="directory sources only"):
        manager.add_source("docs", str(docs / "notes.txt"), include=["*.txt"])


def test_same_location_twice_is_a_conflict(manager: KnowledgeManager, docs: Path) -> None:
    manager.add_source("docs", str(docs))
    with pytest.raises(ConflictError):
        manager.add_source("docs", str(docs))


def test_removing_a_source_removes_its_documents_only(
    manager: KnowledgeManager, docs: Path
) -> None:
    manager.add_document("docs", "Other", "unrelated backups text", "other.txt")
    source = manager.add_source("docs", str(docs))
    manager.sync_source(source.id)
    assert manager.remove_source(source.id) == 3
    assert manager.sources("docs") == []
    assert [h.source for h in manager.search_sync("docs", "backups", mode="keyword")] == [
        "other.txt"
    ]
    assert [h.source for h in manager.search_sync("docs", "backups", mode="semantic")] == [
        "other.txt"
    ]


def test_bad_files_are_reported_and_the_rest_syncs(manager: KnowledgeManager, docs: Path) -> None:
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (docs / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (docs / "empty.md").write_text("")
    record, report = manager.sync_source(manager.add_source("docs", str(docs)).id)
    assert report.added == 3
    assert {Path(e.path).name for e in report.errors} == {"broken.pdf", "blob.txt", "empty.md"}
    assert record.status == "error" and record.error is not None and "3 document" in record.error


def test_a_file_that_turns_corrupt_keeps_its_stored_document(
    manager: KnowledgeManager, docs: Path
) -> None:
    source = manager.add_source("docs", str(docs))
    manager.sync_source(source.id)
    (docs / "manual.pdf").write_bytes(b"%PDF-1.4 now broken")
    _, report = manager.sync_source(source.id)
    assert report.removed == 0 and len(report.errors) == 1
    assert manager.search_sync("docs", "restore archive", mode="keyword")[0].title == "manual"
    (docs / "manual.pdf").write_bytes(make_pdf(["Restore from tape instead."]))
    _, report = manager.sync_source(source.id)
    assert report.updated == 1 and report.errors == []


def test_file_over_the_size_cap_is_an_error(tmp_path: Path, docs: Path) -> None:
    manager = make_manager(tmp_path, max_file_mb=0.0001)  # 100 bytes
    (docs / "manual.pdf").unlink()
    (docs / "big.txt").write_text("many words " * 20)
    _, report = manager.sync_source(manager.add_source("docs", str(docs)).id)
    assert [Path(e.path).name for e in report.errors] == ["big.txt"]
    assert "knowledge.max_file_mb" in report.errors[0].message


def test_full_knowledge_base_names_the_setting(tmp_path: Path, docs: Path) -> None:
    manager = make_manager(tmp_path, max_documents=2)
    _, report = manager.sync_source(manager.add_source("docs", str(docs)).id)
    assert report.added == 2
    assert "SMOLIT_KNOWLEDGE__MAX_DOCUMENTS" in report.errors[0].message


def test_removed_jsonl_records_remove_their_documents(
    manager: KnowledgeManager, docs: Path
) -> None:
    corpus = docs / "corpus.jsonl"
    rows = [{"_id": "a", "text": "alpha text"}, {"_id": "b", "text": "beta text"}]
    corpus.write_text("\n".join(json.dumps(r) for r in rows))
    source = manager.add_source("docs", str(corpus))
    _, first = manager.sync_source(source.id)
    corpus.write_text(json.dumps(rows[0]))
    _, second = manager.sync_source(source.id)
    assert (first.added, counts(second)) == (2, (0, 0, 1, 1))
    assert [d.source for d in manager.list_documents("docs")] == [f"{corpus}#a"]


def test_missing_directory_at_sync_is_an_error_and_removes_nothing(
    manager: KnowledgeManager, docs: Path
) -> None:
    source = manager.add_source("docs", str(docs / "guides"))
    manager.sync_source(source.id)
    (docs / "guides" / "setup.md").unlink()
    (docs / "guides").rmdir()
    record, _ = manager.sync_source(source.id)
    assert record.status == "error" and "no such file" in (record.error or "")
    assert record.documents == 1


def test_sources_and_their_state_survive_a_restart(tmp_path: Path, docs: Path) -> None:
    manager = make_manager(tmp_path)
    source = manager.add_source("docs", str(docs))
    manager.sync_source(source.id)
    manager.close()
    again = make_manager(tmp_path)
    (record,) = again.sources("docs")
    assert (record.id, record.status, record.documents) == (source.id, "ok", 3)
    assert counts(again.sync_source(source.id)[1]) == (0, 0, 3, 0)


def test_a_sync_left_running_by_a_stopped_process_is_marked_failed(
    tmp_path: Path, docs: Path
) -> None:
    manager = make_manager(tmp_path)
    source = manager.add_source("docs", str(docs))
    manager._sources.mark_started(source.id)
    manager.close()
    record = make_manager(tmp_path).get_source(source.id)
    assert record.status == "error" and "interrupted" in (record.error or "")


def test_an_old_knowledge_base_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "knowledge.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE documents (id TEXT PRIMARY KEY, collection TEXT NOT NULL, "
            "title TEXT NOT NULL, source TEXT NOT NULL, checksum TEXT NOT NULL, "
            "created_at TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT '{}');"
            "INSERT INTO documents VALUES ('d1', 'docs', 'Old', 'old.txt', 'x', "
            "'2024-01-01T00:00:00+00:00', '{}');"
        )
    db.close()
    store = KnowledgeStore(path)
    record = store.get_document("d1")
    assert record is not None and record.source_id is None and record.title == "Old"
    assert store.collections() == ["docs"]
    store.close()
