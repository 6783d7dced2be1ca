"""``RouterModel``: a fine-tuned encoder, one prototype per label, a scale and a threshold.

A trained model may also keep its training examples' vectors (``Neighbours``): its own
labels are then scored by their nearest examples instead of their mean prototype. When it
was trained with out-of-scope examples (label ``oos``) it keeps their vectors too
(``OutOfScopeExamples``): a task's confidence is then its best label score less its
similarity to the nearest of them.

Saved as a directory: ``encoder/`` (Hugging Face format, safetensors weights),
``prototypes.safetensors`` and ``router.json`` (labels, scale, threshold, metadata).
Nothing in it is pickled: checkpoints live in the model registry, which other processes
and backups share, so reading one must never run code. The one legacy exception: a
checkpoint written before safetensors keeps its ``prototypes.pt``, which is read only
through torch's ``weights_only`` loader (tensors and plain containers, no code).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from pickle import UnpicklingError
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from smolit.encoding.base import TextEncoder
from smolit.errors import ModelError
from smolit.routing.neural.encoder_net import MiniEncoder
from smolit.routing.neural.static import StaticEncoder

FORMAT_VERSION = 1
TENSORS_FILE = "prototypes.safetensors"
#: how checkpoints written before safetensors hold their tensors (read, never written)
LEGACY_TENSORS_FILE = "prototypes.pt"
OOS = "oos"


UNTRAINED_SCALE = 20.0
#: the cheap stage decides alone only when its top label has at least this probability
STATIC_MIN_PROBABILITY = 0.98
#: ... and its cosine is above this quantile of the training texts' own best cosines
STATIC_COSINE_QUANTILE = 0.01
#: what the cheap stage decides is never out of scope: its confidence beats any cosine
STATIC_DECISION_CONFIDENCE = 2.0
#: a trained label's score is the mean cosine of its this many nearest training examples
NEIGHBOURS = 5
#: ... computed for this many labels per text, those of the highest prototype cosines
NEIGHBOUR_CANDIDATES = 16


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


class Neighbours:
    """Trained labels scored by their nearest training examples (k-nearest-neighbour).

    A label's score for a text is the mean cosine of the text with the label's ``k``
    nearest training examples (all of them if it has fewer), less ``offset``; only the
    labels whose prototype is among the text's closest are scored so (``scores``). The offset
    puts the score on the scale of a cosine with a label's mean prototype, which is what
    agents added later get: it is the median excess of the one over the other on the
    training rows themselves, each left out of its own label (``fit_offset``).
    """

    def __init__(
        self, vectors: torch.Tensor, owners: torch.Tensor, labels: int, k: int, offset: float
    ) -> None:
        self.vectors = vectors  # (examples, d), unit rows
        self.owners = owners  # (examples,) label index of each example
        self._columns = vectors.T.contiguous()  # a contiguous (d, examples) multiplies faster
        self.k = k
        self.offset = offset
        counts = torch.bincount(owners, minlength=labels)
        if bool((counts == 0).any()):
            raise ModelError("every trained label needs at least one example vector")
        # slots[label] lists its examples' rows; the padding points at a row of -inf
        width = int(counts.max())
        self._slots = torch.full((labels, width), len(owners), dtype=torch.long)
        order = torch.argsort(owners, stable=True)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(len(owners)) - starts[owners[order]]
        self._slots[owners[order], rank] = order
        used = torch.clamp(counts, max=k).unsqueeze(1)
        self._weights = (torch.arange(min(k, width)) < used).float() / used
        # texts per step: bounds the (texts, labels, width) gather of ``raw`` to about 16 MB
        self._chunk = max(1, min(256, 4_000_000 // self._slots.numel()))

    def raw(self, z: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
        """Mean cosine with each label's nearest examples, shape (texts, labels);
        ``exclude`` (one example row per text, or -1) leaves that example out."""
        out = torch.empty((z.shape[0], self._slots.shape[0]))
        step = self._chunk
        for start in range(0, z.shape[0], step):
            chunk = z[start : start + step] @ self._columns
            if exclude is not None:
                rows = exclude[start : start + step]
                hit = rows >= 0
                chunk[torch.arange(len(rows))[hit], rows[hit]] = -math.inf
            padded = torch.cat([chunk, torch.full((len(chunk), 1), -math.inf)], dim=1)
            top = padded[:, self._slots].topk(self._weights.shape[1], dim=-1).values
            out[start : start + step] = (top.nan_to_num(neginf=0.0) * self._weights).sum(-1)
        return out

    def scores(self, z: torch.Tensor, cosines: torch.Tensor) -> torch.Tensor:
        """Label scores, shape (texts, labels), from the texts' prototype ``cosines``: the
        ``NEIGHBOUR_CANDIDATES`` labels of the highest cosine get their neighbour score; the
        rest, which almost never win, keep their cosine (on the same scale), which saves
        most of the work."""
        out = cosines.clone()
        count = min(NEIGHBOUR_CANDIDATES, cosines.shape[1])
        candidates = cosines.topk(count, dim=1).indices
        step = self._chunk
        for start in range(0, z.shape[0], step):
            chunk = z[start : start + step] @ self._columns
            padded = torch.cat([chunk, torch.full((len(chunk), 1), -math.inf)], dim=1)
            labels = candidates[start : start + step]
            slots = self._slots[labels].flatten(1)  # (texts, candidates * width)
            near = padded.gather(1, slots).view(len(chunk), count, -1)
            top = near.topk(self._weights.shape[1], dim=-1).values.nan_to_num(neginf=0.0)
            score = (top * self._weights[labels]).sum(-1) - self.offset
            out[start : start + step].scatter_(1, labels, score)
        return out

    @classmethod
    def fit_offset(
        cls,
        vectors: torch.Tensor,
        owners: torch.Tensor,
        labels: int,
        k: int = NEIGHBOURS,
        sample: int = 2000,
    ) -> Neighbours:
        """Neighbours of these training vectors, with the offset measured on (a sample of)
        them: each row's own-label score without itself, less its cosine with its label's
        mean without itself. Labels with one example give no such row."""
        unscaled = cls(vectors, owners, labels, k, 0.0)
        counts = torch.bincount(owners, minlength=labels)
        rows = (counts[owners] > 1).nonzero().flatten()
        if len(rows) > sample:
            rows = rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(0))]
            rows = rows[:sample]
        if len(rows) == 0:
            return unscaled
        z, own = vectors[rows], owners[rows]
        near = unscaled.raw(z, exclude=rows).gather(1, own.unsqueeze(1)).squeeze(1)
        few = counts[own] <= k  # these averaged all their label's rows, the left-out one too
        near = torch.where(few, near * counts[own] / (counts[own] - 1), near)
        sums = torch.zeros((labels, vectors.shape[1])).index_add_(0, owners, vectors)
        mean = (z * F.normalize(sums[own] - z, dim=-1)).sum(-1)
        return cls(vectors, owners, labels, k, float((near - mean).median()))


class OutOfScopeExamples:
    """Known out-of-scope requests, as vectors: a task's similarity to them is the mean
    cosine of its ``k`` nearest (all of them if there are fewer), on the scale of a label
    score, and is subtracted from its confidence. What looks like a known out-of-scope
    request is then rejected even where it also resembles some label."""

    def __init__(self, vectors: torch.Tensor, k: int) -> None:
        if vectors.shape[0] == 0:
            raise ModelError("out-of-scope examples need at least one vector")
        self.vectors = vectors  # (examples, d), unit rows
        self.k = k
        self._columns = vectors.T.contiguous()

    def similarity(self, z: torch.Tensor) -> torch.Tensor:
        """Per text of ``z`` (texts, d): the mean cosine of its nearest out-of-scope examples."""
        count = min(self.k, self.vectors.shape[0])
        similarity: torch.Tensor = (z @ self._columns).topk(count, dim=1).values.mean(1)
        return similarity


@dataclass
class RouterModel:
    encoder: TextEncoder
    labels: list[str]
    prototypes: torch.Tensor  # (labels, d), unit rows
    scale: float
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)
    static: StaticStage | None = None
    neighbours: Neighbours | None = None
    out_of_scope: OutOfScopeExamples | None = None

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

    def fine_tuned_encoder(self) -> MiniEncoder:
        """The router's own encoder (a ``ModelError`` for an untrained router, which
        borrows the base encoder)."""
        if not isinstance(self.encoder, MiniEncoder):
            raise ModelError("only a router with its own fine-tuned encoder can be saved")
        return self.encoder

    @property
    def label_index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    def encode(self, texts: list[str]) -> torch.Tensor:
        return self.encoder.encode(texts)

    def label_scores(self, z: torch.Tensor) -> torch.Tensor:
        """Score of each encoded text for each trained label, shape (texts, labels): the
        nearest examples' score if the model keeps them, else the cosine with the label's
        prototype."""
        cosines = z @ self.prototypes.T
        if self.neighbours is not None:
            return self.neighbours.scores(z, cosines)
        return cosines

    def out_of_scope_similarity(self, z: torch.Tensor) -> torch.Tensor:
        """What the confidence of each encoded text loses for resembling the known
        out-of-scope examples (zeros when the model keeps none)."""
        if self.out_of_scope is None:
            return torch.zeros(z.shape[0])
        return self.out_of_scope.similarity(z)

    def best_of(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Best trained label index of each encoded text, and its confidence: the label's
        score less the text's out-of-scope similarity."""
        best, index = self.label_scores(z).max(dim=1)
        return index, best - self.out_of_scope_similarity(z)

    def cascade(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Best label index, the confidence, and whether the cheap stage decided, per text.

        Texts the static stage is sure of are decided by it (the confidence is then its
        cosine); the rest are encoded by the full encoder (the confidence is the best label
        score less the out-of-scope similarity). Only full-encoder decisions are subject to
        the out-of-scope threshold.
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
            index[rest], best[rest] = self.best_of(self.encode([texts[i] for i in rest]))
        return index, best, decided

    def decide(self, texts: list[str]) -> tuple[list[str], torch.Tensor]:
        """Best label per text, never ``oos``, and the confidence the out-of-scope
        threshold is compared with (what ``predict`` thresholds)."""
        index, best, decided = self.cascade(texts)
        return [self.labels[int(i)] for i in index], gated_confidence(best, decided)

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
            encoder = self.fine_tuned_encoder().quantized()
        return RouterModel(
            encoder,
            list(self.labels),
            self.prototypes,
            self.scale,
            self.threshold,
            dict(self.meta),
            self.static,
            self.neighbours,
            self.out_of_scope,
        )

    # --- persistence --------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        encoder = self.fine_tuned_encoder()
        encoder.save(directory / "encoder")
        tensors = {"prototypes": self.prototypes.contiguous()}
        if self.static is not None:
            tensors["static_table"] = self.static.encoder.save_table().contiguous()
            tensors["static_prototypes"] = self.static.prototypes.contiguous()
        if self.neighbours is not None:
            tensors["neighbour_vectors"] = self.neighbours.vectors.to(torch.float16).contiguous()
            tensors["neighbour_owners"] = self.neighbours.owners.contiguous()
        if self.out_of_scope is not None:
            tensors["out_of_scope_vectors"] = self.out_of_scope.vectors.to(
                torch.float16
            ).contiguous()
        save_file({k: v.detach().cpu() for k, v in tensors.items()}, directory / TENSORS_FILE)
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
            "neighbours": None
            if self.neighbours is None
            else {"k": self.neighbours.k, "offset": self.neighbours.offset},
            "out_of_scope": None if self.out_of_scope is None else {"k": self.out_of_scope.k},
        }
        (directory / "router.json").write_text(json.dumps(document, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> RouterModel:
        try:
            document = json.loads((directory / "router.json").read_text(encoding="utf-8"))
            tensors = _load_tensors(directory)
        except (OSError, ValueError, RuntimeError, SafetensorError, UnpicklingError) as exc:
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
            _load_neighbours(document.get("neighbours"), tensors, len(labels)),
            _load_out_of_scope(document.get("out_of_scope"), tensors),
        )


def _load_tensors(directory: Path) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors: safetensors, or a legacy file through ``weights_only``."""
    if (directory / TENSORS_FILE).exists() or not (directory / LEGACY_TENSORS_FILE).exists():
        return load_file(directory / TENSORS_FILE)
    tensors = torch.load(directory / LEGACY_TENSORS_FILE, weights_only=True)
    if not isinstance(tensors, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()
    ):
        raise ValueError(f"{LEGACY_TENSORS_FILE} does not hold named tensors")
    return tensors


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


def _load_neighbours(
    rule: dict[str, float] | None, tensors: dict[str, torch.Tensor], labels: int
) -> Neighbours | None:
    if not rule:
        return None
    return Neighbours(
        F.normalize(tensors["neighbour_vectors"].float(), dim=-1),
        tensors["neighbour_owners"].long(),
        labels,
        int(rule["k"]),
        float(rule["offset"]),
    )


def _load_out_of_scope(
    rule: dict[str, int] | None, tensors: dict[str, torch.Tensor]
) -> OutOfScopeExamples | None:
    if not rule:
        return None
    vectors = F.normalize(tensors["out_of_scope_vectors"].float(), dim=-1)
    return OutOfScopeExamples(vectors, int(rule["k"]))
