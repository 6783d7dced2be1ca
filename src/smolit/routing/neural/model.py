"""``RouterModel``: a fine-tuned encoder, one prototype per label, a scale and a threshold.

Saved as a directory: ``encoder/`` (Hugging Face format), ``prototypes.pt`` and
``router.json`` (labels, scale, threshold, metadata). Nothing in it is pickled code.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from smolit.errors import ModelError
from smolit.routing.encoder import TextEncoder
from smolit.routing.neural.encoder_net import MiniEncoder

FORMAT_VERSION = 1
OOS = "oos"


UNTRAINED_SCALE = 20.0


@dataclass
class RouterModel:
    encoder: TextEncoder
    labels: list[str]
    prototypes: torch.Tensor  # (labels, d), unit rows
    scale: float
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def untrained(cls, encoder: TextEncoder, threshold: float) -> RouterModel:
        """A router with no trained labels: agents' own examples are its only prototypes."""
        return cls(
            encoder,
            [],
            torch.zeros((0, encoder.dimension)),
            UNTRAINED_SCALE,
            threshold,
            {"trained": False},
        )

    def _mini(self) -> MiniEncoder:
        if not isinstance(self.encoder, MiniEncoder):
            raise ModelError("only a router with its own fine-tuned encoder can be saved")
        return self.encoder

    @property
    def label_index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    def encode(self, texts: list[str]) -> torch.Tensor:
        return self.encoder.encode(texts)

    def score_texts(self, texts: list[str]) -> torch.Tensor:
        """Cosine of each text with each label prototype, shape (texts, labels)."""
        return self.encode(texts) @ self.prototypes.T

    def predict(self, texts: list[str]) -> tuple[list[str], torch.Tensor]:
        """Best label per text (``oos`` below the threshold) and its confidence."""
        best, index = self.score_texts(texts).max(dim=1)
        labels = [
            self.labels[int(i)] if float(c) >= self.threshold else OOS
            for c, i in zip(best, index, strict=True)
        ]
        return labels, best

    def quantized(self) -> RouterModel:
        """A copy with an int8 encoder for fast CPU inference."""
        with warnings.catch_warnings():
            # torch 2.13 flags eager dynamic quantisation as moving to torchao; it still works
            warnings.simplefilter("ignore", DeprecationWarning)
            encoder = self._mini().quantized()
        return RouterModel(
            encoder, list(self.labels), self.prototypes, self.scale, self.threshold, dict(self.meta)
        )

    # --- persistence --------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        encoder = self._mini()
        encoder.save(directory / "encoder")
        torch.save({"prototypes": self.prototypes.contiguous()}, directory / "prototypes.pt")
        document = {
            "format": FORMAT_VERSION,
            "labels": self.labels,
            "scale": self.scale,
            "threshold": self.threshold,
            "max_length": encoder.max_length,
            "meta": self.meta,
        }
        (directory / "router.json").write_text(json.dumps(document, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> RouterModel:
        try:
            document = json.loads((directory / "router.json").read_text(encoding="utf-8"))
            tensors = torch.load(directory / "prototypes.pt", weights_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot read router checkpoint {directory}: {exc}") from exc
        if document.get("format") != FORMAT_VERSION:
            raise ModelError(
                f"router checkpoint {directory} has unknown format {document.get('format')!r}"
            )
        encoder = MiniEncoder.load(directory / "encoder", int(document["max_length"]))
        prototypes = F.normalize(tensors["prototypes"].float(), dim=-1)
        labels = list(document["labels"])
        if prototypes.shape[0] != len(labels):
            raise ModelError(f"router checkpoint {directory}: prototypes do not match labels")
        return cls(
            encoder,
            labels,
            prototypes,
            float(document["scale"]),
            float(document["threshold"]),
            dict(document.get("meta", {})),
        )
