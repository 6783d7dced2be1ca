"""Choosing the out-of-scope threshold on validation data.

The confidence of a decision is the cosine between the task and its best-matching skill
prototype. The threshold is the highest value that keeps the in-scope accuracy on
validation data within ``max_in_scope_loss`` of what it is with no threshold at all: the
price of abstaining is paid in a bounded, stated amount of in-scope accuracy, and
everything below it is declared out of scope. The rule needs no out-of-scope examples, so
it works on any data set; out-of-scope validation rows are only used to report recall.
"""

from __future__ import annotations

import torch


def choose_threshold(
    confidence: torch.Tensor, correct: torch.Tensor, max_in_scope_loss: float
) -> float:
    """The threshold for in-scope validation rows with these confidences and outcomes.

    ``confidence`` and ``correct`` (bool) are 1-d tensors over in-scope rows. Rejecting a row
    (confidence below the threshold) makes it wrong; the returned threshold rejects as many
    rows as possible while accuracy drops by at most ``max_in_scope_loss`` (a fraction).
    """
    if confidence.numel() == 0:
        return -1.0
    order = torch.argsort(confidence)
    ordered = confidence[order]
    lost_correct = torch.cumsum(correct[order].float(), 0)  # correct rows rejected so far
    budget = max_in_scope_loss * confidence.numel()
    allowed = int((lost_correct <= budget + 1e-9).sum())  # rows we may reject, lowest first
    if allowed == 0:
        return float(ordered[0]) - 1e-6
    if allowed >= ordered.numel():
        return float(ordered[-1]) + 1e-6
    # halfway between the last rejected and the first kept confidence
    return float((ordered[allowed - 1] + ordered[allowed]) / 2)
