"""``LookupEncoder``: a deterministic encoder for tests that know which agent must win."""

from __future__ import annotations

import hashlib
import re

import torch

from smolit.encoding.base import TextEncoder


class LookupEncoder(TextEncoder):
    """Encodes a text as the normalised sum of one fixed random vector per word.

    Texts that share words are close, texts that share none are nearly orthogonal, and the
    same text always gives the same vector. ``table`` pins exact texts to given vectors.
    """

    def __init__(self, dimension: int = 64, table: dict[str, list[float]] | None = None) -> None:
        self.dimension = dimension
        self.encoder_id = f"lookup:{dimension}"
        self._table = {
            text: torch.tensor(vec, dtype=torch.float32) for text, vec in (table or {}).items()
        }
        for text, vec in self._table.items():
            if vec.shape != (dimension,):
                raise ValueError(f"vector for {text!r} must have {dimension} values")

    def _word_vector(self, word: str) -> torch.Tensor:
        seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(self.dimension, generator=generator)

    def _encode_one(self, text: str) -> torch.Tensor:
        if text in self._table:
            vector = self._table[text].clone()
        else:
            words = re.findall(r"[a-z0-9]+", text.lower()) or [""]
            vector = torch.stack([self._word_vector(w) for w in words]).sum(dim=0)
        norm = vector.norm()
        return vector / norm if norm > 0 else vector

    def encode(self, texts: list[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros((0, self.dimension), dtype=torch.float32)
        return torch.stack([self._encode_one(t) for t in texts])
