"""Training the router: fine-tune the upper encoder layers with a cosine-prototype head.

Recipe (no constant here is fitted to one data set; each is a generic choice or derived
from the data given):

- encoder: the first ``layers`` layers of the base sentence encoder (all six of
  all-MiniLM-L6-v2), mean pooling, inputs truncated at the 99th percentile of the training
  texts' token lengths (16..64). The embeddings and the layers below the top
  ``tuned_layers`` stay frozen: their output for each training text is computed once, and
  every step runs only the tuned layers;
- batches are drawn at random, then grouped by length within windows of 50 batches, so
  little work is spent on padding;
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
- out-of-scope rows of the training file (label ``oos``) are not trained on as a class:
  the model keeps their vectors and a task's confidence is its best label score less its
  mean cosine with the nearest of them (``OutOfScopeExamples``);
- the cheap cascade stage (``static.py``) is distilled from the fine-tuned encoder: a
  word-piece table trained for 10 epochs on classification plus agreement with the
  encoder; it decides alone when its top label's probability is >= 0.98 and its cosine is
  above the 1 % quantile of the training texts' own best cosines;
- the out-of-scope threshold (``calibration.py``) is chosen on the confidences of rows the
  scoring model has not seen: with ``--val``, the final model's on those rows; otherwise
  cross-fitted: the in-scope rows are dealt into ``calibration_folds`` parts, a model
  trained (same recipe, no cascade) on all parts but one scores the part left out, and the
  final model is trained on every row. A model trained on less data is a little less sure
  of new rows than the final one, so the threshold errs towards keeping in-scope traffic.
"""

from __future__ import annotations

import copy
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
    require_training_labels,
    stratified_fold_rows,
)
from smolit.routing.neural.calibration import choose_threshold
from smolit.routing.neural.encoder_net import MiniEncoder
from smolit.routing.neural.head import CosineHead
from smolit.routing.neural.model import (
    NEIGHBOURS,
    STATIC_COSINE_QUANTILE,
    STATIC_MIN_PROBABILITY,
    Neighbours,
    OutOfScopeExamples,
    RouterModel,
    StaticStage,
    gated_confidence,
)
from smolit.routing.neural.static import StaticEncoder

logger = logging.getLogger(__name__)

#: batches are grouped by length within windows of this many batches
LENGTH_WINDOW = 50
PRECISIONS = ("auto", "fp32", "bf16")
FINAL = "final model"


@dataclass(frozen=True)
class TrainingProgress:
    """Where fine-tuning stands after one optimiser step."""

    #: steps over every model trained (cross-fitting models first, then the final one)
    step: int
    steps: int
    #: passes over the current model's training rows so far (fractional), and how many
    epoch: float
    epochs: float
    #: training rows seen so far by all models (a row seen twice counts twice)
    rows: int
    loss: float
    #: which model is training: "fold 1/2" (cross-fitting) or "final model"
    phase: str = FINAL


Progress = Callable[[TrainingProgress], None]


@dataclass(frozen=True)
class TrainingConfig:
    base_encoder: Path
    layers: int = 6
    #: the top layers fine-tuned; the embeddings and the layers below stay frozen
    tuned_layers: int = 4
    epochs: float = 3.0
    lr: float = 1e-4
    head_lr: float = 1e-2
    batch_size: int = 32
    max_length_cap: int = 64
    initial_scale: float = 20.0
    max_in_scope_loss: float = 0.005
    cascade: bool = True
    neighbours: int = NEIGHBOURS
    calibration_folds: int = 2
    #: "bf16" runs the tuned layers' matrix products in bfloat16 while training (weights
    #: stay fp32), "fp32" does not, "auto" uses bf16 where the CPU multiplies it natively
    precision: str = "auto"
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


@dataclass
class _Plan:
    """The steps of every model to train, for one progress count."""

    config: TrainingConfig
    progress: Progress | None
    steps: int = 0
    done: int = 0
    rows: int = 0

    def steps_for(self, rows: int) -> int:
        return max(1, math.ceil(self.config.epochs * rows / self.config.batch_size))

    def report(self, phase: str, epoch: float, loss: float) -> None:
        """One step of the model ``phase`` is done; ``epoch``: its passes so far."""
        self.done += 1
        if self.progress is not None:
            self.progress(
                TrainingProgress(
                    self.done,
                    self.steps,
                    epoch,
                    self.config.epochs,
                    self.rows,
                    loss,
                    phase,
                )
            )


@dataclass(frozen=True)
class _Rows:
    """Training rows with their frozen lower states (shared by every model trained)."""

    texts: list[str]
    labels: list[str]
    states: list[torch.Tensor]

    def subset(self, index: list[int]) -> _Rows:
        return _Rows(
            [self.texts[i] for i in index],
            [self.labels[i] for i in index],
            [self.states[i] for i in index],
        )


