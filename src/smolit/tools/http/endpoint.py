"""An HTTP operation as a tool calls it: method, URL template, where each argument goes.

``Endpoint.request(arguments)`` builds the request: ``{name}`` placeholders in the URL's
path are filled with the URL-quoted argument (every reserved character quoted, ``/``
included, and a value of ``.`` or ``..`` quoted too, so that an argument cannot climb out
of its path segment), query arguments are added to the query string (a list repeats the
key; ``true``/``false`` for booleans; an object as JSON), header arguments become headers,
body arguments the keys of a JSON object body, or the ``body`` argument the whole body.
The operation's fixed headers (those made from secrets included) come last and win.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from smolit.errors import ConfigError

Location = Literal["path", "query", "header", "body", "body_value"]
#: a ``{name}`` placeholder of a URL template
PLACEHOLDER = re.compile(r"\{([^{}/?#]+)\}")
#: headers an argument may not set: they belong to the HTTP connection, not the API
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "trailer"}
)


@dataclass(frozen=True)
class Binding:
    """Argument ``argument`` goes to ``location`` under ``wire_name``."""

    argument: str
    location: Location
    wire_name: str


@dataclass(frozen=True)
class Request:
    """One request, ready for httpx."""

    method: str
    url: str
    params: tuple[tuple[str, str], ...]
    headers: dict[str, str]
    body: Any = None
    has_body: bool = False


def text_value(value: Any) -> str:
    """An argument as text for a URL or a header: JSON spelling for booleans and null,
    JSON for lists and objects."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def quote_segment(value: Any) -> str:
    """``value`` quoted for one path segment: nothing reserved survives, ``..`` neither."""
    text = quote(text_value(value), safe="")
    return text.replace(".", "%2E") if text in (".", "..") else text


def placeholders(template: str) -> list[str]:
    """The placeholder names of ``template``, in order."""
    return PLACEHOLDER.findall(template)


def fill_url(template: str, values: Mapping[str, Any]) -> str:
    """``template`` with each ``{name}`` replaced by the quoted ``values[name]``."""
    return PLACEHOLDER.sub(lambda match: quote_segment(values[match.group(1)]), template)


def join_url(base_url: str | None, url: str, *, where: str) -> str:
    """``url`` if absolute, else ``url`` under ``base_url``; a ``ConfigError`` naming
    ``where`` when neither gives an http(s) URL with a host."""
    if url.startswith(("http://", "https://")):
        joined = url
    elif base_url is None:
        raise ConfigError(
            f"{where}: {url!r} is not an absolute http(s) URL and there is no base_url",
            details={"settings": [where]},
        )
    else:
        joined = base_url.rstrip("/") + "/" + url.lstrip("/")
    check_template(joined, where=where)
    return joined


def check_template(template: str, *, where: str) -> None:
    """Placeholders may stand in the path only, never in the scheme, host or port."""
    origin_end = template.find("/", template.find("//") + 2)
    origin = template if origin_end < 0 else template[:origin_end]
    if PLACEHOLDER.search(origin) or "{" in origin or "}" in origin:
        raise ConfigError(
            f"{where}: placeholders may only stand in the path, not in {origin!r}",
            details={"settings": [where]},
        )
    try:
        parts = urlsplit(PLACEHOLDER.sub("x", template))
    except ValueError as exc:
        raise ConfigError(
            f"{where}: not a valid URL: {exc}", details={"settings": [where]}
        ) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{where}: {template!r} must be an http(s) URL with a host",
            details={"settings": [where]},
        )


@dataclass(frozen=True)
class Endpoint:
    """How one operation turns arguments into a request."""

    method: str
    url: str
    bindings: tuple[Binding, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    #: the names (lower case) of ``headers`` that carry a secret
    secret_headers: frozenset[str] = frozenset()

    def origin(self) -> tuple[str, str, int | None]:
        parts = urlsplit(self.url)
        return parts.scheme, parts.hostname or "", parts.port

    def request(self, arguments: Mapping[str, Any]) -> Request:
        """The request for ``arguments`` (already checked against the tool's schema)."""
        path: dict[str, Any] = {}
        params: list[tuple[str, str]] = []
        headers: dict[str, str] = {}
        body: dict[str, Any] = {}
        whole: tuple[Any] | None = None
        for binding in self.bindings:
            if binding.argument not in arguments:
                continue
            value = arguments[binding.argument]
            if binding.location == "path":
                path[binding.wire_name] = value
            elif binding.location == "query":
                params.extend(_query_pairs(binding.wire_name, value))
            elif binding.location == "header":
                headers[binding.wire_name] = text_value(value)
            elif binding.location == "body":
                body[binding.wire_name] = value
            else:
                whole = (value,)
        fixed = {name.lower() for name in self.headers}
        headers = {k: v for k, v in headers.items() if k.lower() not in fixed}
        headers.update(self.headers)
        if whole is not None:
            return Request(
                self.method, fill_url(self.url, path), tuple(params), headers, whole[0], True
            )
        return Request(
            self.method, fill_url(self.url, path), tuple(params), headers, body, bool(body)
        )


def _query_pairs(name: str, value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, list):
        return [(name, text_value(item)) for item in value if item is not None]
    return [(name, text_value(value))]
