from pathlib import Path

import pytest

from smolit.config import KnowledgeSettings
from smolit.errors import NotFoundError, ValidationError
from smolit.knowledge import KnowledgeManager
from smolit.testing import LookupEncoder


@pytest.fixture
def manager(tmp_path: Path) -> KnowledgeManager:
    return KnowledgeManager(
        KnowledgeSettings.model_validate({"chunk_words": 32, "chunk_overlap": 4}),
        tmp_path / "knowledge",
        lambda: LookupEncoder(),
    )


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "guides").mkdir(parents=True)
    (root / "guides" / "setup.md").write_text("Intro line\n\n# Setting up\n\nInstall it.\n")
    (root / "notes.txt").write_text("Plain notes about backups.\n")
    return root


def test_directory_ingest_adds_text_and_markdown_files(
    manager: KnowledgeManager, docs: Path
) -> None:
    report = manager.ingest_path("docs", docs, root=docs)
    assert (report.added, report.errors) == (2, [])
    assert {h.source for h in manager.search_sync("docs", "install backups")} == {
        "guides/setup.md",
        "notes.txt",
    }


def test_markdown_title_is_its_first_heading(manager: KnowledgeManager, docs: Path) -> None:
    manager.ingest_path("docs", docs / "guides" / "setup.md")
    assert manager.search_sync("docs", "install", top_k=1)[0].title == "Setting up"


def test_text_file_title_is_its_stem(manager: KnowledgeManager, docs: Path) -> None:
    manager.ingest_path("docs", docs / "notes.txt")
    assert manager.search_sync("docs", "backups", top_k=1)[0].title == "notes"


def test_source_without_root_is_the_absolute_path(manager: KnowledgeManager, docs: Path) -> None:
    manager.ingest_path("docs", docs / "notes.txt")
    assert manager.search_sync("docs", "backups")[0].source == str((docs / "notes.txt").absolute())


def test_reingesting_unchanged_files_reports_them_unchanged(
    manager: KnowledgeManager, docs: Path
) -> None:
    manager.ingest_path("docs", docs, root=docs)
    (docs / "notes.txt").write_text("Plain notes about restores.\n")
    report = manager.ingest_path("docs", docs, root=docs)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 1)


def test_bad_files_are_reported_while_good_ones_ingest(
    manager: KnowledgeManager, docs: Path
) -> None:
    (docs / "binary.txt").write_bytes(b"abc\x00def")
    (docs / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (docs / "empty.md").write_text("  \n")
    report = manager.ingest_path("docs", docs, root=docs)
    messages = {Path(e.path).name: e.message for e in report.errors}
    assert report.added == 3
    assert messages.keys() == {"binary.txt", "empty.md"}
    assert "binary" in messages["binary.txt"] and "empty" in messages["empty.md"]
    assert [(Path(w.path).name, "not UTF-8" in w.message) for w in report.warnings] == [
        ("latin1.txt", True)
    ]


def test_unreadable_file_is_reported(
    manager: KnowledgeManager, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (docs / "secret.txt").write_text("hidden")
    read_bytes = Path.read_bytes

    def refuse_secret(path: Path) -> bytes:  # chmod 0 does not stop root, so refuse here
        if path.name == "secret.txt":
            raise PermissionError(13, "Permission denied")
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refuse_secret)
    report = manager.ingest_path("docs", docs)
    assert report.added == 2
    assert [(Path(e.path).name, e.message) for e in report.errors] == [
        ("secret.txt", "cannot read (Permission denied)")
    ]


def test_unsupported_file_given_directly_is_reported(
    manager: KnowledgeManager, tmp_path: Path
) -> None:
    (tmp_path / "data.bin").write_text("a,b\n")
    report = manager.ingest_path("docs", tmp_path / "data.bin")
    assert "unsupported" in report.errors[0].message


def test_other_and_hidden_files_in_a_directory_are_skipped(
    manager: KnowledgeManager, docs: Path
) -> None:
    (docs / "data.bin").write_text("a,b\n")
    (docs / ".git").mkdir()
    (docs / ".git" / "HEAD.txt").write_text("ref")
    report = manager.ingest_path("docs", docs)
    assert (report.added, report.errors) == (2, [])


def test_missing_path_is_not_found(manager: KnowledgeManager, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        manager.ingest_path("docs", tmp_path / "missing")


def test_path_outside_root_is_a_validation_error(manager: KnowledgeManager, docs: Path) -> None:
    with pytest.raises(ValidationError, match="not inside"):
        manager.ingest_path("docs", docs, root=docs / "guides")


def test_symlink_to_a_file_outside_root_keeps_its_path_under_root(
    manager: KnowledgeManager, docs: Path, tmp_path: Path
) -> None:
    (tmp_path / "outside.txt").write_text("linked penguin text")
    (docs / "linked.txt").symlink_to(tmp_path / "outside.txt")
    manager.ingest_path("docs", docs, root=docs)
    assert manager.search_sync("docs", "penguin", top_k=1)[0].source == "linked.txt"


def test_jsonl_records_get_file_and_key_as_source(
    manager: KnowledgeManager, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "d1", "title": "One", "text": "first record"}\n')
    report = manager.ingest_path("docs", corpus, root=tmp_path)
    assert report.added == 1
    assert manager.search_sync("docs", "record")[0].source == "corpus.jsonl#d1"