def uses_bf16(precision: str) -> bool:
    """Whether training runs its matrix products in bfloat16 (``TrainingConfig.precision``)."""
    if precision not in PRECISIONS:
        raise ValidationError(
            f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}"
        )
    if precision == "auto":
        # AMX or AVX-512 BF16: about 1.5x faster steps; elsewhere bf16 would be slower
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    return precision == "bf16"


def _batches(lengths: list[int], size: int, generator: torch.Generator) -> list[list[int]]:
    """One epoch's batches: rows drawn at random, grouped by length within windows."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    batches: list[list[int]] = []
    window = size * LENGTH_WINDOW
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + size] for i in range(0, len(chunk), size))
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled if len(batches[i]) >= 2]


def _fit(
    encoder: MiniEncoder,
    head: CosineHead,
    rows: _Rows,
    targets: torch.Tensor,
    plan: _Plan,
    phase: str,
) -> int:
    config = plan.config
    first_tuned = encoder.layer_count - config.tuned_layers
    tuned = encoder.freeze_below(first_tuned)
    steps = plan.steps_for(len(rows.texts))
    optimizer = torch.optim.AdamW(
        [
            {"params": tuned, "lr": config.lr},
            {"params": head.parameters(), "lr": config.head_lr},
        ],
        weight_decay=0.01,
    )
    warmup = max(1.0, 0.06 * steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps)
    )
    generator = torch.Generator().manual_seed(config.seed)
    lengths = [len(state) for state in rows.states]
    bf16 = uses_bf16(config.precision)
    encoder.train()
    step = seen = 0
    while step < steps:
        for index in _batches(lengths, config.batch_size, generator):
            if step >= steps:
                break
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                z = encoder.upper([rows.states[i] for i in index], first_tuned)
            loss = F.cross_entropy(head(z.float()), targets[index])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(tuned, 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            seen += len(index)
            plan.rows += len(index)
            plan.report(phase, seen / len(lengths), float(loss.detach()))
    encoder.eval()
    return steps


def _encode_rows(
    encoder: MiniEncoder, rows: _Rows, first_tuned: int, batch_size: int = 256
) -> torch.Tensor:
    """The rows' vectors from their lower states (inference)."""
    order = sorted(range(len(rows.states)), key=lambda i: len(rows.states[i]))
    out = torch.zeros((len(order), encoder.dimension))
    encoder.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            out[index] = encoder.upper([rows.states[i] for i in index], first_tuned)
    return out


def _train_model(
    base: MiniEncoder,
    rows: _Rows,
    base_vectors: torch.Tensor,
    out_of_scope: list[str],
    plan: _Plan,
    phase: str,
    cascade: bool,
) -> tuple[RouterModel, int]:
    """One router trained on ``rows`` (threshold not yet chosen); ``base_vectors``: the
    rows' vectors from the untrained encoder, where the head starts."""
    config = plan.config
    encoder = copy.deepcopy(base)
    labels = sorted(set(rows.labels))
    position = {label: i for i, label in enumerate(labels)}
    targets = torch.tensor([position[label] for label in rows.labels])
    first_tuned = encoder.layer_count - config.tuned_layers
    head = CosineHead(label_means(base_vectors, rows.labels, labels), config.initial_scale)
    steps = _fit(encoder, head, rows, targets, plan, phase)
    vectors = _encode_rows(encoder, rows, first_tuned)
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    model = RouterModel(
        encoder=encoder,
        labels=labels,
        prototypes=label_means(vectors, rows.labels, labels),
        scale=head.scale,
        threshold=-1.0,
        meta={
            "base_encoder": str(config.base_encoder),
            "layers": config.layers,
            "tuned_layers": config.tuned_layers,
            "precision": "bf16" if uses_bf16(config.precision) else "fp32",
            "max_length": encoder.max_length,
            "epochs": config.epochs,
            "train_rows": len(rows.texts),
            "labels": len(labels),
            **config.extra,
        },
    )
    if config.neighbours > 0:
        model.neighbours = Neighbours.fit_offset(vectors, targets, len(labels), config.neighbours)
        model.meta["neighbours"] = config.neighbours
    if out_of_scope:
        model.out_of_scope = OutOfScopeExamples(
            embed_all(encoder, out_of_scope), max(1, config.neighbours)
        )
        model.meta["out_of_scope_examples"] = len(out_of_scope)
    if cascade:
        model.static = build_static_stage(encoder, rows.texts, targets, vectors, labels, config)
    return model, steps


