"""``EntryPointRegistry``: things by name, registered from code or found as entry points.

Model backends (``smolit.model_backends``) and tool factories (``smolit.tools``) are both
plugins: built-ins register through the same entry-point group third-party packages use.
The registry lists entry points without importing them, imports one on its first lookup
(an import that fails, or gives the wrong kind of thing, is a ``ConfigError``), and keeps
what it loaded. Subclasses say what they hold (``kind``, ``accepts``) and how
``register`` treats a name already known.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar, cast

from smolit.errors import ConfigError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class EntryPointRegistry(ABC, Generic[T]):
    #: what one entry is, in messages ("model backend"), and its key in error details
    kind = "plugin"
    detail_key = "plugin"
    #: what an entry must be, in messages ("a ModelBackend subclass")
    requirement = "usable"
    #: how the list of known names is introduced in the unknown-name error
    known_label = "known"
    #: two entry points claiming one name with different targets are a ``ConfigError``
    #: (otherwise the last one found wins)
    unique_entry_points = False

    def __init__(self, group: str | None, given: Iterable[EntryPoint] | None = None) -> None:
        """``group``: the entry-point group (None: none); ``given``: these entry points
        instead of the installed ones (tests)."""
        self._group = group
        self._given = None if given is None else tuple(given)
        self._items: dict[str, T] = {}
        self._entry_points: dict[str, EntryPoint] | None = None
        self._lock = threading.Lock()

    @abstractmethod
    def accepts(self, item: object) -> bool:
        """Whether ``item`` is what this registry holds."""

    def _discovered(self) -> dict[str, EntryPoint]:
        if self._entry_points is None:
            if self._given is not None:
                found: Iterable[EntryPoint] = self._given
            else:
                found = entry_points(group=self._group) if self._group else ()
            by_name: dict[str, EntryPoint] = {}
            for entry_point in found:
                other = by_name.get(entry_point.name)
                if self.unique_entry_points and other and other.value != entry_point.value:
                    raise ConfigError(
                        f"{self.kind} {entry_point.name!r} is claimed by two entry points: "
                        f"{other.value} and {entry_point.value}",
                        details={self.detail_key: entry_point.name},
                    )
                if other is None or not self.unique_entry_points:
                    by_name[entry_point.name] = entry_point
            self._entry_points = by_name
        return self._entry_points

    def names(self) -> list[str]:
        """Every name, registered or discovered, sorted."""
        with self._lock:
            return sorted(set(self._items) | set(self._discovered()))

    def get(self, name: str) -> T:
        """The entry called ``name``; a ``ConfigError`` naming the known ones if none is."""
        with self._lock:
            if name in self._items:
                return self._items[name]
            entry_point = self._discovered().get(name)
        if entry_point is None:
            known = self.names()
            raise ConfigError(
                f"unknown {self.kind} {name!r}; {self.known_label}: {', '.join(known) or 'none'}",
                details={self.detail_key: name, "known": known},
            )
        item = self._load(name, entry_point)
        with self._lock:
            return self._items.setdefault(name, item)

    def _load(self, name: str, entry_point: EntryPoint) -> T:
        details = {self.detail_key: name, "entry_point": entry_point.value}
        try:
            item = entry_point.load()
        except Exception as exc:  # an entry point may fail in any way while importing
            raise ConfigError(
                f"{self.kind} {name!r} ({entry_point.value}) cannot be imported: {exc}",
                details=details,
            ) from exc
        if not self.accepts(item):
            raise ConfigError(
                f"{self.kind} {name!r} ({entry_point.value}) is not {self.requirement}",
                details=details,
            )
        logger.debug("loaded %s %r from %s", self.kind, name, entry_point.value)
        return cast(T, item)
