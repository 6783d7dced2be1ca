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
from smolit.routing.neural.static import StaticEncoder

FORMAT_VERSION = 1
OOS = "oos"


UNTRAINED_SCALE = 20.0
#: the cheap stage decides alone only when its top label has at least this probability
STATIC_MIN_PROBABILITY = 0.98
#: ... and its cosine is above this quantile of the training texts' own best cosines
STATIC_COSINE_QUANTILE = 0.01
#: what the cheap stage decides is never out of scope: its confidence beats any cosine
STATIC_DECISION_CONFIDENCE = 2.0


def gated_confidence(best: torch.Tensor, decided: torch.Tensor) -> torch.Tensor:
    """The confidence the out-of-scope threshold is applied to, per text of a cascade."""
    return torch.where(decided, torch.full_like(best, STATIC_DECISION_CONFIDENCE), best)


@dataclass
class StaticStage:
    """The cascade's first stage: a static encoder, its label prototypes and trust rule."""

    encoder: StaticEncoder
    prototypes: torch.Tensor  # (labels, d), unit rows
    scale: float
    min_probability: float
    min_cosine: float

    def confident(self, cosines: torch.Tensor) -> torch.Tensor:
        """Rows (texts) whose best label this stage may decide alone."""
        probability = torch.softmax(self.scale * cosines, dim=-1).max(dim=-1).values
        return (probability >= self.min_probability) & (
            cosines.max(dim=-1).values >= self.min_cosine
        )


@dataclass
class RouterModel:
    encoder: TextEncoder
    labels: list[str]
    prototypes: torch.Tensor  # (labels, d), unit rows
    scale: float
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)
    static: StaticStage | None = None

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

    def cascade(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Best label index, its cosine, and whether the cheap stage decided, per text.

        Texts the static stage is sure of are decided by it; the rest are encoded by the
        full encoder. Only full-encoder decisions are subject to the out-of-scope threshold.
        """
        decided = torch.zeros(len(texts), dtype=torch.bool)
        best = torch.zeros(len(texts))
        index = torch.zeros(len(texts), dtype=torch.long)
        if self.static is not None and texts:
            cosines = self.static.encoder.encode(texts) @ self.static.prototypes.T
            decided = self.static.confident(cosines)
            best, index = cosines.max(dim=1)
        rest = [i for i in range(len(texts)) if not decided[i]]
        if rest:
            full_best, full_index = self.score_texts([texts[i] for i in rest]).max(dim=1)
            best[rest], index[rest] = full_best, full_index
        return index, best, decided

    def predict(self, texts: list[str]) -> tuple[list[str], torch.Tensor]:
        """Best label per text (``oos`` below the threshold) and its confidence."""
        index, best, decided = self.cascade(texts)
        gated = gated_confidence(best, decided)
        labels = [
            self.labels[int(i)] if float(c) >= self.threshold else OOS
            for i, c in zip(index, gated, strict=True)
        ]
        return labels, best

    def quantized(self) -> RouterModel:
        """A copy with an int8 encoder for fast CPU inference."""
        with warnings.catch_warnings():
            # torch 2.13 flags eager dynamic quantisation as moving to torchao; it still works
            warnings.simplefilter("ignore", DeprecationWarning)
            encoder = self._mini().quantized()
        return RouterModel(
            encoder,
            list(self.labels),
            self.prototypes,
            self.scale,
            self.threshold,
            dict(self.meta),
            self.static,
        )

    # --- persistence --------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        encoder = self._mini()
        encoder.save(directory / "encoder")
        tensors = {"prototypes": self.prototypes.contiguous()}
        if self.static is not None:
            tensors["static_table"] = self.static.encoder.save_table()
            tensors["static_prototypes"] = self.static.prototypes.contiguous()
        torch.save(tensors, directory / "prototypes.pt")
        document = {
            "format": FORMAT_VERSION,
            "labels": self.labels,
            "scale": self.scale,
            "threshold": self.threshold,
            "max_length": encoder.max_length,
            "meta": self.meta,
            "static": None
            if self.static is None
            else {
                "scale": self.static.scale,
                "min_probability": self.static.min_probability,
                "min_cosine": self.static.min_cosine,
            },
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
            _load_static(document.get("static"), tensors, encoder),
        )


def _load_static(
    rule: dict[str, float] | None, tensors: dict[str, torch.Tensor], encoder: MiniEncoder
) -> StaticStage | None:
    if not rule:
        return None
    table = tensors["static_table"].float()
    static = StaticEncoder(table, encoder.tokenizer, encoder.max_length).eval()
    return StaticStage(
        static,
        F.normalize(tensors["static_prototypes"].float(), dim=-1),
        float(rule["scale"]),
        float(rule["min_probability"]),
        float(rule["min_cosine"]),
    )
