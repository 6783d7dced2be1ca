"""An OpenAPI 3 document: read from a file or fetched through the egress policy, parsed,
checked, and its local ``$ref``s resolved.

A document read by URL is fetched with the egress policy's client and is refused past
``max_bytes``. YAML and JSON are both read. Anything that is not an OpenAPI 3 document, or
that cannot be read, is a ``ConfigError`` naming the document and the problem.

``References`` resolves ``#/...`` JSON pointers inside the document; any other reference
(another file, a URL) is refused, so a document cannot make the server read a file or
send a request. Schemas are inlined into plain JSON Schema (what a model understands
best): OpenAPI 3.0's ``nullable`` and boolean ``exclusiveMinimum``/``exclusiveMaximum``
are translated, OpenAPI-only keywords dropped; a schema that refers to itself becomes
``{}`` (any value) where it recurs, and after ``MAX_INLINED`` references in one document
the rest do too, so that no document can make the schemas grow without bound.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import yaml

from smolit.errors import ConfigError, EgressDeniedError
from smolit.redact import redact_url
from smolit.tools.context import ToolContext

#: references inlined per document before the rest become ``{}``
MAX_INLINED = 10_000
#: keywords whose value is a schema, a list of schemas, or a mapping of names to schemas
_ONE = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "contains",
        "propertyNames",
        "if",
        "then",
        "else",
        "unevaluatedItems",
        "unevaluatedProperties",
        "additionalItems",
    }
)
_MANY = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_NAMED = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
#: OpenAPI's own keywords, not JSON Schema
_DROPPED = frozenset({"nullable", "discriminator", "xml", "externalDocs", "example", "deprecated"})


@dataclass(frozen=True)
class Document:
    """A parsed OpenAPI 3 document, where it came from, and its URL if fetched."""

    data: dict[str, Any]
    name: str
    url: str | None = None


def _is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def _fetch(url: str, context: ToolContext, *, max_bytes: int, timeout_s: float) -> bytes:
    name = redact_url(url)
    try:
        with (
            context.egress.client(timeout=timeout_s) as client,
            client.stream("GET", url) as response,
        ):
            if not response.is_success:
                raise ConfigError(
                    f"openapi {name}: the server answered HTTP {response.status_code}",
                    details={"settings": ["openapi"], "status": response.status_code},
                )
            received = bytearray()
            for chunk in response.iter_bytes():
                received += chunk
                if len(received) > max_bytes:
                    raise ConfigError(
                        f"openapi {name}: the document is larger than {max_bytes:,} bytes "
                        "(openapi_max_bytes)",
                        details={"settings": ["openapi_max_bytes"]},
                    )
            return bytes(received)
    except EgressDeniedError as exc:
        raise ConfigError(
            f"openapi {name}: refused by the egress policy: {exc.message}",
            details={"settings": ["openapi"], **exc.details},
        ) from exc
    except httpx.HTTPError as exc:
        raise ConfigError(
            f"openapi {name}: cannot fetch it: {type(exc).__name__}: {exc}",
            details={"settings": ["openapi"]},
        ) from exc


def _read(path: Path, *, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ConfigError(
                f"openapi {path}: the document is larger than {max_bytes:,} bytes "
                "(openapi_max_bytes)",
                details={"settings": ["openapi_max_bytes"]},
            )
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"openapi {path}: cannot read it: {exc.strerror or type(exc).__name__}",
            details={"settings": ["openapi"]},
        ) from exc


def _parse(raw: bytes, name: str) -> Any:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"openapi {name}: not UTF-8 text", details={"settings": ["openapi"]}
        ) from exc
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(
            f"openapi {name}: neither JSON nor YAML: {problem}{at}",
            details={"settings": ["openapi"]},
        ) from exc


def load_document(
    source: str, context: ToolContext, *, max_bytes: int, timeout_s: float
) -> Document:
    """The OpenAPI 3 document at ``source`` (a path, relative to ``context.base_dir``, or
    an http(s) URL); a ``ConfigError`` naming it and the problem."""
    if _is_url(source):
        name, url = redact_url(source), source
        raw = _fetch(source, context, max_bytes=max_bytes, timeout_s=timeout_s)
    else:
        path = context.resolve_path(source)
        name, url = str(path), None
        raw = _read(path, max_bytes=max_bytes)
    data = _parse(raw, name)
    if not isinstance(data, dict):
        raise ConfigError(
            f"openapi {name}: not an OpenAPI document (a {type(data).__name__}, not a mapping)",
            details={"settings": ["openapi"]},
        )
    version = data.get("openapi")
    if not (isinstance(version, str) and version.startswith("3.")):
        found = f"openapi: {version!r}" if "openapi" in data else "no openapi field"
        if "swagger" in data:
            found = f"swagger: {data['swagger']!r}, convert it to OpenAPI 3"
        raise ConfigError(
            f"openapi {name}: not an OpenAPI 3 document ({found})",
            details={"settings": ["openapi"]},
        )
    if not isinstance(data.get("paths", {}), dict):
        raise ConfigError(
            f"openapi {name}: paths must be a mapping", details={"settings": ["openapi"]}
        )
    return Document(data=data, name=name, url=url)


def _pointer_parts(ref: str) -> list[str]:
    return [unquote(part).replace("~1", "/").replace("~0", "~") for part in ref[2:].split("/")]


class References:
    """Local ``$ref`` resolution in one document, and schemas inlined as JSON Schema."""

    def __init__(self, document: Document) -> None:
        self._document = document
        self._budget = MAX_INLINED

    def error(self, message: str) -> ConfigError:
        return ConfigError(
            f"openapi {self._document.name}: {message}", details={"settings": ["openapi"]}
        )

    def lookup(self, ref: Any) -> Any:
        """What the local reference ``ref`` points at."""
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
            raise self.error(
                f"$ref {ref!r} refused: only references inside the document (#/...) are "
                "resolved, nothing is read or fetched"
            )
        node: Any = self._document.data
        for part in _pointer_parts(ref) if ref != "#" else []:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise self.error(f"$ref {ref!r} points at nothing")
        return node

    def follow(self, node: Any) -> Any:
        """``node``, or what its ``$ref`` (and theirs, in turn) points at."""
        seen: set[str] = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                raise self.error(f"$ref {ref!r} refers to itself")
            seen.add(ref)
            node = self.lookup(ref)
        return node

    def schema(self, node: Any, stack: tuple[str, ...] = ()) -> Any:
        """``node`` as JSON Schema, its references inlined."""
        if isinstance(node, bool):
            return node
        if not isinstance(node, dict):
            raise self.error(f"a schema must be a mapping, not {type(node).__name__}")
        if "$ref" in node:
            ref = node["$ref"]
            target = self.lookup(ref)
            if ref in stack or self._budget <= 0:
                return {}
            self._budget -= 1
            inlined = self.schema(target, (*stack, ref))
            if isinstance(inlined, dict) and isinstance(node.get("description"), str):
                inlined = {**inlined, "description": node["description"]}
            return inlined
        converted: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROPPED:
                continue
            if key in _ONE and isinstance(value, dict | bool):
                converted[key] = self.schema(value, stack)
            elif key in _ONE | _MANY and isinstance(value, list):
                converted[key] = [self.schema(item, stack) for item in value]
            elif key in _NAMED and isinstance(value, dict):
                converted[key] = {name: self.schema(sub, stack) for name, sub in value.items()}
            else:
                converted[key] = copy.deepcopy(value)
        _exclusive_bounds(converted)
        if node.get("nullable") is True:
            _allow_null(converted)
        return converted


def _exclusive_bounds(schema: dict[str, Any]) -> None:
    """OpenAPI 3.0 (draft 4) ``exclusiveMinimum: true`` + ``minimum`` to JSON Schema's."""
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = schema.get(exclusive)
        if isinstance(flag, bool):
            del schema[exclusive]
            if flag and bound in schema:
                schema[exclusive] = schema.pop(bound)


def _allow_null(schema: dict[str, Any]) -> None:
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        schema["type"] = [*kind, "null"]
    if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
