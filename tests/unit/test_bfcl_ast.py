"""BFCL's AST matching as the tool-calling benchmark implements it (bench/bfcl/ast_match.py)."""

from __future__ import annotations

from typing import Any

from bench.bfcl.ast_match import Call, match_calls, normalise

AREA: dict[str, Any] = {
    "name": "triangle.area",
    "parameters": {
        "type": "dict",
        "properties": {
            "base": {"type": "integer"},
            "height": {"type": "float"},
            "unit": {"type": "string"},
            "options": {"type": "dict"},
            "sides": {"type": "array", "items": {"type": "float"}},
            "anything": {"type": "any"},
        },
        "required": ["base", "height"],
    },
}
DOCS = {"triangle.area": AREA}


def expected(**allowed: list[Any]) -> list[dict[str, dict[str, list[Any]]]]:
    return [{"triangle.area": allowed}]


def check(arguments: dict[str, Any], **allowed: list[Any]) -> str | None:
    return match_calls([Call("triangle.area", arguments)], DOCS, expected(**allowed))


def test_a_call_with_allowed_values_matches() -> None:
    assert check({"base": 10, "height": 5.0}, base=[10], height=[5.0], unit=["", "cm"]) is None


def test_another_function_name_does_not_match() -> None:
    problem = match_calls([Call("circle.area", {"base": 10})], DOCS, expected(base=[10]))
    assert problem is not None and "not offered" in problem


def test_a_missing_required_parameter_does_not_match() -> None:
    assert "missing required" in str(check({"base": 10}, base=[10], height=[5.0]))


def test_an_unknown_parameter_does_not_match() -> None:
    problem = check({"base": 10, "height": 5.0, "colour": "red"}, base=[10], height=[5.0])
    assert "unexpected parameter 'colour'" in str(problem)


def test_a_declared_parameter_the_answer_does_not_list_does_not_match() -> None:
    assert "unexpected" in str(
        check({"base": 10, "height": 5.0, "unit": "cm"}, base=[10], height=[5.0])
    )


def test_a_listed_parameter_left_out_must_be_optional() -> None:
    assert "not optional" in str(
        check({"base": 10, "height": 5.0}, base=[10], height=[5.0], unit=["cm"])
    )
    assert check({"base": 10, "height": 5.0}, base=[10], height=[5.0], unit=["cm", ""]) is None


def test_a_value_outside_the_allowed_ones_does_not_match() -> None:
    assert "not among" in str(check({"base": 11, "height": 5.0}, base=[10], height=[5.0]))


def test_an_int_is_accepted_where_a_float_is_declared() -> None:
    assert check({"base": 10, "height": 5}, base=[10], height=[5.0]) is None


def test_a_float_is_not_accepted_where_an_int_is_declared() -> None:
    assert "expected integer" in str(check({"base": 10.0, "height": 5.0}, base=[10], height=[5.0]))


def test_a_bool_is_not_an_int() -> None:
    assert check({"base": True, "height": 5.0}, base=[1], height=[5.0]) is not None


def test_strings_compare_after_normalisation() -> None:
    allowed: dict[str, list[Any]] = {"base": [10], "height": [5.0], "unit": ["Square Meters"]}
    assert check({"base": 10, "height": 5.0, "unit": "square-meters."}, **allowed) is None
    assert check({"base": 10, "height": 5.0, "unit": "square feet"}, **allowed) is not None


def test_normalisation_removes_punctuation_and_case_and_unifies_quotes() -> None:
    assert normalise("April 1, 2024") == normalise("april 1 2024") == "april12024"
    assert normalise("it's") == 'it"s'


def test_lists_compare_in_order_with_normalised_strings() -> None:
    allowed: dict[str, list[Any]] = {"base": [10], "height": [5.0], "sides": [[3.0, 4.0]]}
    assert check({"base": 10, "height": 5.0, "sides": [3.0, 4.0]}, **allowed) is None
    assert check({"base": 10, "height": 5.0, "sides": [4.0, 3.0]}, **allowed) is not None


def test_list_elements_get_no_int_for_float_allowance() -> None:
    allowed: dict[str, list[Any]] = {"base": [10], "height": [5.0], "sides": [[3.0, 4.0]]}
    assert "element" in str(check({"base": 10, "height": 5.0, "sides": [3, 4]}, **allowed))


def test_dicts_compare_key_by_key_against_allowed_values() -> None:
    allowed: dict[str, list[Any]] = {
        "base": [10],
        "height": [5.0],
        "options": [{"precision": [2, 3], "style": ["", "short"]}],
    }
    assert check({"base": 10, "height": 5.0, "options": {"precision": 3}}, **allowed) is None
    assert check({"base": 10, "height": 5.0, "options": {"precision": 4}}, **allowed) is not None
    assert check({"base": 10, "height": 5.0, "options": {"other": 1}}, **allowed) is not None


def test_a_missing_dict_key_must_be_optional() -> None:
    allowed: dict[str, list[Any]] = {"base": [10], "height": [5.0], "options": [{"precision": [2]}]}
    assert check({"base": 10, "height": 5.0, "options": {}}, **allowed) is not None


def test_a_variable_name_is_accepted_where_the_answer_holds_strings() -> None:
    assert check({"base": "b", "height": 5.0}, base=["b"], height=[5.0]) is None


def test_any_takes_a_value_of_any_type() -> None:
    allowed: dict[str, list[Any]] = {"base": [10], "height": [5.0], "anything": [[1, 2]]}
    assert check({"base": 10, "height": 5.0, "anything": [1, 2]}, **allowed) is None


def test_parallel_calls_match_in_any_order() -> None:
    calls = [
        Call("triangle.area", {"base": 2, "height": 1.0}),
        Call("triangle.area", {"base": 1, "height": 1.0}),
    ]
    wanted = expected(base=[1], height=[1.0]) + expected(base=[2], height=[1.0])
    assert match_calls(calls, DOCS, wanted) is None


def test_parallel_calls_are_a_multiset() -> None:
    twice = [Call("triangle.area", {"base": 1, "height": 1.0})] * 2
    wanted = expected(base=[1], height=[1.0]) + expected(base=[2], height=[1.0])
    assert match_calls(twice, DOCS, wanted) is not None


def test_parallel_matching_is_not_greedy() -> None:
    # the first call fits both expected calls, the second only the first: a greedy
    # matcher would give the first call to the first expected call and fail
    calls = [
        Call("triangle.area", {"base": 1, "height": 1.0}),
        Call("triangle.area", {"base": 1, "height": 2.0}),
    ]
    wanted = expected(base=[1], height=[1.0, 2.0]) + expected(base=[1], height=[1.0])
    assert match_calls(calls, DOCS, wanted) is None


def test_a_wrong_number_of_calls_does_not_match() -> None:
    call = Call("triangle.area", {"base": 1, "height": 1.0})
    assert "2 calls" in str(match_calls([call, call], DOCS, expected(base=[1], height=[1.0])))
