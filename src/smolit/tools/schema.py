"""Tool arguments checked against the tool's JSON Schema.

``ArgumentSchema`` checks a schema once, when a tool spec is built (a ``ConfigError`` names
the problem), and then turns each schema-invalid call into readable problems such as
``arguments.city: 'x' is not of type 'integer'``, never an exception.

The dialect is the one ``$schema`` names (drafts 4, 6, 7, 2019-09 and 2020-12), Draft
2020-12 when it names none. ``$ref`` resolves inside the schema (and to the drafts'
meta-schemas) only: nothing is retrieved, so a schema cannot make the server send a
request, and a ``$ref`` that resolves to nothing is a ``ConfigError`` at construction.
``format`` is an annotation, not checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import jsonschema_specifications
from jsonschema import exceptions as schema_exceptions
from jsonschema import validators
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012, specification_with

from smolit.errors import ConfigError

#: validator classes by the ``$schema`` URI that selects them (without a trailing ``#``)
_DIALECTS: dict[str, Any] = {
    cls.META_SCHEMA["$schema"].rstrip("#"): cls
    for cls in (
        validators.Draft202012Validator,
        validators.Draft201909Validator,
        validators.Draft7Validator,
        validators.Draft6Validator,
        validators.Draft4Validator,
    )
}
#: at most this many problems are listed for one call; the rest are counted
MAX_PROBLEMS = 5
#: a problem's message is cut to this many characters (it quotes the offending value)
MAX_MESSAGE_CHARS = 300
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _validator_class(schema: dict[str, Any], where: str) -> Any:
    dialect = schema.get("$schema")
    if dialect is None:
        return validators.Draft202012Validator
    cls = _DIALECTS.get(dialect.rstrip("#")) if isinstance(dialect, str) else None
    if cls is None:
        raise ConfigError(
            f"{where}: unsupported $schema {dialect!r}; use one of {', '.join(_DIALECTS)}",
            details={"schema": dialect},
        )
    return cls


def _resource_refs(resolver: Any, resource: Resource[Any]) -> Iterator[tuple[Any, str]]:
    """Every ``$ref`` of ``resource`` and its subschemas, with the resolver in its scope."""
    contents = resource.contents
    if isinstance(contents, dict) and isinstance(contents.get("$ref"), str):
        yield resolver, contents["$ref"]
    for subresource in resource.subresources():
        yield from _resource_refs(resolver.in_subresource(subresource), subresource)


def _check_refs(schema: dict[str, Any], where: str) -> None:
    resource = specification_with(
        str(schema.get("$schema", "")), default=DRAFT202012
    ).create_resource(schema)
    registry: Registry[Any] = jsonschema_specifications.REGISTRY
    resolver = registry.resolver_with_root(resource)
    for scope, ref in _resource_refs(resolver, resource):
        try:
            scope.lookup(ref)
        except Unresolvable as exc:
            raise ConfigError(
                f"{where}: $ref {ref!r} resolves to nothing; references must point inside "
                "the schema (nothing is retrieved)",
                details={"ref": ref},
            ) from exc


def argument_path(path: Iterable[str | int]) -> str:
    """``arguments.city``, ``arguments.stops[2]``, ``arguments["odd key"]``."""
    text = "arguments"
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}"
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text


def _shorten(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 1] + "…"


class ArgumentSchema:
    """A tool's checked JSON Schema for its arguments (an object schema)."""

    def __init__(self, schema: dict[str, Any], *, tool: str) -> None:
        where = f"tool {tool!r} parameters"
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise ConfigError(
                f'{where}: must be a JSON Schema with "type": "object"',
                details={"tool": tool},
            )
        cls = _validator_class(schema, where)
        try:
            cls.check_schema(schema)
        except schema_exceptions.SchemaError as exc:
            location = "".join(f"[{json.dumps(p)}]" for p in exc.absolute_path)
            raise ConfigError(
                f"{where}{location}: not a valid JSON Schema: {_shorten(exc.message)}",
                details={"tool": tool},
            ) from exc
        _check_refs(schema, where)
        self.schema = schema
        # an empty registry: jsonschema adds the meta-schemas and retrieves nothing
        self._validator = cls(schema, registry=Registry())

    def problems(self, arguments: Any) -> list[str]:
        """What is wrong with ``arguments``, one readable line each; empty when valid."""
        try:
            # one more than shown, to say that there are more without finding them all
            errors = list(islice(self._validator.iter_errors(arguments), MAX_PROBLEMS + 1))
        except Unresolvable as exc:  # a $dynamicRef the construction check cannot follow
            return [f"the schema cannot be applied: {exc}"]
        found = [
            f"{argument_path(error.absolute_path)}: {_shorten(error.message)}"
            for error in errors[:MAX_PROBLEMS]
        ]
        if len(errors) > MAX_PROBLEMS:
            found.append("and more")
        return found
