"""ToolSpec (name, schema checks, argument problems) and ToolResult."""

from __future__ import annotations

import math
from typing import Any

import pytest

from smolit.errors import ConfigError, ValidationError
from smolit.tools import ToolResult, ToolSpec
from smolit.tools.schema import MAX_PROBLEMS

DRAFT_7 = "http://json-schema.org/draft-07/schema#"


def _spec(parameters: dict[str, Any]) -> ToolSpec:
    return ToolSpec(name="weather", description="the weather in a city", parameters=parameters)


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


@pytest.mark.parametrize("name", ["", "get weather", "wetter.heute", "x" * 65, "ünits"])
def test_tool_name_must_be_an_openai_function_name(name: str) -> None:
    with pytest.raises(ConfigError, match="1 to 64 letters"):
        ToolSpec(name=name, description="d")


def test_tool_name_of_64_letters_digits_dashes_and_underscores_is_accepted() -> None:
    name = "get_weather-2" + "x" * 51
    assert ToolSpec(name=name, description="d").name == name


def test_blank_description_is_refused() -> None:
    with pytest.raises(ConfigError, match="needs a description"):
        ToolSpec(name="weather", description="  ")


def test_examples_must_be_non_empty_strings() -> None:
    with pytest.raises(ConfigError, match="examples"):
        ToolSpec(name="weather", description="d", examples=("rain in Oslo?", ""))


def test_parameters_must_be_an_object_schema() -> None:
    with pytest.raises(ConfigError, match=r'"type": "object"'):
        _spec({"type": "string"})


def test_invalid_schema_is_a_config_error_naming_the_place() -> None:
    with pytest.raises(ConfigError, match=r'parameters\["properties"\]\["city"\]\["type"\]'):
        _spec(_object(city={"type": "town"}))


def test_ref_outside_the_schema_is_refused_without_retrieving_it() -> None:
    with pytest.raises(ConfigError, match="resolves to nothing"):
        _spec(_object(city={"$ref": "http://127.0.0.1:1/city.json"}))


def test_ref_to_a_missing_definition_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"'#/\$defs/city'"):
        _spec(_object(city={"$ref": "#/$defs/city"}))


def test_ref_inside_the_schema_is_followed() -> None:
    spec = _spec({**_object(city={"$ref": "#/$defs/city"}), "$defs": {"city": {"type": "string"}}})
    assert spec.argument_problems({"city": 7}) == ["arguments.city: 7 is not of type 'string'"]


def test_unknown_dialect_is_refused_listing_the_supported_ones() -> None:
    with pytest.raises(ConfigError, match=r"unsupported \$schema.*draft-07"):
        _spec({"$schema": "https://example.org/my-dialect", "type": "object"})


def test_draft_7_schema_is_read_in_its_own_dialect() -> None:
    # an array of schemas under "items" is a tuple in draft 7 and invalid in 2020-12
    pair = {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}
    spec = _spec({"$schema": DRAFT_7, **_object(pair=pair)})
    assert spec.argument_problems({"pair": ["a", "b"]}) == [
        "arguments.pair[1]: 'b' is not of type 'integer'"
    ]
    with pytest.raises(ConfigError, match="not a valid JSON Schema"):
        _spec(_object(pair=pair))


def test_argument_of_the_wrong_type_names_its_path() -> None:
    spec = _spec(_object(city={"type": "integer"}))
    assert spec.argument_problems({"city": "x"}) == ["arguments.city: 'x' is not of type 'integer'"]


def test_missing_required_argument_is_named() -> None:
    spec = _spec({**_object(city={"type": "string"}), "required": ["city"]})
    assert spec.argument_problems({}) == ["arguments: 'city' is a required property"]


def test_key_that_is_not_a_name_is_quoted_in_the_path() -> None:
    spec = _spec(_object(**{"the city": {"type": "string"}}))
    assert spec.argument_problems({"the city": 1}) == [
        "arguments[\"the city\"]: 1 is not of type 'string'"
    ]


def test_arguments_that_are_not_an_object_are_a_problem() -> None:
    assert _spec(_object()).argument_problems([1]) == ["arguments: [1] is not of type 'object'"]


def test_many_problems_are_cut_to_a_few() -> None:
    spec = _spec(_object(days={"type": "array", "items": {"type": "integer"}}))
    problems = spec.argument_problems({"days": ["x"] * 50})
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1] == "and more"


def test_long_offending_value_is_shortened_in_the_message() -> None:
    spec = _spec(_object(city={"type": "integer"}))
    (problem,) = spec.argument_problems({"city": "x" * 10_000})
    assert len(problem) < 400 and problem.endswith("…")


def test_valid_arguments_have_no_problems() -> None:
    spec = _spec({**_object(city={"type": "string"}), "required": ["city"]})
    assert spec.argument_problems({"city": "Oslo"}) == []


def test_spec_keeps_its_own_copy_of_the_schema() -> None:
    parameters = _object(city={"type": "string"})
    spec = _spec(parameters)
    parameters["properties"]["city"]["type"] = "integer"
    assert spec.argument_problems({"city": "Oslo"}) == []


def test_json_content_is_rendered_as_json() -> None:
    assert ToolResult({"temp": 21.5, "sky": "klar"}).as_text() == '{"temp": 21.5, "sky": "klar"}'


def test_text_content_is_rendered_as_it_is() -> None:
    assert ToolResult("21.5 °C").as_text() == "21.5 °C"


def test_failure_is_an_error_marked_for_the_model() -> None:
    result = ToolResult.failure("no such city")
    assert result.is_error
    assert result.for_model() == "Error: no such city"


@pytest.mark.parametrize("content", [math.nan, {"when": object()}, {1, 2}])
def test_content_json_cannot_carry_is_refused(content: Any) -> None:
    with pytest.raises(ValidationError, match="text or JSON"):
        ToolResult(content)
