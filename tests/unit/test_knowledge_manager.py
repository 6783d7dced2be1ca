import asyncio
from pathlib import Path

import pytest
import torch

from smolit.config import KnowledgeSettings
from smolit.errors import ConfigError, KnowledgeError, NotFoundError, ValidationError
from smolit.knowledge import KnowledgeManager, reciprocal_rank_fusion
from smolit.knowledge.records import NewDocument
from smolit.testing import LookupEncoder

DOCUMENTS = {
    "billing.md": "Invoices are sent on the first day of each month. Payment is due in 30 days.",
    "shipping.md": "Parcels leave the warehouse within two days and travel by courier.",
    "returns.md": "Items can be returned within fourteen days for a full refund.",
}


def make_manager(tmp_path: Path, dimension: int = 64, **settings: int) -> KnowledgeManager:
    return KnowledgeManager(
        KnowledgeSettings.model_validate({"chunk_words": 16, "chunk_overlap": 4, **settings}),
        tmp_path / "knowledge",
        lambda: LookupEncoder(dimension=dimension),
    )


@pytest.fixture
def manager(tmp_path: Path) -> KnowledgeManager:
    manager = make_manager(tmp_path)
    for source, text in DOCUMENTS.items():
        manager.add_document("support", source.removesuffix(".md"), text, source)
    return manager


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "semantic"])
def test_search_ranks_the_matching_document_first(manager: KnowledgeManager, mode: str) -> None:
    hits = manager.search_sync("support", "when is the invoice payment due?", mode=mode)  # type: ignore[arg-type]
    assert hits[0].source == "billing.md"


def test_search_returns_top_k_hits_by_default(manager: KnowledgeManager) -> None:
    assert len(manager.search_sync("support", "days")) == 3
    assert len(manager.search_sync("support", "days", top_k=1)) == 1


def test_readding_unchanged_document_returns_the_existing_record(
    manager: KnowledgeManager,
) -> None:
    before = manager.stats("support")
    again = manager.add_document("support", "billing", DOCUMENTS["billing.md"], "billing.md")
    assert again.source == "billing.md" and manager.stats("support") == before


def test_new_content_from_the_same_source_replaces_the_document(
    manager: KnowledgeManager,
) -> None:
    old = manager.search_sync("support", "invoice", top_k=1)[0]
    new = manager.add_document("support", "billing", "Bills now arrive weekly.", "billing.md")
    assert new.id == old.document_id
    assert manager.search_sync("support", "invoice", mode="keyword") == []
    assert manager.stats("support")["documents"] == 3


def test_max_documents_is_enforced_across_collections(tmp_path: Path) -> None:
    manager = make_manager(tmp_path, max_documents=1)
    manager.add_document("one", "a", "first text", "a.txt")
    with pytest.raises(KnowledgeError, match=r"knowledge.max_documents"):
        manager.add_document("two", "b", "second text", "b.txt")


def test_empty_query_is_a_validation_error(manager: KnowledgeManager) -> None:
    with pytest.raises(ValidationError):
        manager.search_sync("support", "  \n")


def test_unknown_mode_is_a_validation_error(manager: KnowledgeManager) -> None:
    with pytest.raises(ValidationError, match="mode"):
        manager.search_sync("support", "x", mode="fuzzy")  # type: ignore[arg-type]


def test_unknown_collection_gives_no_hits(manager: KnowledgeManager) -> None:
    assert manager.search_sync("nothing-here", "invoice") == []


def test_invalid_collection_name_is_a_validation_error(manager: KnowledgeManager) -> None:
    with pytest.raises(ValidationError, match="collection"):
        manager.add_document("Bad Name", "t", "text", "s")


def test_empty_document_is_a_validation_error(manager: KnowledgeManager) -> None:
    with pytest.raises(ValidationError):
        manager.add_document("support", "t", " \n ", "empty.txt")


def test_encoder_is_built_only_when_first_needed(tmp_path: Path) -> None:
    built: list[LookupEncoder] = []

    def provider() -> LookupEncoder:
        built.append(LookupEncoder())
        return built[-1]

    manager = KnowledgeManager(KnowledgeSettings.model_validate({}), tmp_path, provider)
    manager.stats()
    manager.search_sync("docs", "keyword search needs no encoder", mode="keyword")
    assert built == []
    manager.add_document("docs", "t", "some text", "s")
    manager.search_sync("docs", "text", mode="semantic")
    assert len(built) == 1


def test_a_different_encoder_is_refused_for_stored_embeddings(tmp_path: Path) -> None:
    make_manager(tmp_path).add_document("docs", "t", "some text", "s")
    other = make_manager(tmp_path, dimension=32)
    with pytest.raises(KnowledgeError, match="lookup:64"):
        other.search_sync("docs", "text", mode="semantic")


def test_overlap_not_below_chunk_words_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"knowledge.chunk_overlap"):
        make_manager(tmp_path, chunk_overlap=16)


def test_stats_count_documents_and_chunks(manager: KnowledgeManager) -> None:
    manager.add_document("other", "t", "text", "s")
    assert manager.stats("support") == {"documents": 3, "chunks": 3}
    assert manager.stats() == {"documents": 4, "chunks": 4}
    assert manager.collections() == ["other", "support"]


