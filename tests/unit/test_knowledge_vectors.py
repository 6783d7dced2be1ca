import sqlite3
from pathlib import Path

import pytest

from smolit.knowledge import vectors
from smolit.knowledge.records import PreparedDocument
from smolit.knowledge.store import KnowledgeStore
from smolit.knowledge.vectors import index_kind
from smolit.testing import LookupEncoder

ENCODER = LookupEncoder(dimension=16)


def save(store: KnowledgeStore, source: str, text: str, collection: str = "docs") -> str:
    document = PreparedDocument(collection, source, source, source + text, [text])
    record, _ = store.save_document(document, ENCODER.encode([text]))
    return record.id


def nearest(store: KnowledgeStore, text: str, limit: int = 5) -> list[str]:
    ranking = store.dense_search("docs", ENCODER.encode([text])[0], limit)
    return [hit.source for hit in store.hits(ranking)]


@pytest.fixture
def store(tmp_path: Path) -> KnowledgeStore:
    store = KnowledgeStore(tmp_path / "knowledge.db")
    for source, text in {"a": "apples pears", "b": "trains buses", "c": "cats dogs"}.items():
        save(store, source, text)
    return store


def test_search_writes_the_index_beside_the_database(store: KnowledgeStore, tmp_path: Path) -> None:
    nearest(store, "apples")
    assert (tmp_path / "indexes" / "docs.faiss").is_file()
    assert not [p for p in (tmp_path / "indexes").iterdir() if p.name.startswith(".")]


def test_reopened_store_searches_with_the_saved_index(
    store: KnowledgeStore, tmp_path: Path
) -> None:
    before = nearest(store, "buses")
    store.close()
    assert nearest(KnowledgeStore(tmp_path / "knowledge.db"), "buses") == before


def test_corrupt_index_file_is_rebuilt(store: KnowledgeStore, tmp_path: Path) -> None:
    nearest(store, "apples")
    store.close()
    (tmp_path / "indexes" / "docs.faiss").write_bytes(b"not an index")
    assert nearest(KnowledgeStore(tmp_path / "knowledge.db"), "trains buses")[0] == "b"


def test_missing_index_file_is_rebuilt(store: KnowledgeStore, tmp_path: Path) -> None:
    nearest(store, "apples")
    store.close()
    (tmp_path / "indexes" / "docs.faiss").unlink()
    assert nearest(KnowledgeStore(tmp_path / "knowledge.db"), "cats dogs")[0] == "c"


def test_index_catches_up_with_writes_made_while_it_was_closed(
    store: KnowledgeStore, tmp_path: Path
) -> None:
    nearest(store, "apples")
    store.close()
    store = KnowledgeStore(tmp_path / "knowledge.db")
    save(store, "d", "rockets planets")
    assert nearest(store, "rockets planets")[0] == "d"


def test_index_sees_chunks_deleted_by_another_connection(
    store: KnowledgeStore, tmp_path: Path
) -> None:
    nearest(store, "apples")
    with sqlite3.connect(tmp_path / "knowledge.db") as other:
        other.execute("DELETE FROM chunks WHERE text = 'apples pears'")
    assert "a" not in nearest(store, "apples pears")


def test_index_of_another_database_is_not_used(tmp_path: Path) -> None:
    first = KnowledgeStore(tmp_path / "knowledge.db")
    save(first, "a", "apples pears")
    nearest(first, "apples")
    first.close()
    (tmp_path / "knowledge.db").unlink()
    second = KnowledgeStore(tmp_path / "knowledge.db")  # same chunk id 1, other text
    save(second, "z", "volcano lava")
    ranking = second.dense_search("docs", ENCODER.encode(["volcano lava"])[0], 1)
    assert ranking[0][1] == pytest.approx(1.0, abs=1e-5)


def test_filtered_search_returns_only_allowed_chunks(store: KnowledgeStore) -> None:
    allowed = store.filtered_chunks("docs", {"source": "c"})
    ranking = store.vectors.search("docs", ENCODER.encode(["apples"])[0], 5, among=allowed)
    assert [chunk_id for chunk_id, _ in ranking] == sorted(allowed)


def test_large_collections_get_an_hnsw_index_that_masks_removed_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vectors, "EXACT_MAX_VECTORS", 4)
    monkeypatch.setattr(vectors, "HNSW_MAX_MASKED", 0.5)
    store = KnowledgeStore(tmp_path / "knowledge.db")
    ids = {n: save(store, f"s{n}", f"word{n} shared") for n in range(8)}
    assert nearest(store, "word3 shared", 1) == ["s3"]
    assert store.vectors._indexes["docs"].kind == "hnsw"  # type: ignore[attr-defined]
    store.remove_document(ids[3])
    assert "s3" not in nearest(store, "word3 shared", 8)
    assert len(nearest(store, "shared", 8)) == 7


def test_index_kind_switches_back_only_below_half_the_threshold() -> None:
    limit = vectors.EXACT_MAX_VECTORS
    assert index_kind(limit) == "flat" and index_kind(limit + 1) == "hnsw"
    assert index_kind(limit - 1, current="hnsw") == "hnsw"
    assert index_kind(limit // 2 - 1, current="hnsw") == "flat"
