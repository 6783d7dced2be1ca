"""The operations of an OpenAPI 3 document as tool specs and endpoints.

Each operation becomes one tool:

- **name**: its ``operationId``, or ``<method>_<path>``, with anything but letters,
  digits, ``_`` and ``-`` replaced by ``_``, after the ``prefix``, at most 64 characters
  (a second operation with the same name gets ``_2``, and so on);
- **description**: its ``summary`` and ``description`` (``GET /path`` when it has none);
- **arguments**: its path, query and header parameters (the path item's too; a name
  used twice becomes ``<in>_<name>`` the second time), and a JSON request body: an object
  body's properties become arguments when none clashes with a parameter, otherwise the
  whole body is the ``body`` argument;
- **idempotent**: true for GET, HEAD, OPTIONS and PUT, or as ``x-idempotent`` says.

The base URL is ``base_url`` from the settings, or the document's ``servers[0].url``
(its variables at their defaults; a relative one is resolved against the document's URL).
An operation this module cannot call (a required cookie parameter, a required body that
is not JSON) is left out with a warning, and naming it in ``operations`` is an error.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from smolit.errors import ConfigError
from smolit.tools.base import ToolSpec
from smolit.tools.http.endpoint import RESERVED_HEADERS, Binding, Endpoint, join_url, placeholders
from smolit.tools.http.openapi_document import Document, References
from smolit.tools.http.settings import IDEMPOTENT_METHODS

logger = logging.getLogger(__name__)

METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
MAX_DESCRIPTION_CHARS = 1024
MAX_NAME_CHARS = 64
#: header parameters OpenAPI says to ignore: the request's own headers set them
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
_INVALID_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


class _Skip(Exception):
    """An operation that cannot be called, and why."""


@dataclass
class _Arguments:
    properties: dict[str, Any] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)

    def add(self, binding: Binding, schema: Any, *, required: bool) -> None:
        self.properties[binding.argument] = schema
        self.bindings.append(binding)
        if required:
            self.required.append(binding.argument)

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": self.properties,
            "additionalProperties": False,
        }
        if self.required:
            schema["required"] = self.required
        return schema


def tool_name(text: str) -> str:
    """``text`` with every run of characters a tool name cannot hold replaced by ``_``."""
    return re.sub("_{2,}", "_", _INVALID_NAME_CHARS.sub("_", text)).strip("_") or "operation"


def base_url(document: Document, override: str | None) -> str:
    """Where the operations' paths are: the override, else ``servers[0].url``."""
    if override is not None:
        return override
    servers = document.data.get("servers")
    server = servers[0] if isinstance(servers, list) and servers else {"url": "/"}
    url = server.get("url") if isinstance(server, dict) else None
    if not isinstance(url, str):
        raise ConfigError(
            f"openapi {document.name}: servers[0].url must be a string",
            details={"settings": ["openapi"]},
        )
    variables = server.get("variables") or {}
    for name, variable in variables.items() if isinstance(variables, dict) else ():
        if isinstance(variable, dict) and "default" in variable:
            url = url.replace("{" + str(name) + "}", str(variable["default"]))
    if url.startswith(("http://", "https://")):
        return url
    if document.url is None:
        raise ConfigError(
            f"openapi {document.name}: servers[0].url {url!r} is not an absolute URL; set base_url",
            details={"settings": ["base_url"]},
        )
    return urljoin(document.url, url)


def _description(operation: dict[str, Any], method: str, path: str) -> str:
    parts = [
        text.strip()
        for text in (operation.get("summary"), operation.get("description"))
        if isinstance(text, str) and text.strip()
    ]
    if len(parts) == 2 and parts[1].startswith(parts[0]):
        parts = parts[1:]
    text = "\n\n".join(parts) or f"{method.upper()} {path}"
    return text if len(text) <= MAX_DESCRIPTION_CHARS else text[: MAX_DESCRIPTION_CHARS - 1] + "…"


