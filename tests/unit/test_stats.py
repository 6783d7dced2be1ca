"""The one percentile function (model stats, metrics, evaluations, benchmarks)."""

from smolit.stats import percentile


def test_percentile_uses_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile([], 0.5)) == (
        50.0,
        95.0,
        None,
    )


def test_percentile_picks_the_nearest_ranked_value() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert [percentile(values, q) for q in (0, 0.5, 0.95, 1)] == [1.0, 3.0, 5.0, 5.0]


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5, interpolate=True) == 2.5


def test_percentile_of_nothing_is_none_either_way() -> None:
    assert (percentile([], 0.5), percentile([], 0.5, interpolate=True)) == (None, None)
