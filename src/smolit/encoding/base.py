"""``TextEncoder``: turns texts into L2-normalised vectors (one row per text)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch


class TextEncoder(ABC):
    """Encodes texts into a float32 tensor of shape (len(texts), dimension), unit length."""

    #: identifies the encoder and its weights, for caches and checkpoints
    encoder_id: str
    dimension: int
    #: the most tokens of one text the encoder reads, special tokens aside; None: no limit
    max_tokens: int | None = None

    @abstractmethod
    def encode(self, texts: list[str]) -> torch.Tensor:
        """Encode ``texts``; an empty list gives a (0, dimension) tensor."""

    def count_tokens(self, texts: list[str]) -> list[int]:
        """How much of ``max_tokens`` each text takes; without a tokenizer, its words."""
        return [len(text.split()) for text in texts]
