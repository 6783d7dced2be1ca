"""Shared by the CLINC150 router benchmarks: data paths, domains, training a router."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from smolit.encoding.sentence import bundled_minilm_path
from smolit.routing.data import LabelledData, load_jsonl
from smolit.routing.neural.model import RouterModel
from smolit.routing.neural.trainer import TrainingConfig, train_router

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "clinc150"


def data_dir(given: str | None) -> Path:
    path = Path(given) if given else DATA
    if not (path / "train.jsonl").exists():
        sys.exit(f"CLINC150 not found at {path}: pass --data DIR")
    return path


def domains(path: Path) -> dict[str, str]:
    """intent -> domain, from the rows' ``domain`` field."""
    mapping: dict[str, str] = {}
    for name in ("train.jsonl", "val.jsonl"):
        for line in (path / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["label"] != "oos":
                mapping[row["label"]] = row["domain"]
    return mapping


def train(
    data: LabelledData,
    val: LabelledData | None,
    epochs: float,
    threads: int,
    layers: int = 6,
    tuned_layers: int = 4,
    max_in_scope_loss: float = 0.005,
) -> tuple[RouterModel, float]:
    config = TrainingConfig(
        base_encoder=bundled_minilm_path(),
        epochs=epochs,
        threads=threads,
        layers=layers,
        tuned_layers=tuned_layers,
        max_in_scope_loss=max_in_scope_loss,
    )
    report = train_router(data, val, config)
    return report.model, report.seconds


def load(path: Path, name: str) -> LabelledData:
    return load_jsonl(path / name)
