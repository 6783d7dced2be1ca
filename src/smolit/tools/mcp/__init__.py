"""The built-in ``mcp`` tool source: every tool of one or more MCP servers.

A server is reached over stdio (a command this process starts) or streamable HTTP (a
URL, through the egress policy), with the official ``mcp`` SDK. The factory starts each
server once and lists its tools (so their specs are known), and the tools of a server
share its connection (``smolit.tools.mcp.server``). ``mcp_tools`` is the ``smolit.tools``
entry point ``mcp``; ``smolit.tools.mcp.settings`` shows the settings.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TextIO

from mcp import StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from smolit.errors import ConfigError, EgressDeniedError
from smolit.security.egress import EgressPolicy
from smolit.tools.base import Tool
from smolit.tools.context import ToolContext
from smolit.tools.http.settings import SecretHeader
from smolit.tools.mcp.connection import TransportFactory
from smolit.tools.mcp.egress_bridge import egress_http_client
from smolit.tools.mcp.naming import ToolNames
from smolit.tools.mcp.server import McpServer, ServerOptions
from smolit.tools.mcp.settings import McpSettings, ServerSettings, parse_settings
from smolit.tools.mcp.tool import McpTool
from smolit.tools.secret_refs import resolve_secret

NAME = "mcp"

__all__ = ["NAME", "McpServer", "McpTool", "build_mcp_servers", "mcp_tools"]


def _values(
    values: Mapping[str, str | SecretHeader], where: str, context: ToolContext
) -> tuple[dict[str, str], list[str]]:
    """Settings values with their secret references resolved, and the secret values."""
    resolved: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in values.items():
        if isinstance(value, str):
            resolved[key] = value
            continue
        secret = resolve_secret(value.secret, field=f"{where}.{key}", context=context)
        resolved[key] = value.render(secret)
        secrets.append(secret)
    return resolved, secrets


def _command(server: ServerSettings, where: str, context: ToolContext) -> str:
    command = server.command or ""
    if os.sep in command or (os.altsep is not None and os.altsep in command):
        path = context.resolve_path(command)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ConfigError(
                f"{where}.command: {str(path)!r} is not an executable file",
                details={"settings": [f"{where}.command"]},
            )
        return str(path)
    found = shutil.which(command)
    if found is None:
        raise ConfigError(
            f"{where}.command: {command!r} is not found on PATH",
            details={"settings": [f"{where}.command"]},
        )
    return found


def _stdio(server: ServerSettings, where: str, context: ToolContext) -> tuple[Any, list[str]]:
    env, secrets = _values(server.env, f"{where}.env", context)
    cwd = context.resolve_path(server.cwd) if server.cwd is not None else context.base_dir
    if cwd is not None and not cwd.is_dir():
        raise ConfigError(
            f"{where}.cwd: {str(cwd)!r} is not a directory", details={"settings": [f"{where}.cwd"]}
        )
    params = StdioServerParameters(
        command=_command(server, where, context), args=server.args, env=env, cwd=cwd
    )

    def make(errlog: TextIO | None) -> AbstractAsyncContextManager[Any]:
        return stdio_client(params, errlog=errlog or sys.stderr)

    return make, secrets


@asynccontextmanager
async def _http_session(
    url: str, egress: EgressPolicy, timeout_s: float, headers: dict[str, str]
) -> AsyncIterator[Any]:
    async with (
        egress_http_client(egress, timeout_s=timeout_s, headers=headers) as http_client,
        streamable_http_client(url, http_client=http_client) as streams,
    ):
        yield streams


def _http(
    server: ServerSettings, where: str, context: ToolContext, timeout_s: float
) -> tuple[TransportFactory, list[str]]:
    url = server.url or ""
    try:
        context.egress.check_url(url)
    except EgressDeniedError as exc:
        raise ConfigError(
            f"{where}.url: refused by the egress policy: {exc.message}",
            details={"settings": [f"{where}.url"], "rule": exc.details.get("rule")},
        ) from None
    headers, secrets = _values(server.headers, f"{where}.headers", context)
    egress = context.egress

    def make(_errlog: TextIO | None) -> AbstractAsyncContextManager[Any]:
        return _http_session(url, egress, timeout_s, headers)

    return make, secrets


def _server(
    index: int, server: ServerSettings, parsed: McpSettings, context: ToolContext, names: ToolNames
) -> McpServer:
    where = f"servers[{index}]"
    call_timeout_s = server.timeout_s or context.limits.timeout_s
    if server.transport == "stdio":
        make, secrets = _stdio(server, where, context)
    else:
        make, secrets = _http(server, where, context, parsed.connect_timeout_s)
    options = ServerOptions(
        name=server.name,
        make_transport=make,
        stdio=server.transport == "stdio",
        prefix=server.tool_prefix(),
        call_timeout_s=call_timeout_s,
        connect_timeout_s=parsed.connect_timeout_s,
        select=frozenset(server.tools) if server.tools is not None else None,
        idempotent=server.idempotent,
        known_secrets=tuple(sorted({*context.secrets.known_values(), *secrets}, key=len)),
    )
    return McpServer(options, names)


def _check_selection(index: int, server: ServerSettings, made: McpServer) -> None:
    if server.tools is None:
        return
    offered = {tool.mcp_name for tool in made.tools()}
    missing = [name for name in server.tools if name not in offered]
    if missing:
        raise ConfigError(
            f"servers[{index}].tools: the server offers no tool {missing[0]!r}; it offers: "
            f"{', '.join(sorted(offered)) or 'none'}",
            details={"settings": [f"servers[{index}].tools"], "server": server.name},
        )


def build_mcp_servers(settings: Mapping[str, Any], context: ToolContext) -> list[McpServer]:
    """The servers of one ``mcp`` settings entry, started, their tools listed; a
    ``ConfigError`` naming the setting or saying why a server cannot start (the servers
    started so far are closed then)."""
    parsed = parse_settings(settings)
    names = ToolNames()
    servers: list[McpServer] = []
    try:
        for index, server in enumerate(parsed.servers):
            made = _server(index, server, parsed, context, names)
            servers.append(made)
            made.start_sync()
            _check_selection(index, server, made)
    except BaseException:
        for made in servers:
            made.close_sync()
        raise
    return servers


def mcp_tools(settings: Mapping[str, Any], context: ToolContext) -> list[Tool]:
    """The ``smolit.tools`` factory ``mcp``: the tools of the servers of ``settings``."""
    return [tool for server in build_mcp_servers(settings, context) for tool in server.tools()]
