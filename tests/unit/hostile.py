"""Hostile requests built from the application's own OpenAPI document.

Every operation with a JSON body has a valid body here (a test fails when a new one has
none), and every string and integer leaf of it, every path parameter and every integer
query parameter gets hostile values. ``Case`` is one request; ``Outcome`` what came back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

#: the fields an agent is created or changed with
AGENT_FIELDS: dict[str, Any] = {
    "description": "d",
    "examples": ["e"],
    "skills": {"s": ["x"]},
    "system_prompt": "p",
    "model": "fake",
    "knowledge_collection": "cooking",
    "enabled": True,
    "cache_responses": False,
    "tools": [
        {
            "name": "knowledge_search",
            "timeout_seconds": 5,
            "max_result_bytes": 1000,
            "collections": ["recipes"],
        }
    ],
    "tool_choice": "router",
    "max_steps": 3,
    "max_tool_calls": 4,
}
#: a valid body per JSON operation; hostile variants replace one leaf at a time
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/tasks"): {
        "text": "boil an egg",
        "priority": "low",
        "timeout": 30,
        "idempotency_key": "k",
    },
    ("POST", "/tasks/{task_id}/feedback"): {"success": True, "rating": 3, "comment": "ok"},
    ("POST", "/agents"): {"name": "hostile", **AGENT_FIELDS},
    ("PATCH", "/agents/{name}"): AGENT_FIELDS,
    ("POST", "/tokens"): {"user": "eve", "role": "user", "name": "n"},
    ("POST", "/models"): {
        "name": "m",
        "definition": {"backend": "fake", "model": "x", "max_new_tokens": 8},
        "alias": "staging",
        "notes": "n",
    },
    ("POST", "/models/import"): {
        "path": "/nonexistent/model.gguf",
        "name": "m",
        "backend": "fake",
        "definition": {"max_new_tokens": 8},
        "alias": "staging",
        "notes": "n",
    },
    ("POST", "/models/{name}/promote"): {"version": 1, "alias": "production"},
    ("POST", "/models/{name}/rollback"): {"alias": "production"},
    ("POST", "/knowledge/{collection}/sources"): {
        "location": "/nonexistent",
        "include": ["*.md"],
        "exclude": ["x"],
        "sync": False,
    },
    ("POST", "/knowledge/{collection}/sync"): {"source_id": "x"},
    ("POST", "/v1/chat/completions"): {
        "model": "agent-nn",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 5,
        "max_completion_tokens": 5,
        "temperature": 0,
        "top_p": 1,
        "stop": ["x"],
        "stream": False,
        "stream_options": {"include_usage": False},
        "n": 1,
        "tools": [],  # agent-nn refuses tools; the tool calling tests send them to a model
        "tool_choice": "none",
        "parallel_tool_calls": True,
        "functions": None,  # refused when set
        "function_call": None,
    },
}

#: an existing (or harmless) value for each path parameter, when another one is hostile
PATH_VALUES = {
    "task_id": "00000000-0000-0000-0000-000000000000",
    "name": "cooking",
    "key": "fake@1",
    "version": "1",
    "collection": "cooking",
    "source_id": "x",
    "document_id": "x",
}

HOSTILE_STRINGS = ("\ud800", "a\u0000b")
BIG_INTEGERS = (2**64, -(2**63) - 1, 10**30)
#: as they appear in a URL path: traversal, encoded traversal, encoded NUL, a big integer
HOSTILE_SEGMENTS = ("..", "%2e%2e%2f..%2f..%2fetc%2fpasswd", "..%2f", "%00", "a%00b", "%ff")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: OpenAI's API ignores unknown fields, so a hostile key there may be ignored, not refused
IGNORES_UNKNOWN_FIELDS = frozenset({("POST", "/v1/chat/completions")})


@dataclass(frozen=True)
class Case:
    method: str
    route: str  # the OpenAPI path
    url: str
    content: bytes | None = None
    field: str | None = None  # what is hostile, as the error message should name it
    #: the hostile value is a key the operation may ignore as an unknown field
    ignorable: bool = False

    def describe(self) -> str:
        return f"{self.method} {self.url[:80]} ({self.field})"


def operations(openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in openapi["paths"].items():
        for method, op in ops.items():
            yield method.upper(), path, op


def json_operations(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method, path)
        for method, path, op in operations(openapi)
        if "application/json" in op.get("requestBody", {}).get("content", {})
    ]


def fill(path: str, **values: str) -> str:
    for name, default in PATH_VALUES.items():
        path = path.replace("{" + name + "}", values.get(name, quote(default, safe="@")))
    return path


def _leaves(value: Any, where: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Paths to every string and integer leaf (and every dict key, as its own leaf)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*where, f"key:{key}")
            yield from _leaves(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*where, index))
    elif isinstance(value, str | int) and not isinstance(value, bool):
        yield where


def _replace(body: Any, where: tuple[str | int, ...], new: Any) -> Any:
    copy = json.loads(json.dumps(body))
    *parents, last = where
    target = copy
    for step in parents:
        target = target[step]
    if isinstance(last, str) and last.startswith("key:"):
        key = last[4:]
        target[new if isinstance(new, str) else str(new)] = target.pop(key)
    else:
        target[last] = new
    return copy


def _value(body: Any, where: tuple[str | int, ...]) -> Any:
    for step in where:
        if isinstance(step, str) and step.startswith("key:"):
            return step[4:]
        body = body[step]
    return body


def _field(where: tuple[str | int, ...]) -> str | None:
    """The top-level field a leaf belongs to (what a 422 message must name); None for a
    top-level key, which is itself the hostile value."""
    if len(where) == 1 and str(where[0]).startswith("key:"):
        return None
    return str(where[0])


def body_cases(openapi: dict[str, Any]) -> Iterator[Case]:
    """Each string leaf with a lone surrogate and a NUL; each integer leaf beyond 64 bits."""
    for method, route in json_operations(openapi):
        base = VALID_BODIES[(method, route)]
        for where in _leaves(base):
            value = _value(base, where)
            hostile = HOSTILE_STRINGS if isinstance(value, str) else BIG_INTEGERS
            for new in hostile:
                body = _replace(base, where, new)
                content = json.dumps(body).encode()  # lone surrogates as \ud800 escapes
                ignorable = (method, route) in IGNORES_UNKNOWN_FIELDS and str(where[-1]).startswith(
                    "key:"
                )
                yield Case(method, route, fill(route), content, _field(where), ignorable)


def path_cases(openapi: dict[str, Any]) -> Iterator[Case]:
    """Every path parameter with traversal, encoded NUL and integers beyond 64 bits."""
    for method, route, op in operations(openapi):
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
        base = VALID_BODIES.get((method, route))
        content = json.dumps(base).encode() if base is not None else None
        for name in names:
            for segment in (*HOSTILE_SEGMENTS, *map(str, BIG_INTEGERS)):
                yield Case(method, route, fill(route, **{name: segment}), content, name)


def query_cases(openapi: dict[str, Any]) -> Iterator[Case]:
    """Every query parameter with an encoded NUL; integer ones beyond 64 bits too."""
    for method, route, op in operations(openapi):
        for param in op.get("parameters", []):
            if param["in"] != "query":
                continue
            schema = param["schema"]
            types = {s.get("type") for s in schema.get("anyOf", [schema])}
            values = ["a%00b", "%ed%a0%80"]
            if types & {"integer", "number"}:
                values += [str(n) for n in BIG_INTEGERS]
            extra = "&q=egg" if route.endswith("/search") and param["name"] != "q" else ""
            for value in values:
                url = f"{fill(route)}?{param['name']}={value}{extra}"
                yield Case(method, route, url, None, param["name"])
