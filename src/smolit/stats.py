"""The one percentile function of Agent-NN, for latency figures everywhere.

A leaf module (the standard library only), so the model statistics, the metrics, the
router and knowledge evaluations and the benchmarks all share it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float, *, interpolate: bool = False) -> float | None:
    """The ``q`` quantile (0..1) of ``values``; None for no values.

    By the nearest-rank method (a value that occurred), or with ``interpolate`` linearly
    between the two nearest ranks (numpy's default; the knowledge evaluation reports that).
    """
    ordered = sorted(values)
    if not ordered:
        return None
    if not interpolate:
        return ordered[max(1, math.ceil(q * len(ordered))) - 1]
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
