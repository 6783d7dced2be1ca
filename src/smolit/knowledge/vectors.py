"""Exact cosine search over a collection's chunk embeddings, held as one float32 tensor.

Embeddings are stored as float32 BLOBs, one per chunk; ``ExactIndex`` is built from those
rows and searched with one matrix-vector product in torch. An ANN index can take its place
behind the same ``search`` method.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from smolit.errors import KnowledgeError


def to_blobs(embeddings: torch.Tensor) -> list[bytes]:
    """One float32 BLOB per row of ``embeddings``."""
    rows = embeddings.detach().to(device="cpu", dtype=torch.float32).contiguous()
    return [row.numpy().tobytes() for row in rows]


@dataclass(frozen=True)
class ExactIndex:
    """Chunk ids and their unit-length embeddings, row for row."""

    ids: torch.Tensor
    matrix: torch.Tensor

    @classmethod
    def from_rows(cls, rows: list[tuple[int, bytes]], name: str) -> ExactIndex:
        """Build from (chunk id, BLOB) rows; ``name`` is the collection, for errors."""
        if len({len(blob) for _, blob in rows}) > 1:
            raise KnowledgeError(
                f"collection {name!r} mixes embeddings of different sizes; "
                "re-ingest it with one encoder",
                details={"collection": name},
            )
        ids = torch.tensor([chunk_id for chunk_id, _ in rows], dtype=torch.int64)
        if not rows:
            return cls(ids, torch.zeros((0, 0), dtype=torch.float32))
        buffer = bytearray(b"".join(blob for _, blob in rows))  # writable: no torch warning
        matrix = torch.frombuffer(buffer, dtype=torch.float32).reshape(len(rows), -1)
        return cls(ids, matrix)

    def __len__(self) -> int:
        return int(self.matrix.shape[0])

    def search(self, vector: torch.Tensor, limit: int, name: str) -> list[tuple[int, float]]:
        """(chunk id, cosine) of the ``limit`` nearest rows to a unit ``vector``, best first."""
        if len(self) == 0 or limit <= 0:
            return []
        if vector.shape != (self.matrix.shape[1],):
            raise KnowledgeError(
                f"query vector has shape {tuple(vector.shape)} but collection {name!r} "
                f"holds {self.matrix.shape[1]}-dimensional embeddings",
                details={"collection": name},
            )
        scores = self.matrix @ vector.detach().to(device="cpu", dtype=torch.float32)
        top = torch.topk(scores, min(limit, len(self)))
        return [
            (int(self.ids[i]), float(score))
            for score, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
        ]
