"""A process-wide switch that refuses to load real model weights (pydantic-ai's
``ALLOW_MODEL_REQUESTS``).

Every place that loads weights from disk (the transformers and llama.cpp backends, the
sentence-transformers encoder) calls ``check_model_loading`` first. It is on unless a test
suite turns it off: ``tests/unit`` does, so a unit test that reaches a real model by
accident fails at once with ``ModelLoadingDisabledError`` instead of loading for seconds
and passing by luck. Tests that need the real model opt in with ``model_loading(True)``
(the ``real_models`` fixture) and are marked ``slow``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from smolit.errors import ModelLoadingDisabledError

#: whether real model weights may be loaded in this process
ALLOW_MODEL_LOADING = True


def check_model_loading(what: str) -> None:
    """Raise ``ModelLoadingDisabledError`` naming ``what`` when loading is switched off."""
    if not ALLOW_MODEL_LOADING:
        raise ModelLoadingDisabledError(
            f"{what}: loading real model weights is switched off in this process "
            "(smolit.model_guard.ALLOW_MODEL_LOADING is False, as in the unit tests); use "
            "smolit.testing.FakeModel / LookupEncoder, or opt in with the real_models "
            "fixture, which marks the test slow",
            details={"what": what},
        )


@contextmanager
def model_loading(allowed: bool) -> Iterator[None]:
    """Switch loading on or off for the duration of a ``with`` block."""
    global ALLOW_MODEL_LOADING
    previous, ALLOW_MODEL_LOADING = ALLOW_MODEL_LOADING, allowed
    try:
        yield
    finally:
        ALLOW_MODEL_LOADING = previous
