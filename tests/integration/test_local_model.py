"""The real bundled SmolLM2-135M-Instruct, loaded once for the module (~15 s)."""

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from smolit.config import ModelDefinition, ModelsSettings
from smolit.models import ChatMessage, GenerationParams, ModelManager
from smolit.models.backends.transformers_local import TransformersBackend
from smolit.models.backends.transformers_runtime import TokenStream

pytestmark = pytest.mark.slow

QUESTION = [ChatMessage("user", "What is the capital of France?")]


@pytest.fixture(scope="module")
def smollm2() -> Iterator[TransformersBackend]:
    backend = TransformersBackend(
        "smollm2", ModelDefinition(backend="transformers", path="bundled")
    )
    yield backend
    backend.close()


def test_bundled_model_answers_with_text(smollm2: TransformersBackend) -> None:
    result = smollm2.generate(QUESTION, GenerationParams(max_new_tokens=12))
    assert result.text and result.model == "smollm2"
    assert result.prompt_tokens > 0 and 0 < result.completion_tokens <= 12


def test_greedy_generation_is_deterministic(smollm2: TransformersBackend) -> None:
    params = GenerationParams(max_new_tokens=8)
    assert smollm2.generate(QUESTION, params).text == smollm2.generate(QUESTION, params).text


def test_reaching_max_new_tokens_reports_length(smollm2: TransformersBackend) -> None:
    story = [ChatMessage("user", "Write a long story about a dragon.")]
    result = smollm2.generate(story, GenerationParams(max_new_tokens=3))
    assert (result.completion_tokens, result.finish_reason) == (3, "length")


def test_sampling_with_temperature_generates_text(smollm2: TransformersBackend) -> None:
    result = smollm2.generate(QUESTION, GenerationParams(max_new_tokens=6, temperature=0.8))
    assert result.completion_tokens > 0 and result.seconds > 0


def test_default_settings_check_the_bundled_model_without_loading() -> None:
    manager = ModelManager(ModelsSettings())
    assert manager.check(None) is None and manager.loaded() == []


def test_manager_generates_with_the_real_model_off_the_loop(smollm2: TransformersBackend) -> None:
    manager = ModelManager(ModelsSettings())
    manager.add_instance("smollm2", smollm2)
    result = asyncio.run(manager.generate(None, QUESTION, GenerationParams(max_new_tokens=4)))
    assert result.completion_tokens > 0


def test_stream_deltas_concatenate_to_the_generated_text(smollm2: TransformersBackend) -> None:
    params = GenerationParams(max_new_tokens=16)
    events = list(smollm2.stream(QUESTION, params))
    final = events[-1].result
    assert final is not None and len(events) > 2
    assert "".join(e.delta for e in events) == final.text == smollm2.generate(QUESTION, params).text


def test_stream_reports_counts_and_first_token_time(smollm2: TransformersBackend) -> None:
    final = list(smollm2.stream(QUESTION, GenerationParams(max_new_tokens=16)))[-1].result
    assert final is not None and final.prompt_tokens > 0 and final.completion_tokens > 0
    assert final.first_token_seconds is not None and 0 < final.first_token_seconds <= final.seconds


def test_closing_a_stream_early_stops_the_generation(
    smollm2: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    generated: list[int] = []
    put = TokenStream.put

    def counting_put(self: TokenStream, value: Any) -> None:
        generated.append(1)
        put(self, value)

    monkeypatch.setattr(TokenStream, "put", counting_put)
    story = [ChatMessage("user", "Write a long story about a dragon.")]
    events = smollm2.stream(story, GenerationParams(max_new_tokens=2000))
    assert next(events).delta
    events.close()
    assert not [t for t in threading.enumerate() if t.name == "generate-smollm2"]
    assert len(generated) < 100  # stopped within a few tokens, not after 2000
    assert smollm2.generate(QUESTION, GenerationParams(max_new_tokens=2)).completion_tokens == 2


def test_generate_reports_first_token_time(smollm2: TransformersBackend) -> None:
    result = smollm2.generate(QUESTION, GenerationParams(max_new_tokens=4))
    assert result.first_token_seconds is not None and result.first_token_seconds <= result.seconds


def test_stop_string_ends_the_text_before_it(smollm2: TransformersBackend) -> None:
    params = GenerationParams(max_new_tokens=16, stop=("France",))
    result = smollm2.generate(QUESTION, params)
    assert "France" not in result.text and result.finish_reason == "stop"
    assert result.completion_tokens < 16
    streamed = list(smollm2.stream(QUESTION, params))
    assert "".join(e.delta for e in streamed) == result.text


def test_nucleus_sampling_generates_text(smollm2: TransformersBackend) -> None:
    params = GenerationParams(max_new_tokens=6, temperature=0.7, top_p=0.9)
    assert smollm2.generate(QUESTION, params).completion_tokens > 0


def test_memory_estimate_matches_the_loaded_model(smollm2: TransformersBackend) -> None:
    estimate = TransformersBackend.estimate_memory_bytes(smollm2.definition)
    assert abs(smollm2.memory_bytes() - estimate) < 0.01 * estimate