def _json_media(content: Any) -> dict[str, Any] | None:
    if not isinstance(content, dict):
        return None
    for media, value in content.items():
        kind = str(media).split(";")[0].strip().lower()
        if kind == "application/json" or kind.endswith("+json"):
            return value if isinstance(value, dict) else {}
    return None


class _Converter:
    """One document's operations, converted."""

    def __init__(self, document: Document, *, base: str, prefix: str) -> None:
        self.document = document
        self.refs = References(document)
        self.base = base
        self.prefix = prefix

    def parameters(self, common: Any, own: Any) -> list[dict[str, Any]]:
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in [*(common or []), *(own or [])]:
            parameter = self.refs.follow(entry)
            if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
                raise self.refs.error("a parameter needs a name")
            merged[(parameter["name"], str(parameter.get("in")))] = parameter
        return list(merged.values())

    def parameter_schema(self, parameter: dict[str, Any]) -> Any:
        if "schema" in parameter:
            schema = self.refs.schema(parameter["schema"])
        else:
            media = _json_media(parameter.get("content")) or {}
            schema = self.refs.schema(media.get("schema", {}))
        description = parameter.get("description")
        if isinstance(schema, dict) and isinstance(description, str) and description.strip():
            schema = {**schema, "description": schema.get("description") or description}
        return schema

    def add_parameters(self, arguments: _Arguments, parameters: list[dict[str, Any]]) -> None:
        for parameter in parameters:
            name, where = parameter["name"], parameter.get("in")
            required = bool(parameter.get("required")) or where == "path"
            if where == "header" and name.lower() in _IGNORED_HEADERS:
                continue
            if where == "cookie" or (where == "header" and name.lower() in RESERVED_HEADERS):
                if required:
                    raise _Skip(f"it needs the {where} parameter {name!r}")
                continue
            if where not in ("path", "query", "header"):
                raise self.refs.error(f"parameter {name!r}: unknown location in: {where!r}")
            argument = name if name not in arguments.properties else f"{where}_{name}"
            if argument in arguments.properties:
                raise _Skip(f"two parameters are called {argument!r}")
            schema = self.parameter_schema(parameter)
            arguments.add(Binding(argument, where, name), schema, required=required)

    def add_body(self, arguments: _Arguments, body: Any) -> None:
        body = self.refs.follow(body)
        if not isinstance(body, dict):
            return
        required = bool(body.get("required"))
        media = _json_media(body.get("content"))
        if media is None:
            if required:
                raise _Skip("its request body is not JSON")
            return
        schema = self.refs.schema(media.get("schema", {}))
        properties = schema.get("properties") if isinstance(schema, dict) else None
        if (
            isinstance(properties, dict)
            and properties
            and schema.get("type", "object") == "object"
            and not set(properties) & set(arguments.properties)
        ):
            needed = set(schema.get("required") or []) if required else set()
            for name, sub in properties.items():
                binding = Binding(name, "body", name)
                arguments.add(binding, sub, required=name in needed)
            return
        argument = next(
            (n for n in ("body", "request_body") if n not in arguments.properties), None
        )
        if argument is None:
            raise _Skip("its parameters take both names for the body: body, request_body")
        arguments.add(Binding(argument, "body_value", ""), schema, required=required)

    def operation(
        self, name: str, path: str, method: str, operation: dict[str, Any], common: Any
    ) -> tuple[ToolSpec, Endpoint]:
        """The spec and endpoint of one operation; ``_Skip`` when it cannot be called."""
        arguments = _Arguments()
        self.add_parameters(arguments, self.parameters(common, operation.get("parameters")))
        if "requestBody" in operation:
            self.add_body(arguments, operation["requestBody"])
        where = f"openapi {self.document.name}: operation {name!r}"
        url = join_url(self.base, path, where=where)
        in_path = {b.wire_name for b in arguments.bindings if b.location == "path"}
        missing = sorted(set(placeholders(path)) - in_path)
        if missing:
            raise self.refs.error(
                f"operation {name!r}: the path {path!r} holds {{{missing[0]}}}, which no "
                "path parameter declares"
            )
        flag = operation.get("x-idempotent")
        idempotent = flag if isinstance(flag, bool) else method.upper() in IDEMPOTENT_METHODS
        try:
            spec = ToolSpec(
                name=name,
                description=_description(operation, method, path),
                parameters=arguments.schema(),
                idempotent=idempotent,
            )
        except ConfigError as exc:
            raise self.refs.error(f"operation {name!r}: {exc.message}") from exc
        endpoint = Endpoint(method=method.upper(), url=url, bindings=tuple(arguments.bindings))
        return spec, endpoint


