"""What an agent's run keeps of its tool calls: ``ToolCallEntry``, and the ``ToolJournal``
that makes them durable (the task store's, when the run is a task's).

An entry is written twice: when the call is about to run (``started``) and when it has a
result (``finished``). A run of the same task after a crash reads the entries of earlier
attempts (``previous``) so that it repeats no call a tool declares non-idempotent. Every
argument and result an entry holds has the known secrets masked.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any, Protocol

from smolit.redact import mask_secrets


def masked(value: Any) -> Any:
    """A JSON value with the known secret values masked in every string (keys included)."""
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {mask_secrets(str(key)): masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [masked(item) for item in value]
    return value


def call_key(name: str, arguments: Any) -> str:
    """The same call in another run of the task: the tool's name and its (masked)
    arguments in canonical JSON, hashed."""
    text = json.dumps([name, arguments], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ToolCallEntry:
    """One call of a run: what was called, and (once ``finished``) what came of it.

    ``arguments`` is the parsed object, or ``{"raw": text}`` when the model's arguments
    were not a JSON object. ``result`` is the whole text the model was given, kept for a
    non-idempotent call only (a run after a crash reuses it). ``note`` says what happened
    instead of a call: refused, reused from before a crash, or not repeated.
    """

    seq: int
    call_id: str
    name: str
    arguments: dict[str, Any]
    idempotent: bool = True
    key: str = ""
    finished: bool = False
    excerpt: str = ""
    is_error: bool = False
    duration_s: float = 0.0
    bytes: int = 0
    note: str | None = None
    result: str | None = None

    def done(self, **values: Any) -> ToolCallEntry:
        return replace(self, finished=True, **values)

    def to_dict(self) -> dict[str, Any]:
        """The entry as a task shows it (without the kept result and the key)."""
        return {
            "seq": self.seq,
            "id": self.call_id,
            "name": self.name,
            "arguments": self.arguments,
            "idempotent": self.idempotent,
            "finished": self.finished,
            "excerpt": self.excerpt,
            "is_error": self.is_error,
            "duration_s": round(self.duration_s, 6),
            "bytes": self.bytes,
            "note": self.note,
        }


class ToolJournal(Protocol):
    """Where a run's tool calls are made durable (and announced as task events)."""

    async def previous(self) -> list[ToolCallEntry]:
        """The calls earlier attempts of this task recorded, oldest first."""
        ...

    async def started(self, entry: ToolCallEntry) -> None:
        """Record ``entry`` before its call runs; returns once it is durable."""
        ...

    async def finished(self, entry: ToolCallEntry) -> None:
        """Record what came of the call ``entry`` (recorded as started before)."""
        ...
