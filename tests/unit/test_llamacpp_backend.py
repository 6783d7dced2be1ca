"""The llama.cpp backend: checks and estimates always; generation only where llama-cpp-python
is installed (an optional extra that takes minutes to compile, see docs/model-backends.md)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from smolit.config import ModelDefinition
from smolit.errors import ConfigError, ModelError
from smolit.model_guard import model_loading
from smolit.models import ChatMessage, GenerationParams
from smolit.models.backend_registry import BackendRegistry
from smolit.models.backends.llamacpp import (
    LlamaCppBackend,
    kv_cache_bytes,
    llama_cpp_installed,
    resolve_gguf_path,
)
from smolit.models.backends.transformers_local import bundled_model_path
from smolit.models.hf_loading import GGUFInfo

QUESTION = [ChatMessage("user", "What is the capital of France?")]
NOT_INSTALLED = "llama-cpp-python is installed here: the 'missing' message cannot show"


def gguf(path: str | None, **options: int) -> ModelDefinition:
    return ModelDefinition(backend="llamacpp", path=path, **options)


def test_entry_point_names_the_backend() -> None:
    assert BackendRegistry().get("llamacpp") is LlamaCppBackend


@pytest.mark.skipif(llama_cpp_installed(), reason=NOT_INSTALLED)
def test_check_without_llama_cpp_names_the_install_command() -> None:
    reason = LlamaCppBackend.check_definition(gguf("bundled")) or ""
    assert "pip install '.[llamacpp]'" in reason and "docs/model-backends.md" in reason
    assert "-DGGML_NATIVE=OFF" in reason


@pytest.mark.skipif(llama_cpp_installed(), reason=NOT_INSTALLED)
def test_loading_without_llama_cpp_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"pip install '\.\[llamacpp\]'"):
        LlamaCppBackend("gguf", gguf("bundled"))


def test_bundled_path_is_the_smollm2_gguf() -> None:
    assert resolve_gguf_path(gguf("bundled")) == bundled_model_path()


def test_missing_file_raises_model_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"absent.gguf does not exist"):
        resolve_gguf_path(gguf(str(tmp_path / "absent.gguf")))


def test_definition_without_path_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="needs path"):
        resolve_gguf_path(gguf(None))


def test_kv_cache_follows_the_model_shape() -> None:
    info = GGUFInfo(
        version=3,
        tensor_count=1,
        parameters=1,
        data_end=0,
        metadata={
            "general.architecture": "llama",
            "llama.block_count": 30,
            "llama.embedding_length": 576,
            "llama.attention.head_count": 9,
            "llama.attention.head_count_kv": 3,
        },
    )
    # keys and values, 2048 tokens, 30 layers, 3 of 9 heads of 576 dims, float16
    assert kv_cache_bytes(info, 2048) == 2 * 2048 * 30 * 192 * 2


def test_kv_cache_is_zero_when_the_header_lacks_the_shape() -> None:
    info = GGUFInfo(version=3, tensor_count=0, parameters=0, data_end=0)
    assert kv_cache_bytes(info, 2048) == 0


def test_estimate_is_the_file_plus_the_context_cache() -> None:
    size = bundled_model_path().stat().st_size
    small = LlamaCppBackend.estimate_memory_bytes(gguf("bundled", context_length=1024))
    large = LlamaCppBackend.estimate_memory_bytes(gguf("bundled", context_length=4096))
    assert size < small < large and large - size == 4 * (small - size)


def test_estimate_of_a_missing_file_is_zero(tmp_path: Path) -> None:
    assert LlamaCppBackend.estimate_memory_bytes(gguf(str(tmp_path / "absent.gguf"))) == 0


# --- with llama-cpp-python installed --------------------------------------------------


@pytest.fixture(scope="module")
def smollm2() -> Iterator[LlamaCppBackend]:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (extra: llamacpp)")
    with model_loading(True):  # the real SmolLM2: the tests using it are marked slow
        backend = LlamaCppBackend("smollm2-gguf", gguf("bundled", threads=2))
    yield backend
    backend.close()


@pytest.mark.slow
def test_check_accepts_the_bundled_model(smollm2: LlamaCppBackend) -> None:
    assert LlamaCppBackend.check_definition(gguf("bundled")) is None


@pytest.mark.slow
def test_check_reports_a_garbage_file(smollm2: LlamaCppBackend, tmp_path: Path) -> None:
    (tmp_path / "garbage.gguf").write_bytes(bytes(range(256)) * 16)
    assert "magic bytes" in (
        LlamaCppBackend.check_definition(gguf(str(tmp_path / "garbage.gguf"))) or ""
    )


@pytest.mark.slow
def test_generates_an_answer_with_usage(smollm2: LlamaCppBackend) -> None:
    result = smollm2.generate(QUESTION, GenerationParams(max_new_tokens=12))
    assert result.text and result.prompt_tokens > 0 and 0 < result.completion_tokens <= 12


@pytest.mark.slow
def test_stream_concatenates_to_the_generated_text(smollm2: LlamaCppBackend) -> None:
    params = GenerationParams(max_new_tokens=12)
    events = list(smollm2.stream(QUESTION, params))
    final = events[-1].result
    assert final is not None and final.first_token_seconds is not None
    assert "".join(e.delta for e in events) == final.text == smollm2.generate(QUESTION, params).text


@pytest.mark.slow
def test_stop_string_ends_the_text_before_it(smollm2: LlamaCppBackend) -> None:
    free = smollm2.generate(QUESTION, GenerationParams(max_new_tokens=16)).text
    words = free.split()
    assert len(words) >= 3, free
    stop = words[2]  # a word the greedy answer is known to reach
    result = smollm2.generate(QUESTION, GenerationParams(max_new_tokens=16, stop=(stop,)))
    assert stop not in result.text and result.finish_reason == "stop"
    assert free.startswith(result.text.rstrip())


@pytest.mark.slow
def test_closing_a_stream_early_frees_the_model(smollm2: LlamaCppBackend) -> None:
    story = [ChatMessage("user", "Write a long story about a dragon.")]
    events = smollm2.stream(story, GenerationParams(max_new_tokens=1000))
    assert next(events).delta
    events.close()
    assert smollm2.generate(QUESTION, GenerationParams(max_new_tokens=2)).completion_tokens > 0


@pytest.mark.slow
def test_memory_is_the_file_plus_the_cache(smollm2: LlamaCppBackend) -> None:
    assert smollm2.memory_bytes() == LlamaCppBackend.estimate_memory_bytes(
        gguf("bundled", threads=2)
    )
