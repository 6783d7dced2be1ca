"""Tool factories by name, fed by the ``smolit.tools`` entry-point group.

A tool factory is any callable that takes the settings the configuration gives it and
a ``ToolContext`` (the egress policy, the secret store, the default call limits), and
returns the tools it makes (the ``ToolFactory`` protocol)::

    def factory(settings: Mapping[str, Any], context: ToolContext, /) -> Tool | Sequence[Tool]

One factory may make many tools (every operation of an OpenAPI document, every tool of an
MCP server). Settings the factory does not understand, and anything else it cannot work
with, are a ``ConfigError`` it raises; any other exception it raises is turned into one.

The built-in factories are registered through the same entry-point group third-party
packages use; a package adds tools without touching this repository::

    # pyproject.toml of the package
    [project.entry-points."smolit.tools"]
    weather = "weather_tools:make_tools"

``ToolFactories.register`` adds a factory from code (tests, embedding applications).
Entry points are imported on first lookup, not when the factories are listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import EntryPoint
from typing import Any, Protocol

from smolit.errors import ConfigError, SmolitError
from smolit.plugins import EntryPointRegistry
from smolit.tools.base import Tool
from smolit.tools.context import ToolContext

ENTRY_POINT_GROUP = "smolit.tools"


class ToolFactory(Protocol):
    """Makes tools from their settings and the context: one ``Tool`` or a sequence."""

    def __call__(
        self, settings: Mapping[str, Any], context: ToolContext, /
    ) -> Tool | Sequence[Tool]: ...


def _made_tools(name: str, made: object) -> list[Tool]:
    tools = [made] if isinstance(made, Tool) else made
    if isinstance(tools, list | tuple) and all(isinstance(tool, Tool) for tool in tools):
        return list(tools)
    raise ConfigError(
        f"tool factory {name!r} returned {type(made).__name__}, not a Tool or a list of Tools",
        details={"factory": name},
    )


class ToolFactories(EntryPointRegistry[ToolFactory]):
    """Tool factories by name: registered from code, or entry points of ``smolit.tools``.

    ``entry_points`` replaces the installed ones (tests); a name that two entry points or
    two registrations claim is a ``ConfigError``.
    """

    kind = "tool factory"
    detail_key = "factory"
    requirement = "callable"
    unique_entry_points = True

    def __init__(self, entry_points: Iterable[EntryPoint] | None = None) -> None:
        super().__init__(ENTRY_POINT_GROUP, entry_points)

    def accepts(self, item: object) -> bool:
        return callable(item)

    def register(self, name: str, factory: ToolFactory) -> None:
        """Add ``factory`` under ``name``; a name already known is a ``ConfigError``."""
        if not callable(factory):
            raise ConfigError(f"tool factory {name!r}: {factory!r} is not callable")
        with self._lock:
            if name in self._items or name in self._discovered():
                raise ConfigError(
                    f"tool factory {name!r} is already registered", details={"factory": name}
                )
            self._items[name] = factory

    def build(
        self,
        name: str,
        settings: Mapping[str, Any] | None = None,
        context: ToolContext | None = None,
    ) -> list[Tool]:
        """The tools factory ``name`` makes from ``settings`` (none: empty settings) in
        ``context`` (none: ``ToolContext()``, public addresses only and no secrets)."""
        factory = self.get(name)
        try:
            made = factory(dict(settings or {}), context or ToolContext())
        except SmolitError as exc:
            raise ConfigError(
                f"tool factory {name!r}: {exc.message}",
                details={**exc.details, "factory": name, "cause": exc.kind},
            ) from exc
        except Exception as exc:  # a plugin may fail in any way
            raise ConfigError(
                f"tool factory {name!r} failed: {type(exc).__name__}: {exc}",
                details={"factory": name},
            ) from exc
        return _made_tools(name, made)
