"""``MiniEncoder``: the first layers of a BERT-style sentence encoder, mean-pooled.

The router fine-tunes its own copy of the encoder (all-MiniLM-L6-v2 by default), keeping
its first ``layers`` transformer layers (all six by default). Training may freeze the
embeddings and the lowest layers: their output for each training text is then computed
once (``lower_states``) and only the layers above run in every step (``upper``), which
makes a training step several times cheaper than a pass through the whole encoder.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from smolit.encoding.base import TextEncoder
from smolit.encoding.loading import quiet_loading
from smolit.errors import ModelError


class MiniEncoder(nn.Module, TextEncoder):
    def __init__(self, model: Any, tokenizer: Any, max_length: int) -> None:
        nn.Module.__init__(self)
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.encoder_id = f"mini:{model.config.num_hidden_layers}:{max_length}"
        self.dimension = int(model.config.hidden_size)

    @classmethod
    def from_pretrained(cls, path: Path, layers: int, max_length: int) -> MiniEncoder:
        from transformers import AutoModel, AutoTokenizer

        try:
            with quiet_loading():
                tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                # safetensors only: a pickled pytorch_model.bin is never read
                model = AutoModel.from_pretrained(
                    str(path), local_files_only=True, use_safetensors=True
                )
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the router encoder from {path}: {exc}") from exc
        total = len(model.encoder.layer)
        if not 1 <= layers <= total:
            raise ModelError(f"the encoder at {path} has {total} layers; asked for {layers}")
        model.encoder.layer = model.encoder.layer[:layers]
        model.config.num_hidden_layers = layers
        return cls(model, tokenizer, max_length)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return _mean_pooled(hidden, attention_mask)

    @property
    def layer_count(self) -> int:
        return len(self.model.encoder.layer)

    def freeze_below(self, layer: int) -> list[nn.Parameter]:
        """Freeze the embeddings and the layers below ``layer``; returns the rest (the
        parameters training updates)."""
        if not 0 <= layer < self.layer_count:
            raise ModelError(f"cannot tune from layer {layer} of {self.layer_count}")
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        tuned = [p for block in self.model.encoder.layer[layer:] for p in block.parameters()]
        for parameter in tuned:
            parameter.requires_grad_(True)
        return tuned

    def _mask(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        """The attention mask in the form the model's layers take."""
        return self.model._create_attention_masks(
            attention_mask=attention_mask,
            encoder_attention_mask=None,
            embedding_output=hidden,
            encoder_hidden_states=None,
            cache=None,
            position_ids=None,
        )[0]

    def lower_states(
        self, texts: list[str], layer: int, batch_size: int = 256
    ) -> list[torch.Tensor]:
        """Each text's hidden states (tokens, d) after the embeddings and the layers below
        ``layer``, computed once without gradients (inference mode: no dropout)."""
        states: list[torch.Tensor] = [torch.empty(0)] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        was_training = self.training
        self.eval()
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                batch = self.tokenize([texts[i] for i in index])
                hidden = self.model.embeddings(input_ids=batch["input_ids"])
                mask = self._mask(hidden, batch["attention_mask"])
                for block in self.model.encoder.layer[:layer]:
                    hidden = block(hidden, mask)
                lengths = batch["attention_mask"].sum(1).tolist()
                for row, i in enumerate(index):
                    states[i] = hidden[row, : lengths[row]].clone()
        self.train(was_training)
        return states

    def upper(self, states: list[torch.Tensor], layer: int) -> torch.Tensor:
        """Unit vectors from ``lower_states(..., layer)``: the layers from ``layer`` up,
        then mean pooling (with gradients, for training)."""
        width = max(len(s) for s in states)
        hidden = torch.zeros((len(states), width, self.dimension))
        attention = torch.zeros((len(states), width), dtype=torch.long)
        for row, state in enumerate(states):
            hidden[row, : len(state)] = state
            attention[row, : len(state)] = 1
        mask = self._mask(hidden, attention)
        for block in self.model.encoder.layer[layer:]:
            hidden = block(hidden, mask)
        return _mean_pooled(hidden, attention)

    def encode(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        """Unit vectors for ``texts`` without gradients (inference)."""
        if len(texts) == 1:
            with torch.inference_mode():
                vectors: torch.Tensor = self(**self.tokenize(texts))
                return vectors
        # batches of similar length waste no work on padding
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.zeros((len(texts), self.dimension))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                out[index] = self(**self.tokenize([texts[i] for i in index]))
        return out

    def quantized(self) -> MiniEncoder:
        """An int8 copy (dynamic quantisation of the Linear layers) for fast CPU inference."""
        from torch.ao.quantization import quantize_dynamic

        model = quantize_dynamic(copy.deepcopy(self.model).eval(), {nn.Linear}, dtype=torch.qint8)
        return MiniEncoder(model, self.tokenizer, self.max_length).eval()

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        with quiet_loading():
            self.model.save_pretrained(str(directory))
        self.tokenizer.save_pretrained(str(directory))

    @classmethod
    def load(cls, directory: Path, max_length: int) -> MiniEncoder:
        encoder = cls.from_pretrained(
            directory, layers=_layers_in(directory), max_length=max_length
        )
        return encoder.eval()


def _mean_pooled(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
    return F.normalize(pooled, dim=-1)


def _layers_in(directory: Path) -> int:
    import json

    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    return int(config["num_hidden_layers"])
