"""What agents need of the knowledge base and the models, as protocols (the managers
implement them; tests pass doubles)."""

from __future__ import annotations

from typing import Any, Protocol

from smolit.models.base import ChatMessage, GenerationParams, GenerationResult
from smolit.models.catalog import ResolvedModel


class SearchHitLike(Protocol):
    document_id: str
    title: str
    source: str
    text: str
    score: float


class KnowledgeSearch(Protocol):
    async def search(self, collection: str, query: str, top_k: int | None = None) -> list[Any]: ...


class ModelGenerator(Protocol):
    async def generate(
        self,
        model: ResolvedModel | str | None,
        messages: list[ChatMessage],
        params: GenerationParams,
        cache: bool = False,
    ) -> GenerationResult: ...
