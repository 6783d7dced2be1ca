"""Tools in the llama.cpp backend without llama-cpp-python: the request it hands to
``create_chat_completion`` and its grammar logits processor, run on numpy scores with a
byte-level tokenizer. (The llguidance tokenizer built from a llama.cpp vocabulary and a
real constrained generation need llama-cpp-python, which is not installed here.)"""

import json

import jsonschema
import numpy as np

from smolit.config import ModelDefinition
from smolit.models.backends.llamacpp import LlamaCppBackend, chat_request
from smolit.models.base import ChatMessage, GenerationParams
from smolit.models.grammar_guide import ArrayGrammarProcessor, GrammarGuide
from smolit.models.tool_calling import FunctionTool, ToolChoice
from smolit.models.tool_grammar import tool_call_grammar
from smolit.models.tool_prompt import parse_tool_calls
from tests.unit.byte_tokenizer import byte_lltokenizer, byte_tokenizer, eos_id

FORECAST = FunctionTool(
    "get_forecast",
    "Weather forecast for a city.",
    {
        "type": "object",
        "properties": {
            "days": {"type": "integer", "minimum": 1, "maximum": 14},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["days", "unit"],
        "additionalProperties": False,
    },
)
QUESTION = [ChatMessage("user", "Weather in Oslo for 3 days?")]


def test_request_offers_tools_in_the_hermes_system_prompt() -> None:
    request = chat_request(QUESTION, GenerationParams(max_new_tokens=9, tools=(FORECAST,)))
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    assert "<tools>" in request["messages"][0]["content"]
    assert request["max_tokens"] == 9 and request["top_k"] == 0


def test_request_without_tools_passes_the_turns_through() -> None:
    request = chat_request(QUESTION, GenerationParams())
    assert request["messages"] == [{"role": "user", "content": QUESTION[0].content}]


def test_check_names_a_wrong_tool_call_decoding() -> None:
    definition = ModelDefinition(
        backend="llamacpp", path="bundled", options={"tool_call_decoding": "greedy"}
    )
    assert "tool_call_decoding" in (LlamaCppBackend.check_definition(definition) or "")


def test_processor_turns_random_scores_into_a_schema_valid_call() -> None:
    grammar = tool_call_grammar((FORECAST,), ToolChoice("required"), parallel=False)
    assert grammar is not None
    processor = ArrayGrammarProcessor(GrammarGuide(byte_lltokenizer(), grammar))
    rng = np.random.default_rng(7)
    ids = [5, 6, 7]  # the prompt
    width = byte_lltokenizer().vocab_size + 3  # a model may have more logits than tokens
    for _ in range(200):
        scores = processor(np.array(ids, dtype=np.intc), rng.normal(size=width).astype(np.single))
        token = int(np.argmax(scores))
        if token == eos_id():
            break
        ids.append(token)
    text = byte_tokenizer().decode(ids[3:])
    _, calls = parse_tool_calls(text)
    assert [c.name for c in calls] == ["get_forecast"]
    jsonschema.validate(json.loads(calls[0].arguments), dict(FORECAST.parameters))


def test_processor_leaves_the_scores_it_is_given_unchanged() -> None:
    grammar = tool_call_grammar((FORECAST,), ToolChoice("required"), parallel=False)
    assert grammar is not None
    processor = ArrayGrammarProcessor(GrammarGuide(byte_lltokenizer(), grammar))
    scores = np.zeros(byte_lltokenizer().vocab_size, dtype=np.single)
    masked = processor(np.array([1], dtype=np.intc), scores)
    assert np.isinf(masked).sum() == scores.size - 1 and not np.isinf(scores).any()
