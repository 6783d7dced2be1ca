"""``smolit router train|eval``: train the neural router on labelled JSONL files."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from smolit.cli import output
from smolit.cli.options import ConfigOption, HomeOption, JsonOption

app = typer.Typer(help="Train and evaluate the neural router.", no_args_is_help=True)

TrainFile = Annotated[
    Path, typer.Option("--train", help='JSONL of {"text", "label"}; label "oos" = out of scope')
]
ValFile = Annotated[
    Path | None,
    typer.Option("--val", help="validation JSONL for the threshold (default: a split of --train)"),
]
Layers = Annotated[int, typer.Option("--layers", min=1, max=12, help="encoder layers kept")]
TunedLayers = Annotated[
    int,
    typer.Option(
        "--tuned-layers",
        min=1,
        max=12,
        help="top encoder layers fine-tuned (the layers below stay frozen)",
    ),
]
Epochs = Annotated[float, typer.Option("--epochs", min=0.1, max=50, help="passes over --train")]
Threads = Annotated[int, typer.Option("--threads", min=1, max=64, help="torch threads")]
MaxLoss = Annotated[
    float,
    typer.Option(
        "--max-in-scope-loss",
        min=0,
        max=0.5,
        help="in-scope accuracy the out-of-scope threshold may cost (fraction)",
    ),
]
Seed = Annotated[int, typer.Option("--seed", help="random seed")]
Precision = Annotated[
    str,
    typer.Option(
        "--precision",
        help="matrix products while training: auto (bf16 where the CPU multiplies it "
        "natively, else fp32), fp32 or bf16; the checkpoint is fp32 either way",
    ),
]


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("training {task.fields[phase]}"),
        BarColumn(),
        TextColumn("epoch {task.fields[epoch]:.1f}/{task.fields[epochs]:g}"),
        TextColumn("{task.fields[rows_per_s]:.0f} rows/s"),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TimeRemainingColumn(),
        console=output.errors,
        disable=not enabled,
        transient=True,
    )


@dataclass(frozen=True)
class TrainOptions:
    """The training options both commands take."""

    layers: int
    tuned_layers: int
    epochs: float
    threads: int
    max_in_scope_loss: float
    seed: int
    precision: str


def _train(
    train: Path, val: Path | None, options: TrainOptions, show_progress: bool
) -> tuple[Any, Any, Any]:
    from smolit.encoding.sentence import bundled_minilm_path
    from smolit.routing.data import load_jsonl
    from smolit.routing.neural.trainer import TrainingConfig, TrainingProgress, train_router

    train_data = load_jsonl(train)
    val_data = load_jsonl(val) if val is not None else None
    config = TrainingConfig(base_encoder=bundled_minilm_path(), **asdict(options))
    with _progress_bar(show_progress) as bar:
        task = bar.add_task(
            "train", total=None, loss=0.0, epoch=0.0, epochs=options.epochs, rows_per_s=0, phase=""
        )
        first: list[tuple[float, int]] = []  # (time, rows) at the first step

        def progress(now: TrainingProgress) -> None:
            clock = time.monotonic()
            first[:] = first or [(clock, now.rows)]
            began, rows = first[0]
            rate = (now.rows - rows) / (clock - began) if clock > began else 0.0
            bar.update(
                task,
                completed=now.step,
                total=now.steps,
                loss=now.loss,
                epoch=now.epoch,
                rows_per_s=rate,
                phase=now.phase,
            )

        report = train_router(train_data, val_data, config, progress)
    return train_data, val_data, report


@app.command("eval")
def evaluate(
    train: TrainFile,
    test: Annotated[Path, typer.Option("--test", help="JSONL to evaluate on")],
    val: ValFile = None,
    layers: Layers = 6,
    tuned_layers: TunedLayers = 4,
    epochs: Epochs = 3.0,
    threads: Threads = 2,
    max_in_scope_loss: MaxLoss = 0.005,
    seed: Seed = 0,
    precision: Precision = "auto",
    int8: Annotated[
        bool, typer.Option("--int8", help="evaluate an int8 copy of the full encoder")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Train a fresh router on --train, evaluate on --test, print the figures."""
    from smolit.routing.data import load_jsonl, unseen_labels
    from smolit.routing.evaluation import abstention_metrics
    from smolit.routing.evaluation import evaluate as run_evaluation

    test_data = load_jsonl(test)
    options = TrainOptions(
        layers, tuned_layers, epochs, threads, max_in_scope_loss, seed, precision
    )
    train_data, _, report = _train(train, val, options, show_progress=not json)
    served = report.model.quantized() if int8 else report.model
    metrics = run_evaluation(lambda texts: served.predict(texts)[0], test_data, threads)
    best, confidence = served.decide(test_data.texts)
    metrics.update(abstention_metrics(test_data.labels, best, confidence.tolist()))
    missing = unseen_labels(train_data, test_data)
    result = {
        **metrics,
        "train_seconds": round(report.seconds, 1),
        "train_rows": report.train_rows,
        "calibration_rows": report.validation_rows,
        "labels": len(report.model.labels),
        "threshold": round(report.model.threshold, 5),
        "unseen_test_labels": missing,
        "config": {
            **asdict(options),
            "int8": int8,
            "max_length": report.model.meta.get("max_length"),
            "cascade": report.model.static is not None,
            "static_share_calibration": report.model.meta.get("static_share"),
        },
    }
    if json:
        output.emit_json(result)
        return
    for key, value in result.items():
        output.line(f"{key:22} {value}")


@app.command("train")
def train_command(
    train: TrainFile,
    val: ValFile = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="also write the checkpoint to this directory")
    ] = None,
    layers: Layers = 6,
    tuned_layers: TunedLayers = 4,
    epochs: Epochs = 3.0,
    threads: Threads = 2,
    max_in_scope_loss: MaxLoss = 0.005,
    seed: Seed = 0,
    precision: Precision = "auto",
    config: ConfigOption = None,
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """Train a router and store it as a new version of the model 'router' in the registry."""
    from smolit.config import load_settings
    from smolit.routing.checkpoints import RouterCheckpoints

    settings = load_settings(config, home)
    options = TrainOptions(
        layers, tuned_layers, epochs, threads, max_in_scope_loss, seed, precision
    )
    _, _, report = _train(train, val, options, show_progress=not json)
    checkpoints = RouterCheckpoints.open(settings)
    version = checkpoints.register(report.model, source=str(train))
    if out is not None:
        report.model.save(out)
    summary = {
        "name": "router",
        "version": version.version,
        "path": str(version.path),
        "labels": len(report.model.labels),
        "threshold": report.model.threshold,
        "train_seconds": round(report.seconds, 1),
        "calibration_accuracy": report.validation_accuracy,
    }
    if json:
        output.emit_json(summary)
    else:
        output.line(f"router version {version.version} stored at {version.path}")
