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

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, cast

from smolit.errors import ConfigError, SmolitError
from smolit.tools.base import Tool
from smolit.tools.context import ToolContext

logger = logging.getLogger(__name__)

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


class ToolFactories:
    """Tool factories by name: registered from code, or entry points of ``smolit.tools``.

    ``entry_points`` replaces the installed ones (tests); a name that two entry points or
    two registrations claim is a ``ConfigError``.
    """

    def __init__(self, entry_points: Iterable[EntryPoint] | None = None) -> None:
        self._given = None if entry_points is None else tuple(entry_points)
        self._factories: dict[str, ToolFactory] = {}
        self._entry_points: dict[str, EntryPoint] | None = None
        self._lock = threading.Lock()

    def _discovered(self) -> dict[str, EntryPoint]:
        if self._entry_points is None:
            found = entry_points(group=ENTRY_POINT_GROUP) if self._given is None else self._given
            by_name: dict[str, EntryPoint] = {}
            for entry_point in found:
                other = by_name.setdefault(entry_point.name, entry_point)
                if other.value != entry_point.value:
                    raise ConfigError(
                        f"tool factory {entry_point.name!r} is claimed by two entry points: "
                        f"{other.value} and {entry_point.value}",
                        details={"factory": entry_point.name},
                    )
            self._entry_points = by_name
        return self._entry_points

    def register(self, name: str, factory: ToolFactory) -> None:
        """Add ``factory`` under ``name``; a name already known is a ``ConfigError``."""
        if not callable(factory):
            raise ConfigError(f"tool factory {name!r}: {factory!r} is not callable")
        with self._lock:
            if name in self._factories or name in self._discovered():
                raise ConfigError(
                    f"tool factory {name!r} is already registered", details={"factory": name}
                )
            self._factories[name] = factory

    def names(self) -> list[str]:
        """Every factory name, registered or discovered, sorted."""
        with self._lock:
            return sorted(set(self._factories) | set(self._discovered()))

    def get(self, name: str) -> ToolFactory:
        """The factory called ``name``; a ``ConfigError`` naming the known ones if none is."""
        with self._lock:
            if name in self._factories:
                return self._factories[name]
            entry_point = self._discovered().get(name)
        if entry_point is None:
            known = self.names()
            raise ConfigError(
                f"unknown tool factory {name!r}; known: {', '.join(known) or 'none'}",
                details={"factory": name, "known": known},
            )
        factory = self._load(name, entry_point)
        with self._lock:
            return self._factories.setdefault(name, factory)

    @staticmethod
    def _load(name: str, entry_point: EntryPoint) -> ToolFactory:
        try:
            factory = entry_point.load()
        except Exception as exc:  # an entry point may fail in any way while importing
            raise ConfigError(
                f"tool factory {name!r} ({entry_point.value}) cannot be imported: {exc}",
                details={"factory": name, "entry_point": entry_point.value},
            ) from exc
        if not callable(factory):
            raise ConfigError(
                f"tool factory {name!r} ({entry_point.value}) is not callable",
                details={"factory": name, "entry_point": entry_point.value},
            )
        logger.debug("loaded tool factory %r from %s", name, entry_point.value)
        return cast(ToolFactory, factory)

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
