"""Training the router: fine-tune the first encoder layers with a cosine-prototype head.

Recipe (no constant here is fitted to one data set; each is a generic choice or derived
from the data given):

- encoder: the first ``layers`` layers of the base sentence encoder, mean pooling, inputs
  truncated at the 99th percentile of the training texts' token lengths (16..64);
- head: one prototype per label, initialised at the label's mean embedding, scaled cosine
  logits with a learned scale; cross-entropy;
- AdamW (weight decay 0.01), encoder learning rate ``lr``, head learning rate 1e-2,
  6 % linear warm-up then linear decay, gradient clipping at 1.0;
- after training, each label's prototype is the mean of its fine-tuned example embeddings:
  exactly what an agent added later with a few examples gets;
- the model also keeps the training examples' fine-tuned vectors (``neighbours``, 0 turns
  this off): a trained label is scored by the mean cosine of its 5 nearest examples
  (k-nearest-neighbour, which classifies clearly better than the mean, and separates
  out-of-scope texts better), less an offset that puts it on the scale of a mean-prototype
  cosine: the median excess of the one over the other on the training rows, each left out
  of its own label. So trained labels and agents added later (mean prototypes) compete,
  and share one out-of-scope threshold, on one scale;
- the cheap cascade stage (``static.py``) is distilled from the fine-tuned encoder: a
  word-piece table trained for 10 epochs on classification plus agreement with the
  encoder; it decides alone when its top label's probability is >= 0.98 and its cosine is
  above the 1 % quantile of the training texts' own best cosines;
- the out-of-scope threshold is chosen on validation data (``calibration.py``).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from smolit.errors import ValidationError
from smolit.routing.data import (
    LabelledData,
    examples_to_hold_one_out,
    require_training_labels,
    stratified_split,
)
from smolit.routing.neural.calibration import choose_threshold
from smolit.routing.neural.encoder_net import MiniEncoder
from smolit.routing.neural.head import CosineHead
from smolit.routing.neural.model import (
    NEIGHBOURS,
    STATIC_COSINE_QUANTILE,
    STATIC_MIN_PROBABILITY,
    Neighbours,
    RouterModel,
    StaticStage,
    gated_confidence,
)
from smolit.routing.neural.static import StaticEncoder

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingProgress:
    """Where fine-tuning stands after one optimiser step."""

    step: int
    steps: int
    #: passes over the training rows so far (fractional), and how many are planned
    epoch: float
    epochs: float
    #: training rows seen so far (a row seen in two epochs counts twice)
    rows: int
    loss: float


Progress = Callable[[TrainingProgress], None]


@dataclass(frozen=True)
class TrainingConfig:
    base_encoder: Path
    layers: int = 3
    epochs: float = 3.0
    lr: float = 1e-4
    head_lr: float = 1e-2
    batch_size: int = 32
    max_length_cap: int = 64
    initial_scale: float = 20.0
    max_in_scope_loss: float = 0.015
    cascade: bool = True
    neighbours: int = NEIGHBOURS
    validation_fraction: float = 0.1
    seed: int = 0
    threads: int = 2
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingReport:
    model: RouterModel
    seconds: float
    steps: int
    train_rows: int
    validation_rows: int
    validation_accuracy: float


def _max_length(encoder: MiniEncoder, texts: list[str], cap: int) -> int:
    sample = texts if len(texts) <= 2000 else random.Random(0).sample(texts, 2000)
    lengths = sorted(len(ids) for ids in encoder.tokenizer(sample)["input_ids"])
    p99 = lengths[min(len(lengths) - 1, int(0.99 * len(lengths)))]
    return max(16, min(cap, p99 + 2))


def embed_all(encoder: MiniEncoder, texts: list[str]) -> torch.Tensor:
    encoder.eval()
    return encoder.encode(texts)


def label_means(vectors: torch.Tensor, labels: list[str], names: list[str]) -> torch.Tensor:
    position = {name: i for i, name in enumerate(names)}
    target = torch.tensor([position[label] for label in labels])
    sums = torch.zeros((len(names), vectors.shape[1])).index_add_(0, target, vectors)
    return F.normalize(sums, dim=-1)


def _split(
    train: LabelledData, val: LabelledData | None, config: TrainingConfig
) -> tuple[LabelledData, LabelledData]:
    """Training rows (in scope) and calibration rows (held-out in scope + all oos)."""
    if val is not None:
        calibration = LabelledData(val.examples + train.out_of_scope().examples, val.source)
        return train.in_scope(), calibration
    fit, held = stratified_split(train.in_scope(), config.validation_fraction, config.seed)
    if len(held) == 0:
        raise ValidationError(
            f"{train.source}: too few examples to hold any out for calibration; give --val "
            f"or at least {examples_to_hold_one_out(config.validation_fraction)} examples "
            "for some label"
        )
    return fit, LabelledData(held.examples + train.out_of_scope().examples, train.source)


def _fit(
    encoder: MiniEncoder,
    head: CosineHead,
    texts: list[str],
    targets: torch.Tensor,
    config: TrainingConfig,
    progress: Progress | None,
) -> int:
    steps = max(1, math.ceil(config.epochs * len(texts) / config.batch_size))
    optimizer = torch.optim.AdamW(
        [
            {"params": encoder.parameters(), "lr": config.lr},
            {"params": head.parameters(), "lr": config.head_lr},
        ],
        weight_decay=0.01,
    )
    warmup = max(1.0, 0.06 * steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps)
    )
    generator = torch.Generator().manual_seed(config.seed)
    encoder.train()
    step = rows = 0
    while step < steps:
        permutation = torch.randperm(len(texts), generator=generator)
        for start in range(0, len(texts), config.batch_size):
            if step >= steps:
                break
            index = permutation[start : start + config.batch_size]
            if len(index) < 2:
                continue
            logits = head(encoder(**encoder.tokenize([texts[i] for i in index])))
            loss = F.cross_entropy(logits, targets[index])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            rows += len(index)
            if progress is not None:
                progress(
                    TrainingProgress(
                        step,
                        steps,
                        rows / len(texts),
                        config.epochs,
                        rows,
                        float(loss.detach()),
                    )
                )
    encoder.eval()
    return steps


def train_router(
    train: LabelledData,
    val: LabelledData | None,
    config: TrainingConfig,
    progress: Progress | None = None,
) -> TrainingReport:
    """Fine-tune a router on ``train``; calibrate on ``val`` or a split of ``train``."""
    require_training_labels(train)
    started = time.perf_counter()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    try:
        fit, calibration = _split(train, val, config)
        labels = sorted(fit.label_counts())
        encoder = MiniEncoder.from_pretrained(config.base_encoder, config.layers, 64)
        encoder.max_length = _max_length(encoder, fit.texts, config.max_length_cap)
        head = CosineHead(
            label_means(embed_all(encoder, fit.texts), fit.labels, labels), config.initial_scale
        )
        position = {label: i for i, label in enumerate(labels)}
        targets = torch.tensor([position[label] for label in fit.labels])
        steps = _fit(encoder, head, fit.texts, targets, config, progress)
        teacher_vectors = embed_all(encoder, fit.texts)
        prototypes = label_means(teacher_vectors, fit.labels, labels)
        model = RouterModel(
            encoder=encoder,
            labels=labels,
            prototypes=prototypes,
            scale=head.scale,
            threshold=-1.0,
            meta={
                "base_encoder": str(config.base_encoder),
                "layers": config.layers,
                "max_length": encoder.max_length,
                "epochs": config.epochs,
                "train_rows": len(fit),
                "labels": len(labels),
                **config.extra,
            },
        )
        if config.neighbours > 0:
            model.neighbours = Neighbours.fit_offset(
                teacher_vectors, targets, len(labels), config.neighbours
            )
            model.meta["neighbours"] = config.neighbours
        if config.cascade:
            model.static = build_static_stage(
                encoder, fit.texts, targets, teacher_vectors, labels, config
            )
        accuracy = _calibrate(model, calibration, config.max_in_scope_loss)
    finally:
        torch.set_num_threads(previous_threads)
    seconds = time.perf_counter() - started
    model.meta["train_seconds"] = round(seconds, 1)
    return TrainingReport(model, seconds, steps, len(fit), len(calibration), accuracy)


def build_static_stage(
    encoder: MiniEncoder,
    texts: list[str],
    targets: torch.Tensor,
    teacher_vectors: torch.Tensor,
    labels: list[str],
    config: TrainingConfig,
) -> StaticStage:
    """Distil the fine-tuned encoder into a static table and fit its trust rule."""
    static = StaticEncoder.distilled_from(encoder)
    head = CosineHead(
        label_means(static.encode(texts), [labels[int(t)] for t in targets], labels),
        config.initial_scale,
    )
    static.fit(texts, targets, teacher_vectors, head, seed=config.seed)
    # the trained head's weights: as a lone stage they classify clearly better than label
    # means (agents added later get means; their tasks mostly fail the trust rule and go on
    # to the full encoder, where every prototype is a mean)
    prototypes = F.normalize(head.weight.detach(), dim=-1)
    own_best = (static.encode(texts) @ prototypes.T).max(dim=1).values
    return StaticStage(
        static,
        prototypes,
        head.scale,
        STATIC_MIN_PROBABILITY,
        float(torch.quantile(own_best, STATIC_COSINE_QUANTILE)),
    )


def _calibrate(model: RouterModel, calibration: LabelledData, max_loss: float) -> float:
    """Set ``model.threshold`` from the in-scope calibration rows; returns their accuracy."""
    trained = set(model.labels)
    known = [e for e in calibration.examples if e.in_scope and e.label in trained]
    if not known:
        model.threshold = -1.0
        return float("nan")
    index, best, decided = model.cascade([e.text for e in known])
    correct = torch.tensor(
        [model.labels[int(i)] == e.label for i, e in zip(index, known, strict=True)]
    )
    model.threshold = choose_threshold(gated_confidence(best, decided), correct, max_loss)
    if model.static is not None:
        model.meta["static_share"] = round(float(decided.float().mean()), 4)
    model.meta["threshold_rule"] = f"keep in-scope accuracy within {max_loss:.1%} of unthresholded"
    return float(correct.float().mean())
