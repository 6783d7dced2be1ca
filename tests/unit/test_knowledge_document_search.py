"""Document search: BM25 over whole documents, dense depth counted in documents."""

import sqlite3
from pathlib import Path

import pytest

from smolit.config import KnowledgeSettings
from smolit.knowledge import KnowledgeManager, search
from smolit.knowledge.records import NewDocument
from smolit.testing import LookupEncoder


def make_manager(tmp_path: Path) -> KnowledgeManager:
    return KnowledgeManager(
        KnowledgeSettings.model_validate({"chunk_words": 16, "chunk_overlap": 4}),
        tmp_path / "knowledge",
        lambda: LookupEncoder(dimension=64),
    )


def filler(word: str, count: int) -> str:
    return " ".join(f"{word}{n}" for n in range(count))


def test_keyword_side_scores_the_whole_document_not_its_best_chunk(tmp_path: Path) -> None:
    manager = make_manager(tmp_path)
    # "spread" holds both query terms, but in chunks far apart; "single" holds one of them
    spread = f"zebra {filler('x', 40)} okapi"
    manager.add_document("docs", "spread", spread, "spread.md")
    manager.add_document("docs", "single", "zebra in the grass", "single.md")
    spread_chunks = next(r for r in manager.list_documents("docs") if r.source == "spread.md")
    assert spread_chunks.chunks > 1  # the terms really are in different chunks
    hits = manager.search_documents("docs", "zebra okapi", top_k=2, mode="keyword")
    assert [hit.source for hit in hits] == ["spread.md", "single.md"]


def test_document_index_follows_replacement_and_removal(tmp_path: Path) -> None:
    manager = make_manager(tmp_path)
    record = manager.add_document("docs", "notes", "the quokka smiles", "notes.md")
    assert [h.source for h in manager.search_documents("docs", "quokka", mode="keyword")] == [
        "notes.md"
    ]
    manager.add_document("docs", "notes", "the wombat digs", "notes.md")
    assert manager.search_documents("docs", "quokka", mode="keyword") == []
    assert len(manager.search_documents("docs", "wombat", mode="keyword")) == 1
    manager.remove_document(record.id)
    assert manager.search_documents("docs", "wombat", mode="keyword") == []
    with sqlite3.connect(tmp_path / "knowledge" / "knowledge.db") as db:
        assert db.execute("SELECT COUNT(*) FROM documents_fts").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM document_keys").fetchone() == (0,)


def test_a_knowledge_base_without_the_document_index_gets_it_from_its_chunks(
    tmp_path: Path,
) -> None:
    manager = make_manager(tmp_path)
    manager.add_document("docs", "notes", "the quokka smiles at the camera", "notes.md")
    manager.close()
    with sqlite3.connect(tmp_path / "knowledge" / "knowledge.db") as db:  # an older version
        db.execute("DROP TRIGGER documents_fts_delete")
        db.execute("DROP TABLE documents_fts")
        db.execute("DROP TABLE document_keys")
    reopened = make_manager(tmp_path)
    hits = reopened.search_documents("docs", "quokka camera", mode="keyword")
    assert [hit.source for hit in hits] == ["notes.md"]


def test_filters_apply_to_the_document_index(tmp_path: Path) -> None:
    manager = make_manager(tmp_path)
    manager.add_documents(
        "docs",
        [
            NewDocument("a", "the quokka smiles", "a.md", {"language": "en"}),
            NewDocument("b", "the quokka sleeps", "b.md", {"language": "de"}),
        ],
    )
    hits = manager.search_documents("docs", "quokka", mode="keyword", filters={"language": "de"})
    assert [hit.source for hit in hits] == ["b.md"]


def test_dense_side_reads_on_until_it_has_enough_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "CANDIDATES_PER_RESULT", 1)
    monkeypatch.setattr(search, "MIN_CANDIDATES", 1)
    manager = make_manager(tmp_path)
    # one long document whose every chunk is near the query, crowding the first read
    manager.add_document("docs", "long", " ".join(["lemur tree"] * 80), "long.md")
    for n in range(3):
        manager.add_document("docs", f"short{n}", f"lemur tree number{n}", f"short{n}.md")
    assert manager.stats("docs")["chunks"] > 10
    hits = manager.search_documents("docs", "lemur tree", top_k=3, mode="semantic")
    assert len({hit.source for hit in hits}) == 3


def test_every_document_hit_shows_one_of_its_own_chunks(tmp_path: Path) -> None:
    manager = make_manager(tmp_path)
    manager.add_document("docs", "long", f"capybara {filler('y', 40)}", "long.md")
    manager.add_document("docs", "other", "a capybara swims", "other.md")
    for mode in ("keyword", "semantic", "hybrid"):
        hits = manager.search_documents("docs", "capybara", top_k=5, mode=mode)
        assert hits, mode
        for hit in hits:
            record = manager.get_document(hit.document_id)
            assert record.source == hit.source
        keyword_hit = next(hit for hit in hits if hit.source == "long.md")
        if mode != "semantic":
            assert "capybara" in keyword_hit.text  # its best chunk by BM25, not a later one
