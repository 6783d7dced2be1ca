"""Tools in the transformers backend: how the chat template gets them (a tokenizer built
here, no weights), and the bundled SmolLM2 calling a tool under the grammar."""

import json
from collections.abc import Iterator

import jsonschema
import pytest
import torch
from transformers import PreTrainedTokenizerFast

from smolit.config import ModelDefinition
from smolit.model_guard import model_loading
from smolit.models.backends.transformers_chat import chat_turns, template_renders_tools
from smolit.models.backends.transformers_local import TransformersBackend
from smolit.models.backends.transformers_runtime import GrammarProcessor
from smolit.models.base import ChatMessage, GenerationParams
from smolit.models.grammar_guide import GrammarGuide
from smolit.models.tool_calling import FunctionTool, ToolCall, ToolChoice
from smolit.models.tool_grammar import tool_call_grammar
from tests.unit.byte_tokenizer import byte_lltokenizer, byte_tokenizer, encode

PLAIN_TEMPLATE = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
TOOLS_TEMPLATE = (
    "{% if tools %}tools: {{ tools | tojson }}\n{% endif %}"
    "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
)
FORECAST = FunctionTool(
    "get_forecast",
    "Weather forecast for a city, for a number of days.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "minimum": 1, "maximum": 14},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "days", "unit"],
        "additionalProperties": False,
    },
)
QUESTION = [ChatMessage("user", "What will the weather be in Paris for the next 3 days?")]


def tokenizer(template: str) -> PreTrainedTokenizerFast:
    # transformers leaves the tokenizer constructor unannotated
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=byte_tokenizer(), chat_template=template
    )


def test_a_template_that_renders_tools_is_recognised() -> None:
    assert template_renders_tools(tokenizer(TOOLS_TEMPLATE))
    assert not template_renders_tools(tokenizer(PLAIN_TEMPLATE))


def test_a_template_that_fails_on_tools_does_not_render_them() -> None:
    failing = "{% if tools %}{{ raise_exception('no tools') }}{% endif %}" + PLAIN_TEMPLATE
    assert not template_renders_tools(tokenizer(failing))


def test_native_templates_get_tools_and_calls_as_data() -> None:
    history = [*QUESTION, ChatMessage("assistant", "", (ToolCall("get_forecast", "{}", "c1"),))]
    turns, options = chat_turns(history, GenerationParams(tools=(FORECAST,)), native_tools=True)
    assert options == {"tools": [FORECAST.to_openai()]}
    assert turns[1]["tool_calls"][0]["id"] == "c1"


def test_other_templates_get_the_hermes_system_prompt() -> None:
    turns, options = chat_turns(QUESTION, GenerationParams(tools=(FORECAST,)), native_tools=False)
    assert options == {} and turns[0]["role"] == "system" and "<tools>" in turns[0]["content"]


def test_without_tools_the_turns_are_unchanged() -> None:
    turns, options = chat_turns(QUESTION, GenerationParams(), native_tools=True)
    assert (turns, options) == ([{"role": "user", "content": QUESTION[0].content}], {})


def test_grammar_processor_masks_forbidden_and_extra_logits() -> None:
    grammar = tool_call_grammar((FORECAST,), ToolChoice("required"), parallel=False)
    assert grammar is not None
    processor = GrammarProcessor(GrammarGuide(byte_lltokenizer(), grammar), prompt_length=2)
    width = byte_lltokenizer().vocab_size + 5  # a model may have more logits than tokens
    scores = processor(torch.tensor([[3, 4]]), torch.zeros((1, width)))  # type: ignore[arg-type]
    allowed = torch.isfinite(scores[0]).nonzero().flatten().tolist()
    assert allowed == encode("<")  # a required call starts with <tool_call>


# --- the bundled SmolLM2 (slow) -------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2() -> Iterator[TransformersBackend]:
    with model_loading(True):
        backend = TransformersBackend(
            "smollm2", ModelDefinition(backend="transformers", path="bundled")
        )
    yield backend
    backend.close()


@pytest.mark.usefixtures("real_models")
def test_a_required_call_is_schema_valid_json(smollm2: TransformersBackend) -> None:
    params = GenerationParams(
        max_new_tokens=64,
        tools=(FORECAST,),
        tool_choice=ToolChoice("required"),
        parallel_tool_calls=False,
    )
    result = smollm2.generate(QUESTION, params)
    assert result.finish_reason == "tool_calls" and len(result.tool_calls) == 1
    call = result.tool_calls[0]
    assert call.name == "get_forecast"
    jsonschema.validate(json.loads(call.arguments), dict(FORECAST.parameters))


@pytest.mark.usefixtures("real_models")
def test_a_stream_with_tools_ends_with_the_calls(smollm2: TransformersBackend) -> None:
    params = GenerationParams(
        max_new_tokens=64,
        tools=(FORECAST,),
        tool_choice=ToolChoice.named("get_forecast"),
        parallel_tool_calls=False,
    )
    events = list(smollm2.stream(QUESTION, params))
    final = events[-1].result
    assert final is not None and [c.name for c in final.tool_calls] == ["get_forecast"]
    assert "".join(e.delta for e in events) == final.text == ""


@pytest.mark.usefixtures("real_models")
def test_smollm2_tokens_may_cross_from_text_into_a_call(smollm2: TransformersBackend) -> None:
    """Under ``auto``, SmolLM2's own tokens (some span the end of ``<tool_call>`` and the
    start of the JSON) lead from free text into a constrained call."""
    grammar = tool_call_grammar((FORECAST,), ToolChoice("auto"), parallel=False)
    assert grammar is not None
    guide = GrammarGuide(smollm2._guidance_tokenizer(), grammar)
    arguments = '{"city": "Oslo", "days": 2, "unit": "celsius"}'
    text = f'Sure.<tool_call>\n{{"name": "get_forecast", "arguments": {arguments}}}\n</tool_call>'
    ids = smollm2._tokenizer.encode(text, add_special_tokens=False)
    for position, token in enumerate(ids):
        guide.advance(ids[:position])
        assert guide.allowed()[token], smollm2._tokenizer.decode(ids[: position + 1])
    guide.advance(ids)
    assert guide.finished