def test_removed_document_is_no_longer_found(manager: KnowledgeManager) -> None:
    doc_id = manager.search_sync("support", "invoice", top_k=1)[0].document_id
    manager.remove_document(doc_id)
    assert all(hit.document_id != doc_id for hit in manager.search_sync("support", "invoice"))
    with pytest.raises(NotFoundError):
        manager.get_document(doc_id)


def test_removing_an_unknown_document_is_not_found(manager: KnowledgeManager) -> None:
    with pytest.raises(NotFoundError):
        manager.remove_document("no-such-id")


def test_search_gives_the_same_hits_as_search_sync(manager: KnowledgeManager) -> None:
    hits = asyncio.run(manager.search("support", "refund", top_k=2))
    assert hits == manager.search_sync("support", "refund", top_k=2)


def test_rank_fusion_favours_items_high_in_both_rankings() -> None:
    fused = reciprocal_rank_fusion([[(1, 9.0), (2, 8.0)], [(2, 0.9), (3, 0.8)]])
    assert [item for item, _ in fused] == [2, 1, 3]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)


def test_search_filters_by_document_metadata(manager: KnowledgeManager) -> None:
    manager.add_document("support", "faq", "Payment is due quickly.", "faq.md", {"lang": "de"})
    hits = manager.search_sync("support", "payment due", top_k=5, filters={"lang": "de"})
    assert [hit.source for hit in hits] == ["faq.md"]


def test_search_filters_by_source_prefix(manager: KnowledgeManager) -> None:
    manager.add_document("support", "faq", "Payment is due quickly.", "faq/pay.md")
    hits = manager.search_sync("support", "payment", top_k=5, filters={"source_prefix": "faq/"})
    assert [hit.source for hit in hits] == ["faq/pay.md"]


def test_hits_carry_highlights_of_the_query_terms(manager: KnowledgeManager) -> None:
    hit = manager.search_sync("support", "refund", top_k=1)[0]
    assert any("**refund**" in fragment for fragment in hit.highlights)


def test_document_search_returns_each_document_once(tmp_path: Path) -> None:
    manager = make_manager(tmp_path)
    long_text = " ".join(["invoice payment terms"] * 20)  # several chunks of 16 words
    manager.add_document("docs", "long", long_text, "long.md")
    manager.add_document("docs", "short", "an invoice", "short.md")
    assert manager.stats("docs")["chunks"] > 2
    hits = manager.search_documents("docs", "invoice payment", top_k=5)
    assert sorted(hit.source for hit in hits) == ["long.md", "short.md"]
    assert hits[0].source == "long.md"


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "semantic"])
def test_document_search_ranks_the_matching_document_first(
    manager: KnowledgeManager, mode: str
) -> None:
    hits = manager.search_documents("support", "invoice payment due", mode=mode)  # type: ignore[arg-type]
    assert hits[0].source == "billing.md"


def test_search_passes_filters_on(manager: KnowledgeManager) -> None:
    hits = asyncio.run(manager.search("support", "days", top_k=5, filters={"source": "returns.md"}))
    assert [hit.source for hit in hits] == ["returns.md"]


class CountingEncoder(LookupEncoder):
    """A ``LookupEncoder`` that records how many texts each ``encode`` call got."""

    def __init__(self) -> None:
        super().__init__(dimension=32)
        self.calls: list[int] = []

    def encode(self, texts: list[str]) -> torch.Tensor:
        self.calls.append(len(texts))
        return super().encode(texts)


def test_add_documents_embeds_a_batch_in_one_call_and_reports_each_document(
    tmp_path: Path,
) -> None:
    encoder = CountingEncoder()
    manager = KnowledgeManager(
        KnowledgeSettings.model_validate({"chunk_words": 16, "chunk_overlap": 4}),
        tmp_path / "knowledge",
        lambda: encoder,
    )
    batch = [
        NewDocument("billing", DOCUMENTS["billing.md"], "billing.md"),
        NewDocument("empty", "   ", "empty.md"),
        NewDocument("shipping", DOCUMENTS["shipping.md"], "shipping.md"),
    ]
    results = manager.add_documents("support", batch)
    assert isinstance(results[1], ValidationError)
    stored = [result for result in results if isinstance(result, tuple)]
    assert [(record.source, outcome) for record, outcome in stored] == [
        ("billing.md", "added"),
        ("shipping.md", "added"),
    ]
    assert len(encoder.calls) == 1 and encoder.calls[0] == manager.stats("support")["chunks"]
    again = manager.add_documents("support", batch)
    assert [r[1] for r in again if isinstance(r, tuple)] == ["unchanged"] * 2
    assert len(encoder.calls) == 1  # nothing unchanged is embedded again


def test_each_document_gets_the_embeddings_of_its_own_chunks(tmp_path: Path) -> None:
    manager = make_manager(tmp_path)
    manager.add_documents(
        "support",
        [
            NewDocument(source.removesuffix(".md"), text, source)
            for source, text in DOCUMENTS.items()
        ],
    )
    for source, text in DOCUMENTS.items():
        hits = manager.search_sync("support", text, top_k=1, mode="semantic")
        assert hits[0].source == source
