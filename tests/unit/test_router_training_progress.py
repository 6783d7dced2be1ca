"""Fine-tuning reports its epoch, the rows it has seen and its loss after every step, and
draws each epoch's batches from every row once, grouped by length."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import cast

import torch
from torch import nn

from smolit.routing.neural.encoder_net import MiniEncoder
from smolit.routing.neural.head import CosineHead
from smolit.routing.neural.trainer import (
    TrainingConfig,
    TrainingProgress,
    _batches,
    _fit,
    _Plan,
    _Rows,
)


class TinyEncoder(nn.Module):
    """One linear layer over per-character "lower states": enough to take optimiser steps."""

    layer_count = 1

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(26, 8)

    def freeze_below(self, layer: int) -> list[nn.Parameter]:
        assert layer == 0
        return list(self.linear.parameters())

    def upper(self, states: list[torch.Tensor], layer: int) -> torch.Tensor:
        pooled = torch.stack([state.sum(0) for state in states])
        return torch.nn.functional.normalize(self.linear(pooled), dim=-1)


def characters(text: str) -> torch.Tensor:
    """One one-hot row per letter of ``text``."""
    letters = [ord(c) - ord("a") for c in text if "a" <= c <= "z"]
    return torch.nn.functional.one_hot(torch.tensor(letters), 26).float()


def test_every_step_reports_epoch_rows_and_loss() -> None:
    torch.manual_seed(0)
    texts = [f"{word} {i}" for i in range(5) for word in ("weather", "music")]
    targets = torch.tensor([i % 2 for i in range(10)])
    config = TrainingConfig(base_encoder=Path("unused"), epochs=2.0, batch_size=4, tuned_layers=1)
    rows = _Rows(texts, [str(int(t)) for t in targets], [characters(t) for t in texts])
    seen: list[TrainingProgress] = []
    plan = _Plan(config, seen.append, steps=5)
    steps = _fit(
        cast(MiniEncoder, TinyEncoder()),
        CosineHead(torch.randn(2, 8)),
        rows,
        targets,
        plan,
        "fold 1/2",
    )
    # 10 rows in batches of 4, 4 and 2 (in some order); two epochs are 20 rows, so 5 steps
    assert steps == 5
    assert [p.step for p in seen] == [1, 2, 3, 4, 5]
    sizes = [seen[0].rows] + [b.rows - a.rows for a, b in itertools.pairwise(seen)]
    assert sorted(sizes[:3]) == [2, 4, 4]  # the first epoch saw every row once
    assert seen[2].rows == 10 and seen[2].epoch == 1.0
    assert [p.epoch for p in seen] == [p.rows / 10 for p in seen]
    assert all(p.steps == 5 and p.epochs == 2.0 and p.loss > 0 for p in seen)
    assert all(p.phase == "fold 1/2" for p in seen)


def test_batches_cover_every_row_once_and_group_rows_of_similar_length() -> None:
    lengths = [(i * 7) % 23 + 1 for i in range(200)]
    batches = _batches(lengths, 8, torch.Generator().manual_seed(3))
    assert sorted(i for batch in batches for i in batch) == list(range(200))
    # within a batch lengths are close: a window of 50 batches holds every row here
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches]
    assert max(spread) <= 1
    # and the batch order is not sorted by length
    firsts = [lengths[b[0]] for b in batches]
    assert firsts != sorted(firsts)
