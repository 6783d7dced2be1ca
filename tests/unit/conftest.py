"""Unit tests run on test doubles: loading real model weights is switched off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smolit.model_guard import model_loading


@pytest.fixture(autouse=True)
def _no_real_models() -> Iterator[None]:
    """A unit test that reaches a real model fails with ``ModelLoadingDisabledError``;
    those that need one take the ``real_models`` fixture (see tests/conftest.py)."""
    with model_loading(False):
        yield
