"""The response cache: deterministic generations only, keyed by model version,
messages and parameters."""

from __future__ import annotations

import pytest

from smolit.cache import ResponseCache
from smolit.errors import ValidationError
from smolit.models.base import (
    ChatMessage,
    GenerationParams,
    GenerationResult,
    GenerationResultCodec,
)

MESSAGES = [ChatMessage("system", "be brief"), ChatMessage("user", "boil an egg?")]
GREEDY = GenerationParams(max_new_tokens=32, temperature=0.0)
RESULT = GenerationResult(text="9 minutes", model="smollm2@1", completion_tokens=3)


def test_a_deterministic_generation_is_served_again() -> None:
    cache = ResponseCache(1 << 20, codec=GenerationResultCodec())
    assert cache.put("smollm2@1", MESSAGES, GREEDY, RESULT) is True
    assert cache.get("smollm2@1", MESSAGES, GREEDY) == RESULT
    assert cache.stats()["hits"] == 1


def test_sampled_generations_are_never_cached() -> None:
    cache = ResponseCache(1 << 20, codec=GenerationResultCodec())
    warm = GenerationParams(temperature=0.7)
    assert cache.put("smollm2@1", MESSAGES, warm, RESULT) is False
    assert cache.get("smollm2@1", MESSAGES, warm) is None
    assert cache.stats()["skipped"] == 2 and cache.stats()["entries"] == 0


@pytest.mark.parametrize(
    ("model", "messages", "params"),
    [
        ("smollm2@2", MESSAGES, GREEDY),
        ("smollm2@1", MESSAGES[1:], GREEDY),
        ("smollm2@1", MESSAGES, GenerationParams(max_new_tokens=64)),
    ],
)
def test_another_version_prompt_or_parameter_is_a_miss(
    model: str, messages: list[ChatMessage], params: GenerationParams
) -> None:
    cache = ResponseCache(1 << 20, codec=GenerationResultCodec())
    cache.put("smollm2@1", MESSAGES, GREEDY, RESULT)
    assert cache.get(model, messages, params) is None


def test_plain_mappings_key_like_dataclasses() -> None:
    cache = ResponseCache(1 << 20, codec=GenerationResultCodec())
    cache.put("m@1", MESSAGES, GREEDY, RESULT)
    plain: list[dict[str, object]] = [
        {"role": m.role, "content": m.content, "tool_calls": [], "tool_call_id": None}
        for m in MESSAGES
    ]
    params = {
        "max_new_tokens": 32,
        "temperature": 0,
        "top_p": 1.0,
        "repetition_penalty": 1.0,
        "stop": [],
        "tools": [],
        "tool_choice": {"mode": "auto", "function": None},
        "parallel_tool_calls": True,
    }
    assert cache.get("m@1", plain, params) == RESULT


def test_an_unkeyable_message_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="value of type object"):
        ResponseCache(1024).get("m@1", [object()], GREEDY)
