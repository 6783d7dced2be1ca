"""The unit tests own their environment: no SMOLIT_* from the shell, no real model."""

import os
from pathlib import Path

import pytest

from smolit.config import ModelDefinition, load_settings
from smolit.encoding.sentence import SentenceTransformerEncoder
from smolit.errors import ModelLoadingDisabledError
from smolit.model_guard import check_model_loading
from smolit.models.backends.transformers_local import TransformersBackend


def test_each_test_has_its_own_home(tmp_path: Path) -> None:
    assert os.environ["SMOLIT_HOME"] == str(tmp_path / "smolit-home")
    assert load_settings().home == tmp_path / "smolit-home"


def test_no_other_smolit_variable_reaches_a_test() -> None:
    assert [name for name in os.environ if name.startswith("SMOLIT_")] == ["SMOLIT_HOME"]


def test_loading_the_bundled_model_is_refused() -> None:
    with pytest.raises(ModelLoadingDisabledError, match="real_models fixture"):
        TransformersBackend("smollm2", ModelDefinition(backend="transformers", path="bundled"))


def test_loading_the_bundled_encoder_is_refused() -> None:
    with pytest.raises(ModelLoadingDisabledError, match="encoder"):
        SentenceTransformerEncoder()


@pytest.mark.usefixtures("real_models")
def test_real_models_fixture_opts_in_and_marks_the_test_slow(
    request: pytest.FixtureRequest,
) -> None:
    check_model_loading("anything")
    assert request.node.get_closest_marker("slow") is not None
