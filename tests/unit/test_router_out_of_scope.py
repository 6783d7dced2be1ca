"""Known out-of-scope examples lower a task's confidence; cross-fitting needs material."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from smolit.errors import ModelError, ValidationError
from smolit.routing.data import LabelledData
from smolit.routing.neural.model import OutOfScopeExamples
from smolit.routing.neural.trainer import TrainingConfig, train_router, uses_bf16


def unit(*rows: list[float]) -> torch.Tensor:
    return F.normalize(torch.tensor(rows), dim=-1)


def test_similarity_is_the_mean_cosine_of_the_k_nearest_examples() -> None:
    examples = OutOfScopeExamples(unit([1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]), k=2)
    similarity = examples.similarity(unit([1.0, 0.0], [0.6, 0.8]))
    # first text: cosines 1, 0, -1 -> nearest two 1 and 0; second: 0.6, 0.8, -0.6
    assert similarity.tolist() == pytest.approx([0.5, 0.7])


def test_fewer_examples_than_k_are_all_used() -> None:
    examples = OutOfScopeExamples(unit([1.0, 0.0], [0.0, 1.0]), k=5)
    assert examples.similarity(unit([1.0, 0.0])).tolist() == pytest.approx([0.5])


def test_out_of_scope_examples_cannot_be_empty() -> None:
    with pytest.raises(ModelError, match="at least one vector"):
        OutOfScopeExamples(torch.zeros((0, 2)), k=5)


def test_cross_fitting_without_two_examples_of_any_label_names_the_way_out() -> None:
    data = LabelledData.of([("a", "x"), ("b", "y"), ("c", "z")], source="tiny.jsonl")
    config = TrainingConfig(base_encoder=Path("unused"))
    with pytest.raises(ValidationError, match=r"tiny\.jsonl: too few examples to cross-fit.*--val"):
        train_router(data, None, config)


def test_tuned_layers_must_fit_in_the_layers_kept() -> None:
    data = LabelledData.of([("a", "x"), ("b", "x"), ("c", "y"), ("d", "y")])
    config = TrainingConfig(base_encoder=Path("unused"), layers=3, tuned_layers=4)
    with pytest.raises(ValidationError, match="tuned layers must be between 1 and the 3"):
        train_router(data, None, config)


def test_an_unknown_precision_is_refused_before_any_work() -> None:
    data = LabelledData.of([("a", "x"), ("b", "x"), ("c", "y"), ("d", "y")])
    config = TrainingConfig(base_encoder=Path("unused"), precision="fp8")
    with pytest.raises(ValidationError, match="precision must be one of auto, fp32, bf16"):
        train_router(data, None, config)


def test_precision_auto_follows_the_cpu_and_explicit_choices_are_kept() -> None:
    native = bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    assert uses_bf16("auto") is native
    assert uses_bf16("bf16") is True and uses_bf16("fp32") is False
