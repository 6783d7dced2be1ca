import sqlite3
import threading
from pathlib import Path

import pytest
import torch

from smolit.errors import KnowledgeError
from smolit.knowledge.store import KnowledgeStore, fts_query
from smolit.testing import LookupEncoder

ENCODER = LookupEncoder(dimension=32)


def save(
    store: KnowledgeStore,
    source: str,
    text: str,
    collection: str = "docs",
    max_documents: int | None = None,
) -> str:
    record, _ = store.save_document(
        collection=collection,
        title=source,
        source=source,
        checksum=source + text,
        metadata={},
        chunks=[text],
        embeddings=ENCODER.encode([text]),
        max_documents=max_documents,
    )
    return record.id


@pytest.fixture
def store(tmp_path: Path) -> KnowledgeStore:
    return KnowledgeStore(tmp_path / "knowledge.db")


@pytest.mark.parametrize(
    "query",
    ['"unbalanced', "star*", "NEAR(cats dogs)", "cats)", "AND", "cats AND", "-cats", "a:b ^c {d}"],
)
def test_keyword_search_survives_fts_syntax_characters(store: KnowledgeStore, query: str) -> None:
    save(store, "a", "cats and dogs near the star")
    assert isinstance(store.keyword_search("docs", query, 5), list)


def test_query_of_only_punctuation_finds_nothing(store: KnowledgeStore) -> None:
    save(store, "a", "cats and dogs")
    assert store.keyword_search("docs", '"*()-', 5) == []


def test_fts_query_quotes_terms_and_ors_them() -> None:
    assert fts_query('Cats NEAR "dogs"*') == '"cats" OR "near" OR "dogs"'


def test_keyword_search_matches_word_stems(store: KnowledgeStore) -> None:
    save(store, "a", "the runner was running")
    assert len(store.keyword_search("docs", "runs", 5)) == 1


def test_keyword_search_stays_in_its_collection(store: KnowledgeStore) -> None:
    save(store, "a", "invoice payment", collection="billing")
    save(store, "b", "invoice template", collection="docs")
    hits = store.hits(store.keyword_search("docs", "invoice", 5))
    assert [h.source for h in hits] == ["b"]


def test_database_runs_in_wal_mode(tmp_path: Path) -> None:
    KnowledgeStore(tmp_path / "k.db").close()
    with sqlite3.connect(tmp_path / "k.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_file_that_is_not_a_database_is_a_knowledge_error(tmp_path: Path) -> None:
    (tmp_path / "k.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(KnowledgeError, match="cannot open"):
        KnowledgeStore(tmp_path / "k.db")


def test_reopened_store_keeps_documents_and_index(tmp_path: Path) -> None:
    first = KnowledgeStore(tmp_path / "k.db")
    doc_id = save(first, "a", "persistent kangaroo facts")
    first.close()
    second = KnowledgeStore(tmp_path / "k.db")
    assert second.get_document(doc_id) is not None
    assert [h.document_id for h in second.hits(second.keyword_search("docs", "kangaroo", 3))] == [
        doc_id
    ]


def test_dense_search_ranks_the_nearest_embedding_first(store: KnowledgeStore) -> None:
    save(store, "a", "apples and pears")
    target = save(store, "b", "trains and buses")
    ranking = store.dense_search("docs", ENCODER.encode(["buses and trains"])[0], 2)
    assert store.hits(ranking)[0].document_id == target
    assert ranking[0][1] == pytest.approx(1.0, abs=1e-5)


def test_dense_search_sees_documents_added_after_a_search(store: KnowledgeStore) -> None:
    save(store, "a", "apples and pears")
    store.dense_search("docs", ENCODER.encode(["x"])[0], 5)
    save(store, "b", "trains and buses")
    assert len(store.dense_search("docs", ENCODER.encode(["x"])[0], 5)) == 2


def test_dense_search_refuses_a_vector_of_another_size(store: KnowledgeStore) -> None:
    save(store, "a", "apples")
    with pytest.raises(KnowledgeError, match="32-dimensional"):
        store.dense_search("docs", torch.ones(8), 5)


def test_replacing_a_document_drops_its_old_chunks_from_the_index(store: KnowledgeStore) -> None:
    save(store, "a", "old walrus text")
    save(store, "a", "new penguin text")
    assert store.keyword_search("docs", "walrus", 5) == []
    assert store.counts("docs") == (1, 1)


def test_removed_document_is_gone_from_both_searches(store: KnowledgeStore) -> None:
    doc_id = save(store, "a", "walrus")
    assert store.remove_document(doc_id)
    assert store.keyword_search("docs", "walrus", 5) == []
    assert store.dense_search("docs", ENCODER.encode(["walrus"])[0], 5) == []


def test_limit_refuses_a_new_document_but_not_a_replacement(store: KnowledgeStore) -> None:
    save(store, "a", "one")
    save(store, "a", "two", max_documents=1)
    with pytest.raises(KnowledgeError, match="knowledge.max_documents"):
        save(store, "b", "three", max_documents=1)


def test_store_serves_other_threads(store: KnowledgeStore) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            save(store, f"s{n}", f"thread number {n}")
            store.keyword_search("docs", "thread", 5)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and store.counts() == (8, 8)


def test_closed_store_raises_knowledge_error(store: KnowledgeStore) -> None:
    store.close()
    with pytest.raises(KnowledgeError, match="closed"):
        store.collections()
