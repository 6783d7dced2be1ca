"""``StoreEncoder``: the knowledge base's text encoder, built on first use and checked.

A knowledge base remembers which encoder made its embeddings (``meta.encoder_id``); an
encoder other than that one is refused while the base holds chunks, since its vectors
would not be comparable. Built lazily, so a manager that only lists or counts never loads
a model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch

from smolit.encoding.base import TextEncoder
from smolit.errors import KnowledgeError
from smolit.knowledge.document_store import DocumentStore


class StoreEncoder:
    """Encodes texts for ``store`` with the encoder ``provider`` builds (once)."""

    def __init__(self, store: DocumentStore, provider: Callable[[], TextEncoder]) -> None:
        self._store = store
        self._provider = provider
        self._encoder: TextEncoder | None = None
        self._lock = threading.Lock()

    def get(self) -> TextEncoder:
        with self._lock:
            if self._encoder is None:
                encoder = self._provider()
                self._check(encoder)
                self._encoder = encoder
            return self._encoder

    def _check(self, encoder: TextEncoder) -> None:
        """Refuse an encoder other than the one that made the stored embeddings."""
        stored = self._store.get_meta("encoder_id")
        if stored == encoder.encoder_id:
            return
        if stored is not None and self._store.counts()[1] > 0:
            raise KnowledgeError(
                f"the knowledge base {self._store.path} was built with encoder {stored!r}, "
                f"not the configured {encoder.encoder_id!r}: set knowledge.embedding_model "
                "back, or remove the file to rebuild it",
                details={"stored": stored, "configured": encoder.encoder_id},
            )
        self._store.set_meta("encoder_id", encoder.encoder_id)

    def encode(self, texts: list[str]) -> torch.Tensor:
        """One unit vector per text, as rows."""
        vectors = self.get().encode(texts)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise KnowledgeError(
                f"the encoder returned shape {tuple(vectors.shape)} for {len(texts)} texts"
            )
        return vectors
