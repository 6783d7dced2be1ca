from pathlib import Path

import pytest

from smolit.config import KnowledgeSettings
from smolit.encoding.sentence import SentenceTransformerEncoder
from smolit.knowledge import KnowledgeManager

pytestmark = pytest.mark.slow

TEXTS = {
    "cat.txt": "The cat dozed on the windowsill, purring in the warm afternoon light.",
    "revenue.txt": "Quarterly revenue grew twelve percent on the strength of cloud sales.",
    "password.txt": "To reset your password, open Settings and choose 'Forgot password'.",
    "volcano.txt": "The volcano erupted overnight and covered the nearby villages in ash.",
}


@pytest.fixture(scope="module")
def encoder() -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder()


@pytest.fixture
def manager(tmp_path: Path, encoder: SentenceTransformerEncoder) -> KnowledgeManager:
    manager = KnowledgeManager(KnowledgeSettings.model_validate({}), tmp_path, lambda: encoder)
    for source, text in TEXTS.items():
        manager.add_document("facts", source.removesuffix(".txt"), text, source)
    return manager


def test_semantic_search_finds_a_paraphrase(manager: KnowledgeManager) -> None:
    hits = manager.search_sync("facts", "my kitten is napping by the window", mode="semantic")
    assert hits[0].source == "cat.txt"


def test_hybrid_search_finds_a_paraphrase(manager: KnowledgeManager) -> None:
    hits = manager.search_sync("facts", "I can't log in to my account any more", mode="hybrid")
    assert hits[0].source == "password.txt"


def test_semantic_scores_are_cosines_best_first(manager: KnowledgeManager) -> None:
    scores = [h.score for h in manager.search_sync("facts", "lava and eruptions", mode="semantic")]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1.0 + 1e-5
