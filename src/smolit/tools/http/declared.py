"""Operations declared one by one in the ``http`` settings, as tool specs and endpoints."""

from __future__ import annotations

from typing import Any

from smolit.errors import ConfigError
from smolit.tools.base import ToolSpec
from smolit.tools.http.endpoint import (
    RESERVED_HEADERS,
    Binding,
    Endpoint,
    Location,
    join_url,
    placeholders,
)
from smolit.tools.http.settings import OperationSettings, ParameterSettings

#: methods that send no body
BODILESS = frozenset({"GET", "HEAD"})


def _location(
    where: str, name: str, parameter: ParameterSettings, in_url: set[str], method: str
) -> Location:
    location = parameter.location or ("path" if name in in_url else "query")
    if name in in_url and location != "path":
        raise ConfigError(
            f"{where}: the URL holds {{{name}}}, so the parameter must be in: path",
            details={"settings": [where]},
        )
    if location == "path" and name not in in_url:
        raise ConfigError(
            f"{where}: in: path, but the URL has no {{{name}}}", details={"settings": [where]}
        )
    if location == "header" and name.lower() in RESERVED_HEADERS:
        raise ConfigError(
            f"{where}: {name!r} is a header of the connection, not an argument",
            details={"settings": [where]},
        )
    if location == "body" and method in BODILESS:
        raise ConfigError(
            f"{where}: a {method} request sends no body; use in: query",
            details={"settings": [where]},
        )
    return location


def declared_operation(
    index: int, operation: OperationSettings, *, base_url: str | None, prefix: str
) -> tuple[ToolSpec, Endpoint]:
    """The spec and endpoint of ``operation`` (``operations[index]``), fixed headers aside."""
    where = f"operations[{index}]"
    url = join_url(base_url, operation.url, where=f"{where}.url")
    in_url = set(placeholders(url))
    undeclared = sorted(in_url - set(operation.parameters))
    if undeclared:
        raise ConfigError(
            f"{where}.url: {{{undeclared[0]}}} is not one of the operation's parameters",
            details={"settings": [f"{where}.url"]},
        )
    properties: dict[str, Any] = {}
    required: list[str] = []
    bindings: list[Binding] = []
    for name, parameter in operation.parameters.items():
        place = f"{where}.parameters.{name}"
        location = _location(place, name, parameter, in_url, operation.method)
        bindings.append(Binding(name, location, name))
        properties[name] = parameter.json_schema()
        if parameter.required or location == "path":
            required.append(name)
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        parameters["required"] = required
    spec = ToolSpec(
        name=prefix + operation.name,
        description=operation.description,
        parameters=parameters,
        examples=tuple(operation.examples),
        idempotent=operation.is_idempotent(),
    )
    return spec, Endpoint(method=operation.method, url=url, bindings=tuple(bindings))
