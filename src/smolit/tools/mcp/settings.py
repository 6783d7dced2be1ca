"""The settings of the ``mcp`` tool factory, validated (unknown keys are errors).

One ``mcp`` entry names one or more MCP servers::

    servers:
      - name: files                       # tool names start with "files_"
        transport: stdio                  # the default
        command: npx                      # on PATH, or a path (relative: to the config file)
        args: ["-y", "@modelcontextprotocol/server-filesystem", "/srv/docs"]
        env:                              # added to a minimal environment (PATH, HOME, ...)
          LOG_LEVEL: info
          API_TOKEN: {secret: FILES_TOKEN}
      - name: search
        transport: streamable_http
        url: https://mcp.example.com/mcp
        headers:
          Authorization: {secret: SEARCH_TOKEN, format: "Bearer {}"}
        tools: [search, fetch]            # only these tools of the server (default: all)

``check_settings`` adds what the models cannot say: which fields each transport needs and
takes, and that server names are unique. Errors name the setting, never its value.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from smolit.config import ENV_NAME_PATTERN
from smolit.errors import ConfigError
from smolit.tools.http.settings import Headers, HeaderValue, settings_error

#: a server's name starts its tools' names, so it keeps to their characters
SERVER_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,31}$"
TRANSPORTS = ("stdio", "streamable_http")
_STDIO_ONLY: tuple[str, ...] = ("command", "args", "env", "cwd")
_HTTP_ONLY: tuple[str, ...] = ("url", "headers")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Model):
    """One MCP server: how to reach it and which of its tools to offer."""

    name: str = Field(pattern=SERVER_NAME_PATTERN)
    transport: Literal["stdio", "streamable_http"] = "stdio"
    # stdio
    command: str | None = Field(None, min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[Annotated[str, Field(pattern=ENV_NAME_PATTERN)], HeaderValue] = Field(
        default_factory=dict
    )
    cwd: str | None = Field(None, min_length=1)
    # streamable_http
    url: str | None = Field(None, min_length=1)
    headers: Headers = Field(default_factory=dict)
    # both
    prefix: str | None = Field(
        None, pattern=r"^[a-zA-Z0-9_-]{0,32}$", description="before tool names; default name_"
    )
    tools: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None, description="the server's tools to offer, by their MCP name; default: all"
    )
    idempotent: bool | None = Field(
        None, description="calls are safe to repeat; default: from each tool's annotations"
    )
    timeout_s: float | None = Field(
        None, gt=0, le=3600, description="one call; default: the tools' call timeout"
    )

    def tool_prefix(self) -> str:
        return f"{self.name}_" if self.prefix is None else self.prefix


class McpSettings(_Model):
    """The servers of one ``mcp`` entry and how long starting one may take."""

    servers: list[ServerSettings] = Field(min_length=1)
    connect_timeout_s: float = Field(30.0, gt=0, le=600)


def _check_server(index: int, server: ServerSettings) -> None:
    where = f"servers[{index}]"
    needed, foreign = (
        ("command", _HTTP_ONLY) if server.transport == "stdio" else ("url", _STDIO_ONLY)
    )
    if getattr(server, needed) is None:
        raise ConfigError(
            f"{where}.{needed}: required for transport {server.transport!r}",
            details={"settings": [f"{where}.{needed}"]},
        )
    given = [name for name in foreign if name in server.model_fields_set]
    if given:
        raise ConfigError(
            f"{where}.{given[0]}: not a setting of transport {server.transport!r}",
            details={"settings": [f"{where}.{name}" for name in given]},
        )


def parse_settings(settings: Any) -> McpSettings:
    """``settings`` validated; a ``ConfigError`` naming each wrong setting."""
    try:
        parsed = McpSettings.model_validate(settings)
    except PydanticValidationError as exc:
        raise settings_error(exc) from None
    seen: set[str] = set()
    for index, server in enumerate(parsed.servers):
        _check_server(index, server)
        if server.name in seen:
            raise ConfigError(
                f"servers[{index}].name: two servers are called {server.name!r}",
                details={"settings": [f"servers[{index}].name"]},
            )
        seen.add(server.name)
    return parsed
