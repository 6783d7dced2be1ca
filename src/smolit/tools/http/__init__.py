"""The built-in ``http`` tool source: operations of a REST API as tools.

Operations are declared one by one in the settings, or imported from an OpenAPI 3
document (a file or a URL), or both (``smolit.tools.http.settings`` shows the shape).
Every request goes through the context's egress policy; header values may come from
secrets by allowlisted name, and those values are masked in everything a call returns.
``http_tools`` is the ``smolit.tools`` entry point ``http``; ``build_http_tools`` is the
same with the retry wait and the clock injectable (tests).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

from smolit.errors import ConfigError
from smolit.tools.base import Tool, ToolSpec
from smolit.tools.context import ToolContext
from smolit.tools.http.declared import declared_operation
from smolit.tools.http.endpoint import Endpoint, check_template
from smolit.tools.http.openapi import openapi_operations
from smolit.tools.http.openapi_document import load_document
from smolit.tools.http.settings import HttpSettings, SecretHeader, parse_settings
from smolit.tools.http.tool import CallOptions, HttpTool, Sleep
from smolit.tools.secret_refs import resolve_secret

NAME = "http"

__all__ = ["NAME", "CallOptions", "HttpTool", "build_http_tools", "http_tools"]


@dataclasses.dataclass(frozen=True)
class _Headers:
    values: dict[str, str]
    secret_names: frozenset[str]
    secret_values: frozenset[str]


def _resolve_headers(
    headers: Mapping[str, str | SecretHeader], where: str, context: ToolContext
) -> _Headers:
    values: dict[str, str] = {}
    secret_names: set[str] = set()
    secret_values: set[str] = set()
    for name, value in headers.items():
        if isinstance(value, str):
            values[name] = value
            continue
        secret = resolve_secret(value.secret, field=f"{where}.{name}", context=context)
        values[name] = value.render(secret)
        secret_names.add(name.lower())
        secret_values.add(secret)
    return _Headers(values, frozenset(secret_names), frozenset(secret_values))


def _merged(common: _Headers, own: _Headers) -> _Headers:
    overridden = {name.lower() for name in own.values}
    values = {k: v for k, v in common.values.items() if k.lower() not in overridden}
    values.update(own.values)
    names = (common.secret_names - overridden) | own.secret_names
    return _Headers(values, names, common.secret_values | own.secret_values)


def _operations(
    settings: HttpSettings, context: ToolContext, timeout_s: float
) -> list[tuple[ToolSpec, Endpoint, _Headers]]:
    if settings.base_url is not None:
        check_template(settings.base_url, where="base_url")
    common = _resolve_headers(settings.headers, "headers", context)
    made: list[tuple[ToolSpec, Endpoint, _Headers]] = []
    base = settings.base_url
    if settings.openapi is not None:
        document = load_document(
            settings.openapi, context, max_bytes=settings.openapi_max_bytes, timeout_s=timeout_s
        )
        base, imported = openapi_operations(
            document,
            base_url_override=base,
            prefix=settings.prefix,
            select=settings.operation_names(),
        )
        made.extend((spec, endpoint, common) for spec, endpoint in imported)
    for index, operation in settings.declared():
        spec, endpoint = declared_operation(index, operation, base_url=base, prefix=settings.prefix)
        own = _resolve_headers(operation.headers, f"operations[{index}].headers", context)
        made.append((spec, endpoint, _merged(common, own) if own.values else common))
    names = [spec.name for spec, _, _ in made]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(
            f"operations: two operations are called {twice[0]!r}; tool names must be unique",
            details={"settings": ["operations"], "tool": twice[0]},
        )
    return made


def build_http_tools(
    settings: Mapping[str, Any],
    context: ToolContext,
    *,
    sleep: Sleep = asyncio.sleep,
    now: Callable[[], float] = time.time,
) -> list[Tool]:
    """The tools of one ``http`` settings entry; a ``ConfigError`` naming the setting."""
    parsed = parse_settings(settings)
    timeout_s = parsed.timeout_s or context.limits.timeout_s
    options = CallOptions(
        timeout_s=timeout_s,
        max_response_bytes=min(
            parsed.max_response_bytes or context.limits.max_result_bytes,
            context.egress.max_response_bytes,
        ),
        retries=parsed.retries,
        backoff_s=parsed.backoff_s,
        max_retry_after_s=parsed.max_retry_after_s,
    )
    made = _operations(parsed, context, timeout_s)
    tools: list[Tool] = []
    for spec, endpoint, headers in made:
        endpoint = dataclasses.replace(
            endpoint, headers=headers.values, secret_headers=headers.secret_names
        )
        tools.append(
            HttpTool(
                spec,
                endpoint,
                options,
                context,
                secret_values=headers.secret_values,
                sleep=sleep,
                now=now,
            )
        )
    return tools


def http_tools(settings: Mapping[str, Any], context: ToolContext) -> list[Tool]:
    """The ``smolit.tools`` factory ``http``: one REST API's operations as tools."""
    return build_http_tools(settings, context)
