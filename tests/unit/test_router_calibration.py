"""Choosing the out-of-scope threshold on validation rows, worked out by hand."""

from __future__ import annotations

import pytest
import torch

from smolit.routing.neural.calibration import choose_threshold


def rejected(confidence: torch.Tensor, threshold: float) -> list[bool]:
    return (confidence < threshold).tolist()


def test_no_loss_allowed_rejects_wrong_rows_below_the_lowest_correct_one() -> None:
    confidence = torch.tensor([0.1, 0.2, 0.3, 0.4])
    correct = torch.tensor([False, False, True, True])
    threshold = choose_threshold(confidence, correct, 0.0)
    assert threshold == pytest.approx(0.25)
    assert rejected(confidence, threshold) == [True, True, False, False]


def test_no_loss_allowed_rejects_nothing_when_the_lowest_row_is_correct() -> None:
    confidence = torch.tensor([0.3, 0.1, 0.2])
    correct = torch.tensor([True, True, False])
    threshold = choose_threshold(confidence, correct, 0.0)
    assert threshold == pytest.approx(0.1 - 1e-6)
    assert not any(rejected(confidence, threshold))


def test_a_loss_budget_rejects_the_lowest_confidence_rows_until_it_is_used() -> None:
    confidence = torch.tensor([0.4, 0.1, 0.3, 0.2])
    correct = torch.tensor([True, True, True, True])
    threshold = choose_threshold(confidence, correct, 0.5)  # 2 of 4 correct rows may go
    assert threshold == pytest.approx(0.25)
    assert rejected(confidence, threshold) == [False, True, False, True]


def test_a_loss_budget_counts_only_correct_rows_rejected() -> None:
    confidence = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5])
    correct = torch.tensor([True, False, True, True, True])
    threshold = choose_threshold(confidence, correct, 0.2)  # 1 of 5 correct rows may go
    assert threshold == pytest.approx(0.25)


def test_every_row_is_rejected_when_every_row_is_wrong() -> None:
    confidence = torch.tensor([0.1, 0.2, 0.3])
    correct = torch.tensor([False, False, False])
    threshold = choose_threshold(confidence, correct, 0.0)
    assert threshold == pytest.approx(0.3 + 1e-6)
    assert all(rejected(confidence, threshold))


def test_no_rows_give_minus_one() -> None:
    empty = torch.empty(0)
    assert choose_threshold(empty, empty.bool(), 0.05) == -1.0
