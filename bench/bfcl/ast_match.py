"""BFCL's AST matching of produced calls against the possible answers, written anew.

The rules (BFCL's documented AST evaluation, Python flavour):

- a call matches an expected call when it names the same function, every required
  parameter is present, every given parameter is one the function declares and the answer
  lists, each value has the declared type (an int is accepted where a float is declared,
  though not inside a list; a tuple is a list; ``any`` takes anything) and is among the
  allowed values, and every listed parameter left out is
  optional there (its allowed values include ``""``);
- strings compare after normalisation: spaces and ``,./-_*^`` removed, lower case, single
  quotes as double quotes (so "April 1, 2024" equals "april 1 2024");
- lists compare element-wise in order (strings normalised), dicts key by key against the
  allowed values of each key (a missing key must be optional), a list of dicts dict by dict;
- a value of another type than declared is accepted when it has the type of the allowed
  values (a variable name given where a number was declared, as BFCL allows), and is then
  compared as it is;
- several expected calls (parallel) match the produced calls as a multiset: the same
  number, each expected call matched by a different produced call, in any order.

``match_calls`` returns None for a match, else the first reason it failed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: BFCL type names and the Python types a value of each must have
PYTHON_TYPES: dict[str, type | None] = {
    "string": str,
    "integer": int,
    "float": float,
    "number": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "object": dict,
    "any": None,  # no constraint
}
_STRIP = re.compile(r"[ ,./\-_*^]")


@dataclass(frozen=True)
class Call:
    """A produced call: the function's BFCL name and its arguments."""

    name: str
    arguments: dict[str, Any]


def normalise(text: str) -> str:
    return _STRIP.sub("", text).lower().replace("'", '"')


def _normalised(value: Any) -> Any:
    return normalise(value) if isinstance(value, str) else value


def _exact_type(value: Any, expected: type) -> bool:
    """``type(value) is expected`` (so a bool is not an int), lists for tuples."""
    if isinstance(value, tuple):
        value = list(value)
    return type(value) is expected


def _answer_type(allowed: Sequence[Any]) -> type | None:
    kinds = {type(v) for v in allowed if v != ""}
    return kinds.pop() if len(kinds) == 1 else None


def _dict_matches(value: dict[str, Any], allowed: dict[str, list[Any]]) -> bool:
    for key, item in value.items():
        if key not in allowed:
            return False
        if _normalised(item) not in [_normalised(v) for v in allowed[key]]:
            return False
    return all(key in value or "" in options for key, options in allowed.items())


def _value_problem(name: str, value: Any, kind: str, allowed: list[Any]) -> str | None:
    expected = PYTHON_TYPES.get(kind)
    if kind in ("float", "number") and type(value) is int:
        value = float(value)
    if isinstance(value, tuple):
        value = list(value)
    variable = False
    if expected is not None and not _exact_type(value, expected):
        answer_type = _answer_type(allowed)
        if answer_type is None or type(value) is not answer_type:
            return f"{name}: expected {kind}, got {type(value).__name__} {value!r}"
        variable = True
    options = [v for v in allowed if v != ""]
    if _allowed(value, options, variable):
        return None
    return f"{name}: {value!r} is not among {allowed!r}"


def _allowed(value: Any, options: list[Any], variable: bool) -> bool:
    """Whether ``value`` is one of ``options`` (a variable compares as it is)."""
    if variable:
        return value in options
    if isinstance(value, str):
        return normalise(value) in [normalise(v) for v in options if isinstance(v, str)]
    if isinstance(value, dict):
        return any(isinstance(v, dict) and _dict_matches(value, v) for v in options)
    if isinstance(value, list):
        return any(_list_matches(value, v) for v in options if isinstance(v, list))
    return value in options


def _list_matches(value: list[Any], allowed: list[Any]) -> bool:
    if len(value) != len(allowed):
        return False
    for item, option in zip(value, allowed, strict=True):
        if isinstance(item, dict) and isinstance(option, dict):
            if not _dict_matches(item, option):
                return False
        elif isinstance(item, list) and isinstance(option, list):
            if not _list_matches(item, option):
                return False
        elif _normalised(item) != _normalised(option):
            return False
    return True


def _nested_problem(name: str, value: Any, document: dict[str, Any]) -> str | None:
    """One level of element types for an array parameter, as BFCL checks."""
    items = document.get("items")
    if not isinstance(value, list) or not isinstance(items, dict):
        return None
    expected = PYTHON_TYPES.get(str(items.get("type")))
    if expected is None:
        return None
    for item in value:  # no int-for-float allowance here: BFCL has none inside a list
        if not _exact_type(item, expected):
            return f"{name}: an element {item!r} is not {items.get('type')}"
    return None


def call_problem(
    call: Call, document: dict[str, Any], expected: dict[str, dict[str, list[Any]]]
) -> str | None:
    """Why ``call`` does not match the one expected call (``{name: {param: allowed}}``)."""
    (name, allowed), *_ = expected.items()
    if call.name != name:
        return f"called {call.name!r}, expected {name!r}"
    parameters = document.get("parameters") or {}
    declared: dict[str, Any] = parameters.get("properties") or {}
    for required in parameters.get("required") or []:
        if required not in call.arguments:
            return f"missing required parameter {required!r}"
    for key, value in call.arguments.items():
        if key not in declared or key not in allowed:
            return f"unexpected parameter {key!r}"
        problem = _value_problem(key, value, str(declared[key].get("type", "any")), allowed[key])
        if problem is None:
            problem = _nested_problem(key, value, declared[key])
        if problem is not None:
            return problem
    for key, options in allowed.items():
        if key not in call.arguments and "" not in options:
            return f"parameter {key!r} is missing and not optional"
    return None


def match_calls(
    calls: Sequence[Call],
    documents: dict[str, dict[str, Any]],
    expected: Sequence[dict[str, dict[str, list[Any]]]],
) -> str | None:
    """None when ``calls`` match ``expected`` as a multiset, else the first reason not."""
    if len(calls) != len(expected):
        return f"{len(calls)} calls, expected {len(expected)}"
    for call in calls:
        if call.name not in documents:
            return f"called {call.name!r}, which is not offered"
    fits = [
        [call_problem(call, documents[call.name], want) is None for call in calls]
        for want in expected
    ]
    if _assign(fits, 0, set()):
        return None
    if len(expected) == 1:
        return call_problem(calls[0], documents[calls[0].name], expected[0])
    return "no one-to-one matching of the calls to the expected calls"


def _assign(fits: list[list[bool]], row: int, used: set[int]) -> bool:
    """Whether expected calls ``row`` onwards can each take a distinct unused call."""
    if row == len(fits):
        return True
    for column, fit in enumerate(fits[row]):
        if fit and column not in used and _assign(fits, row + 1, used | {column}):
            return True
    return False
