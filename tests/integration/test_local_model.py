"""The real bundled SmolLM2-135M-Instruct, loaded once for the module (~15 s)."""

import asyncio
from collections.abc import Iterator

import pytest

from smolit.config import ModelDefinition, ModelsSettings
from smolit.models import ChatMessage, GenerationParams, ModelManager
from smolit.models.backends.transformers_local import TransformersBackend

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
