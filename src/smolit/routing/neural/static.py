"""``StaticEncoder``: the cheap first stage of the router's cascade.

A sentence vector is the mean of one learned vector per word piece (an ``EmbeddingBag``),
so encoding costs a table look-up instead of a transformer pass. The table starts as the
fine-tuned encoder's output for each word piece on its own and is then trained to agree
with the encoder on whole sentences (distillation) while classifying them (a cosine head),
which takes seconds. The router trusts this stage only where it is sure and passes
everything else to the full encoder (``cascade.py``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from smolit.encoding.base import TextEncoder
from smolit.routing.neural.encoder_net import MiniEncoder
from smolit.routing.neural.head import CosineHead

DISTILLATION_WEIGHT = 10.0


class StaticEncoder(nn.Module, TextEncoder):
    def __init__(self, table: torch.Tensor, tokenizer: Any, max_length: int) -> None:
        nn.Module.__init__(self)
        self.bag = nn.EmbeddingBag(table.shape[0], table.shape[1], mode="mean", sparse=True)
        with torch.no_grad():
            self.bag.weight.copy_(table)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.dimension = int(table.shape[1])
        self.encoder_id = f"static:{table.shape[0]}x{table.shape[1]}"

    @classmethod
    def distilled_from(cls, teacher: MiniEncoder, batch_size: int = 1024) -> StaticEncoder:
        """A table of the teacher's vector for every word piece on its own."""
        tokenizer = teacher.tokenizer
        size = len(tokenizer)
        table = torch.zeros((size, teacher.dimension))
        teacher.eval()
        with torch.inference_mode():
            for start in range(0, size, batch_size):
                ids = torch.arange(start, min(size, start + batch_size))
                count = len(ids)
                batch = torch.stack(
                    [
                        torch.full((count,), tokenizer.cls_token_id),
                        ids,
                        torch.full((count,), tokenizer.sep_token_id),
                    ],
                    dim=1,
                )
                table[ids] = teacher(input_ids=batch, attention_mask=torch.ones_like(batch))
        return cls(table, tokenizer, teacher.max_length)

    def features(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.tokenizer(
            texts, add_special_tokens=False, truncation=True, max_length=self.max_length
        )["input_ids"]
        flat: list[int] = []
        offsets: list[int] = []
        for pieces in ids:
            offsets.append(len(flat))
            flat.extend(pieces or [self.tokenizer.unk_token_id])
        return torch.tensor(flat, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)

    def forward(self, flat: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.bag(flat, offsets), dim=-1)

    def encode(self, texts: list[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros((0, self.dimension))
        with torch.inference_mode():
            vectors: torch.Tensor = self(*self.features(texts))
            return vectors

    def fit(
        self,
        texts: list[str],
        targets: torch.Tensor,
        teacher_vectors: torch.Tensor,
        head: CosineHead,
        epochs: int = 10,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        """Train the table (and ``head``) to classify ``texts`` and to match the teacher."""
        table_optimizer = torch.optim.SparseAdam(list(self.bag.parameters()), lr=3e-3)
        head_optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
        generator = torch.Generator().manual_seed(seed)
        features = [self.features([text]) for text in texts]
        self.train()
        for _ in range(epochs):
            order = torch.randperm(len(texts), generator=generator)
            for start in range(0, len(texts), batch_size):
                index = order[start : start + batch_size].tolist()
                flat = torch.cat([features[i][0] for i in index])
                lengths = torch.tensor([len(features[i][0]) for i in index])
                offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)[:-1]])
                z = self(flat, offsets)
                distillation = (1 - (z * teacher_vectors[index]).sum(-1)).mean()
                loss = F.cross_entropy(head(z), targets[index]) + DISTILLATION_WEIGHT * distillation
                table_optimizer.zero_grad()
                head_optimizer.zero_grad()
                loss.backward()
                table_optimizer.step()
                head_optimizer.step()
        self.eval()

    def save_table(self) -> torch.Tensor:
        return self.bag.weight.detach().to(torch.float16)
