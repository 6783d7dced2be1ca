"""BFCL function documents as ``ToolSpec``s (and so as the model's ``FunctionTool``s).

BFCL writes Python-flavoured type names; JSON Schema spells them otherwise: ``dict`` is an
``object``, ``float`` a ``number``, ``tuple`` an ``array``, and ``any`` is no constraint.
Its ``optional`` flag is not JSON Schema (``required`` says it) and is dropped. A function
name such as ``math.factorial`` is not a valid tool name (OpenAI's ``[a-zA-Z0-9_-]``), so it
becomes ``math_factorial``, as BFCL itself renames functions for such models; ``ToolSet``
maps calls back to the original names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from smolit.models.tool_calling import FunctionTool
from smolit.tools.base import ToolSpec

TYPES = {
    "dict": "object",
    "object": "object",
    "float": "number",
    "number": "number",
    "integer": "integer",
    "int": "integer",
    "string": "string",
    "str": "string",
    "boolean": "boolean",
    "bool": "boolean",
    "array": "array",
    "list": "array",
    "tuple": "array",
    "null": "null",
}
#: keys of a BFCL parameter document that carry over as they are
KEPT = ("description", "enum", "default", "format", "minimum", "maximum", "pattern")


def json_schema(document: Any) -> dict[str, Any]:
    """The JSON Schema for one BFCL parameter document (recursively)."""
    if not isinstance(document, dict):
        return {}
    schema: dict[str, Any] = {key: document[key] for key in KEPT if key in document}
    kind = document.get("type")
    if isinstance(kind, str) and kind in TYPES:
        schema["type"] = TYPES[kind]
    if isinstance(document.get("properties"), dict):
        schema["properties"] = {
            name: json_schema(child) for name, child in document["properties"].items()
        }
        required = document.get("required")
        if isinstance(required, list) and required:
            schema["required"] = [name for name in required if name in schema["properties"]]
    if "items" in document:
        schema["items"] = json_schema(document["items"])
    if schema.get("type") == "object" and "properties" not in schema:
        schema["properties"] = {}
    return schema


def tool_name(name: str) -> str:
    """``name`` in the characters a tool name may hold, at most 64 of them."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64] or "function"


@dataclass(frozen=True)
class ToolSet:
    """One entry's functions as tool specs, with the way back to BFCL's names."""

    specs: tuple[ToolSpec, ...]
    original: dict[str, str]  # tool name -> BFCL function name
    documents: dict[str, dict[str, Any]]  # BFCL function name -> its document

    def functions(self, names: list[str] | None = None) -> tuple[FunctionTool, ...]:
        """The model-facing tools (those named, in that order; default all)."""
        by_name = {spec.name: spec for spec in self.specs}
        chosen = [by_name[n] for n in names] if names is not None else list(self.specs)
        return tuple(FunctionTool.from_spec(spec) for spec in chosen)

    def spec(self, name: str) -> ToolSpec | None:
        return next((spec for spec in self.specs if spec.name == name), None)


def tool_set(documents: list[dict[str, Any]]) -> ToolSet:
    """Tool specs for an entry's function documents (names kept unique)."""
    specs: list[ToolSpec] = []
    original: dict[str, str] = {}
    kept: dict[str, dict[str, Any]] = {}
    for document in documents:
        bfcl_name = str(document.get("name", ""))
        name = tool_name(bfcl_name)
        suffix = 2
        while name in original:
            name = f"{tool_name(bfcl_name)[:60]}_{suffix}"
            suffix += 1
        parameters = json_schema(document.get("parameters") or {"type": "dict"})
        parameters["type"] = "object"
        parameters.setdefault("properties", {})
        description = str(document.get("description") or "").strip() or bfcl_name
        specs.append(ToolSpec(name, description, parameters))
        original[name] = bfcl_name
        kept[bfcl_name] = document
    return ToolSet(tuple(specs), original, kept)
