"""``CosineHead``: scaled cosine similarity between task vectors and skill prototypes."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class CosineHead(nn.Module):
    """Logits ``scale * cos(z, w_k)`` for each skill k; the scale is learned."""

    def __init__(self, prototypes: torch.Tensor, scale: float = 20.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(F.normalize(prototypes.clone(), dim=-1))
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))

    @property
    def scale(self) -> float:
        return float(self.log_scale.detach().exp())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.log_scale.exp() * z @ F.normalize(self.weight, dim=-1).T