def train_router(
    train: LabelledData,
    val: LabelledData | None,
    config: TrainingConfig,
    progress: Progress | None = None,
) -> TrainingReport:
    """Fine-tune a router on ``train``; calibrate on ``val`` or by cross-fitting."""
    require_training_labels(train)
    if not 1 <= config.tuned_layers <= config.layers:
        raise ValidationError(
            f"tuned layers must be between 1 and the {config.layers} layers kept, "
            f"not {config.tuned_layers}"
        )
    uses_bf16(config.precision)  # an unknown precision fails before any work
    started = time.perf_counter()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    try:
        fit = train.in_scope()
        out_of_scope = train.out_of_scope().texts
        folds = [] if val is not None else _folds(fit, config)
        base = MiniEncoder.from_pretrained(config.base_encoder, config.layers, 64)
        base.max_length = _max_length(base, fit.texts, config.max_length_cap)
        first_tuned = config.layers - config.tuned_layers
        rows = _Rows(fit.texts, fit.labels, base.lower_states(fit.texts, first_tuned))
        base_vectors = _encode_rows(base, rows, first_tuned)
        plan = _Plan(config, progress)
        plan.steps = plan.steps_for(len(fit)) + sum(
            plan.steps_for(len(fit) - len(part)) for part in folds
        )
        steps = 0
        confidences: list[torch.Tensor] = []
        outcomes: list[torch.Tensor] = []
        for number, part in enumerate(folds, 1):
            held = set(part)
            kept = [i for i in range(len(fit)) if i not in held]
            phase = f"fold {number}/{len(folds)}"
            scorer, used = _train_model(
                base, rows.subset(kept), base_vectors[kept], out_of_scope, plan, phase, False
            )
            steps += used
            confidence, correct = _held_out(scorer, rows.subset(part), first_tuned)
            confidences.append(confidence)
            outcomes.append(correct)
        model, used = _train_model(
            base, rows, base_vectors, out_of_scope, plan, FINAL, config.cascade
        )
        steps += used
        if val is not None:
            calibration_rows = len(val)
            accuracy = _calibrate_on(model, val, config.max_in_scope_loss)
        else:
            calibration_rows = len(fit)
            accuracy = _calibrate(
                model, torch.cat(confidences), torch.cat(outcomes), config.max_in_scope_loss
            )
            model.meta["calibration"] = f"cross-fitted over {len(folds)} folds"
    finally:
        torch.set_num_threads(previous_threads)
    seconds = time.perf_counter() - started
    model.meta["train_seconds"] = round(seconds, 1)
    return TrainingReport(model, seconds, steps, len(fit), calibration_rows, accuracy)


def _folds(fit: LabelledData, config: TrainingConfig) -> list[list[int]]:
    """Row indices of each cross-fitting part of ``fit``."""
    counts = fit.label_counts()
    if max(counts.values()) < config.calibration_folds:
        raise ValidationError(
            f"{fit.source}: too few examples to cross-fit the out-of-scope threshold; give "
            f"--val or at least {config.calibration_folds} examples for some label"
        )
    return stratified_fold_rows(fit, config.calibration_folds, config.seed)


def _held_out(
    model: RouterModel, rows: _Rows, first_tuned: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Confidence and correctness of a cross-fitting model on the rows it left out (scored
    by its full encoder from their lower states: such a model has no cascade)."""
    index, confidence = model.best_of(_encode_rows(model.fine_tuned_encoder(), rows, first_tuned))
    correct = torch.tensor(
        [model.labels[int(i)] == label for i, label in zip(index, rows.labels, strict=True)]
    )
    return confidence, correct


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


def _calibrate(
    model: RouterModel, confidence: torch.Tensor, correct: torch.Tensor, max_loss: float
) -> float:
    """Set ``model.threshold`` from held-out in-scope confidences; returns their accuracy."""
    model.threshold = choose_threshold(confidence, correct, max_loss)
    model.meta["threshold_rule"] = f"keep in-scope accuracy within {max_loss:.1%} of unthresholded"
    return float(correct.float().mean()) if correct.numel() else float("nan")


def _calibrate_on(model: RouterModel, calibration: LabelledData, max_loss: float) -> float:
    """Set ``model.threshold`` from the final model on the in-scope rows of ``calibration``."""
    trained = set(model.labels)
    known = [e for e in calibration.examples if e.in_scope and e.label in trained]
    if not known:
        model.threshold = -1.0
        return float("nan")
    index, best, decided = model.cascade([e.text for e in known])
    correct = torch.tensor(
        [model.labels[int(i)] == e.label for i, e in zip(index, known, strict=True)]
    )
    if model.static is not None:
        model.meta["static_share"] = round(float(decided.float().mean()), 4)
    return _calibrate(model, gated_confidence(best, decided), correct, max_loss)
