"""Fine-tuning reports its epoch, the rows it has seen and its loss after every step."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import torch
from torch import nn

from smolit.routing.neural.encoder_net import MiniEncoder
from smolit.routing.neural.head import CosineHead
from smolit.routing.neural.trainer import TrainingConfig, TrainingProgress, _fit


class TinyEncoder(nn.Module):
    """Bag of characters into a linear layer: enough to take optimiser steps."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(26, 8)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        counts = torch.zeros(len(texts), 26)
        for row, text in enumerate(texts):
            for char in text:
                if "a" <= char <= "z":
                    counts[row, ord(char) - ord("a")] += 1
        return {"counts": counts}

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.linear(counts), dim=-1)


def test_every_step_reports_epoch_rows_and_loss() -> None:
    torch.manual_seed(0)
    texts = [f"{word} {i}" for i in range(5) for word in ("weather", "music")]
    targets = torch.tensor([i % 2 for i in range(10)])
    config = TrainingConfig(base_encoder=Path("unused"), epochs=2.0, batch_size=4)
    seen: list[TrainingProgress] = []
    steps = _fit(
        cast(MiniEncoder, TinyEncoder()),
        CosineHead(torch.randn(2, 8)),
        texts,
        targets,
        config,
        seen.append,
    )
    # 10 rows in batches of 4, 4 and 2; two epochs are 20 rows, so 5 steps: the fifth
    # step opens the second epoch's second batch
    assert steps == 5
    assert [p.step for p in seen] == [1, 2, 3, 4, 5]
    assert [p.rows for p in seen] == [4, 8, 10, 14, 18]
    assert [p.epoch for p in seen] == [0.4, 0.8, 1.0, 1.4, 1.8]
    assert all(p.steps == 5 and p.epochs == 2.0 and p.loss > 0 for p in seen)