def _operations(document: Document, refs: References) -> list[tuple[str, str, dict[str, Any], Any]]:
    found = []
    for path, item in document.data.get("paths", {}).items():
        item = refs.follow(item)
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                found.append((str(path), method, operation, item.get("parameters")))
    return found


def _names(
    operations: list[tuple[str, str, dict[str, Any], Any]], prefix: str
) -> list[tuple[str, str]]:
    """(tool name, the name ``operations:`` may select it by) of each operation."""
    taken: set[str] = set()
    names = []
    for path, method, operation, _ in operations:
        given = operation.get("operationId")
        key = given if isinstance(given, str) and given else f"{method}_{path}"
        base = (prefix + tool_name(key))[:MAX_NAME_CHARS]
        name, count = base, 1
        while name in taken:
            count += 1
            suffix = f"_{count}"
            name = base[: MAX_NAME_CHARS - len(suffix)] + suffix
        taken.add(name)
        names.append((name, key))
    return names


def _selected(
    wanted: list[str], found: dict[str, str], skipped: dict[str, str], where: str
) -> set[str]:
    """The tool names the ``operations:`` names select."""
    chosen = set()
    for entry in wanted:
        name = found.get(entry)
        if name is None:
            known = ", ".join(sorted(found)[:20])
            raise ConfigError(
                f"operations: {entry!r} is not an operation of openapi {where}; it has {known}",
                details={"settings": ["operations"], "operation": entry},
            )
        if name in skipped:
            raise ConfigError(
                f"operations: {entry!r} of openapi {where} cannot be called: {skipped[name]}",
                details={"settings": ["operations"], "operation": entry},
            )
        chosen.add(name)
    return chosen


def openapi_operations(
    document: Document, *, base_url_override: str | None, prefix: str, select: list[str]
) -> tuple[str, list[tuple[ToolSpec, Endpoint]]]:
    """The base URL of ``document``'s operations (``base_url_override`` if given), and
    its callable operations (those ``select`` names; all if it names none)."""
    operations = _operations(document, References(document))
    if not operations:
        raise ConfigError(
            f"openapi {document.name}: the document has no operations",
            details={"settings": ["openapi"]},
        )
    base = base_url(document, base_url_override)
    converter = _Converter(document, base=base, prefix=prefix)
    made: dict[str, tuple[ToolSpec, Endpoint]] = {}
    skipped: dict[str, str] = {}
    found: dict[str, str] = {}
    for (name, key), (path, method, operation, common) in zip(
        _names(operations, prefix), operations, strict=True
    ):
        found[key] = found[name.removeprefix(prefix)] = name
        try:
            made[name] = converter.operation(name, path, method, operation, common)
        except _Skip as reason:
            skipped[name] = str(reason)
            logger.warning("openapi %s: operation %r left out: %s", document.name, name, reason)
    chosen = _selected(select, found, skipped, document.name) if select else set(made)
    if not chosen:
        raise ConfigError(
            f"openapi {document.name}: none of its operations can be called "
            f"({'; '.join(f'{n}: {r}' for n, r in list(skipped.items())[:3])})",
            details={"settings": ["openapi"]},
        )
    return base, [made[name] for name in made if name in chosen]
