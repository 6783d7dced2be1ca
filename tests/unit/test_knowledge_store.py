import sqlite3
import threading
from pathlib import Path

import pytest
import torch

from smolit.errors import KnowledgeError, ValidationError
from smolit.knowledge.fulltext import fts_match, query_terms
from smolit.knowledge.records import PreparedDocument
from smolit.knowledge.store import KnowledgeStore
from smolit.testing import LookupEncoder

ENCODER = LookupEncoder(dimension=32)


def save(
    store: KnowledgeStore,
    source: str,
    text: str,
    collection: str = "docs",
    max_documents: int | None = None,
) -> str:
    document = PreparedDocument(collection, source, source, source + text, [text])
    record, _ = store.save_document(document, ENCODER.encode([text]), max_documents)
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


def test_fts_match_quotes_terms_and_ors_them() -> None:
    assert fts_match(query_terms('Cats NEAR "dogs"*')) == '"cats" OR "near" OR "dogs"'


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
    with pytest.raises(KnowledgeError, match=r"knowledge.max_documents"):
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


def save_titled(store: KnowledgeStore, source: str, title: str, text: str, **metadata: str) -> str:
    document = PreparedDocument("docs", title, source, source + text, [text], metadata)
    record, _ = store.save_document(document, ENCODER.encode([text]))
    return record.id


def test_keyword_search_matches_the_document_title(store: KnowledgeStore) -> None:
    save_titled(store, "a", "Walrus habitats", "they live on sea ice")
    assert [h.source for h in store.hits(store.keyword_search("docs", "walrus", 5))] == ["a"]


def test_title_match_outranks_the_same_word_in_the_text(store: KnowledgeStore) -> None:
    save_titled(store, "text", "Notes", "walrus and other animals of the north")
    save_titled(store, "title", "Walrus", "animals of the north and other notes")
    ranking = store.keyword_search("docs", "walrus", 5)
    assert [h.source for h in store.hits(ranking)] == ["title", "text"]


def test_fts_table_without_a_title_column_is_upgraded_in_place(tmp_path: Path) -> None:
    KnowledgeStore(tmp_path / "k.db").close()
    with sqlite3.connect(tmp_path / "k.db") as db:  # the first release's FTS table
        db.executescript(
            "DROP TRIGGER chunks_fts_insert; DROP TRIGGER chunks_fts_delete;"
            "DROP TRIGGER chunks_fts_title; DROP TABLE chunks_fts;"
            "CREATE VIRTUAL TABLE chunks_fts USING fts5 (text, content = 'chunks', "
            "content_rowid = 'id', tokenize = 'porter unicode61');"
            "INSERT INTO documents (id, collection, title, source, checksum, created_at) "
            "VALUES ('d1', 'docs', 'Penguins', 's', 'c', '2024-01-01T00:00:00+00:00');"
            "INSERT INTO chunks (document_id, collection, position, text, embedding) "
            "VALUES ('d1', 'docs', 0, 'birds that swim', x'00');"
        )
    upgraded = KnowledgeStore(tmp_path / "k.db")
    assert len(upgraded.keyword_search("docs", "penguins swim", 5)) == 1


def test_hits_highlight_the_query_terms_they_contain(store: KnowledgeStore) -> None:
    save(store, "a", "the walrus swims under the ice")
    save(store, "b", "nothing to see here")
    ranking = [(1, 1.0), (2, 0.5)]
    first, second = store.hits(ranking, query="Walrus swimming")
    assert first.highlights == ("the **walrus** **swims** under the ice",)
    assert second.highlights == ()


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"language": "de"}, ["b"]),
        ({"source": "a"}, ["a"]),
        ({"source_prefix": "guides/"}, ["c"]),
        ({"language": "en", "mime_type": "text/markdown"}, ["c"]),
        ({"language": "fr"}, []),
    ],
)
def test_filters_keep_matching_documents_in_both_searches(
    store: KnowledgeStore, filters: dict[str, str], expected: list[str]
) -> None:
    save_titled(store, "a", "A", "shared words", language="en", mime_type="text/plain")
    save_titled(store, "b", "B", "shared words", language="de", mime_type="text/plain")
    save_titled(store, "guides/c", "C", "shared words", language="en", mime_type="text/markdown")
    keyword = store.hits(store.keyword_search("docs", "shared", 5, filters))
    vector = ENCODER.encode(["shared words"])[0]
    dense = store.hits(store.dense_search("docs", vector, 5, filters))
    expected_sources = [s if s != "c" else "guides/c" for s in expected]
    assert sorted(h.source for h in keyword) == expected_sources
    assert sorted(h.source for h in dense) == expected_sources


@pytest.mark.parametrize("key", ["a'b", "x) OR 1=1 --", "", 'quote"key'])
def test_filter_keys_that_could_break_the_sql_are_refused(store: KnowledgeStore, key: str) -> None:
    with pytest.raises(ValidationError, match="filter key"):
        store.keyword_search("docs", "anything", 5, {key: "v"})


def test_terms_in_most_chunks_do_not_change_the_keyword_ranking(store: KnowledgeStore) -> None:
    for n in range(4):
        save(store, f"s{n}", f"the report number {n}" + (" about walrus" if n == 2 else ""))
    with_common = store.keyword_search("docs", "the walrus", 5)
    assert [chunk_id for chunk_id, _ in with_common] == [
        chunk_id for chunk_id, _ in store.keyword_search("docs", "walrus", 5)
    ]


def test_a_query_of_only_common_terms_still_finds_chunks(store: KnowledgeStore) -> None:
    for n in range(3):
        save(store, f"s{n}", f"the report number {n}")
    assert len(store.keyword_search("docs", "the report", 5)) == 3


def test_keyword_search_of_the_only_collection_equals_the_joined_search(
    store: KnowledgeStore,
) -> None:
    for n in range(6):
        save(store, f"s{n}", f"report {n}" + " walrus" * (n % 3))
    alone = [chunk_id for chunk_id, _ in store.keyword_search("docs", "walrus", 5)]
    save(store, "x", "walrus elsewhere", collection="other")  # now the join is needed
    joined = [chunk_id for chunk_id, _ in store.keyword_search("docs", "walrus", 5)]
    assert joined == alone and len(alone) == 4


def test_query_words_in_no_chunk_do_not_displace_the_ones_that_are(
    store: KnowledgeStore,
) -> None:
    save(store, "a", "boil the egg")
    save(store, "b", "bake the bread")
    assert [h.source for h in store.hits(store.keyword_search("docs", "how long egg", 5))] == ["a"]
