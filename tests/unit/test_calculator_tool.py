"""The calculator tool: exact rational arithmetic, its caps and its failures."""

from __future__ import annotations

import asyncio
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from smolit.errors import ConfigError, ValidationError
from smolit.tools import ENTRY_POINT_GROUP, ToolFactories, ToolRegistry, ToolResult, run_tool_call
from smolit.tools.arithmetic import MAX_DEPTH, MAX_NUMBER_CHARS, evaluate
from smolit.tools.calculator import CalculatorTool

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _calculate(expression: str) -> ToolResult:
    outcome = asyncio.run(run_tool_call(CalculatorTool(), {"expression": expression}))
    return outcome.result


def _answer(expression: str) -> str:
    result = _calculate(expression)
    assert not result.is_error, result.as_text()
    return result.as_text()


def _failure(expression: str) -> str:
    result = _calculate(expression)
    assert result.is_error
    return result.as_text()


def test_decimals_add_up_exactly() -> None:
    assert _answer("0.1+0.2") == "3/10 = 0.3"


def test_fraction_comes_with_its_rounded_decimal() -> None:
    assert _answer("1/3") == "1/3 ≈ 0.33333333333333333333"


def test_integers_of_any_size_stay_exact() -> None:
    assert _answer("(2**64 - 1) * 12345678901234567890") == str((2**64 - 1) * 12345678901234567890)


@pytest.mark.parametrize(
    ("expression", "answer"),
    [
        ("-2**2", "-4"),
        ("2**3**2", "512"),
        ("2**-2", "1/4 = 0.25"),
        ("(1 + 2) * 3", "9"),
        ("-7 // 2", "-4"),
        ("7 % -3", "-2"),
        ("1.5e3 + .5", "3001/2 = 1500.5"),
        ("--3", "3"),
    ],
)
def test_precedence_and_operators_follow_python(expression: str, answer: str) -> None:
    assert _answer(expression) == answer


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1/0", "division by zero at position 2"),
        ("5 // (2 - 2)", "division by zero at position 3"),
        ("0**-1", "division by zero at position 2"),
        ("1 +", "expected a number or '(', found the end at position 4"),
        ("(1 + 2", "expected ')' to close the '(' at position 1, found the end at position 7"),
        ("1 2", "unexpected '2' at position 3"),
        ("3 $ 4", "unexpected character '$' at position 3"),
        ("2**0.5", "exponent 1/2 is not a whole number"),
    ],
)
def test_failure_names_the_problem_and_its_position(expression: str, message: str) -> None:
    assert message in _failure(expression)


def test_python_code_is_not_evaluated() -> None:
    assert _failure("__import__('os').getcwd()") == "unexpected character '_' at position 1"


def test_tower_of_powers_fails_cleanly() -> None:
    assert "result of '**' too large" in _failure("9**9**9")


def test_result_past_the_digit_cap_fails_instead_of_growing() -> None:
    assert "too large" in _failure("10**3999 * 10")


def test_number_with_too_many_digits_is_refused() -> None:
    assert "number longer than" in _failure("9" * (MAX_NUMBER_CHARS + 1))


def test_nesting_past_the_cap_is_refused() -> None:
    depth = MAX_DEPTH + 1
    assert "nested deeper than" in _failure("(" * depth + "1" + ")" * depth)


def test_empty_expression_is_refused() -> None:
    with pytest.raises(ValidationError, match="empty expression"):
        evaluate("   ")


def test_missing_expression_is_a_schema_failure() -> None:
    outcome = asyncio.run(run_tool_call(CalculatorTool(), {"formula": "1+1"}))
    assert "'expression' is a required property" in outcome.result.as_text()


def test_calculator_takes_no_settings() -> None:
    with pytest.raises(ConfigError, match="takes no settings; got precision"):
        _declared_factories().build("calculator", {"precision": 5})


def _declared_factories() -> ToolFactories:
    """The factories pyproject.toml declares in the smolit.tools group (the installed
    metadata of the environment may predate them)."""
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    return ToolFactories(
        entry_points=[
            EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in declared.items()
        ]
    )


def test_calculator_is_registered_through_the_smolit_tools_entry_point() -> None:
    registry = ToolRegistry(_declared_factories())
    registry.load("calculator")
    assert isinstance(registry.get("calculator"), CalculatorTool)
