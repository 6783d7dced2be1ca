"""Tool names for the tools of MCP servers: ``<prefix><tool>``, valid and unique.

A model calls a tool by a name of 1 to 64 letters, digits, ``_`` or ``-``; an MCP tool's
name may be longer or hold other characters (``files/read``, ``get.weather``). ``ToolNames``
gives each (server, MCP tool) one name for the life of the process:

- ``<prefix><tool>`` with every other character replaced by ``_``, when that is valid and
  not taken;
- otherwise the first characters of it, ``_`` and 8 hexadecimal digits of a hash of the
  server's and the tool's names, so a long name or a collision (``a.b`` and ``a_b``, or
  server ``a`` with tool ``b_c`` next to server ``a_b`` with tool ``c``) still gives
  distinct names.

A name once given stays with its tool, also when the server's tool list changes.
"""

from __future__ import annotations

import hashlib
import re
import threading

MAX_NAME = 64
_HASH_DIGITS = 8
_INVALID = re.compile(r"[^a-zA-Z0-9_-]")


def _hashed(base: str, server: str, tool: str, attempt: int) -> str:
    key = f"{server}\0{tool}\0{attempt}".encode()
    digest = hashlib.sha256(key).hexdigest()[:_HASH_DIGITS]
    return f"{base[: MAX_NAME - _HASH_DIGITS - 1]}_{digest}"


class ToolNames:
    """The names given so far, shared by the servers of one ``mcp`` entry (thread-safe)."""

    def __init__(self) -> None:
        self._given: dict[tuple[str, str], str] = {}
        self._taken: set[str] = set()
        self._lock = threading.Lock()

    def name(self, server: str, prefix: str, tool: str) -> str:
        """The tool name of ``tool`` of ``server``: the one given before, or a new one."""
        with self._lock:
            given = self._given.get((server, tool))
            if given is not None:
                return given
            base = _INVALID.sub("_", prefix + tool) or "_"
            name = base
            attempt = 0
            while len(name) > MAX_NAME or name in self._taken:
                name = _hashed(base, server, tool, attempt)
                attempt += 1
            self._given[(server, tool)] = name
            self._taken.add(name)
            return name
