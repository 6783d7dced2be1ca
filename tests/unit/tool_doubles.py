"""Small tools for the tool-loop tests: counting, waiting, huge, failing, leaking."""

from __future__ import annotations

import asyncio
from typing import Any

from smolit.config import ModelDefinition, ModelsSettings
from smolit.models import ModelManager
from smolit.testing import FakeModel
from smolit.tools import Tool, ToolResult, ToolSpec

TEXT_ARGUMENT = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "required": ["text"],
}


class Echo(Tool):
    """Returns its text; counts the calls by text. ``idempotent`` as given."""

    def __init__(self, name: str = "echo", idempotent: bool = True) -> None:
        super().__init__(ToolSpec(name, "Repeats a text.", TEXT_ARGUMENT, idempotent=idempotent))
        self.seen: list[str] = []

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        self.seen.append(arguments["text"])
        return ToolResult(f"echo: {arguments['text']}")


class Rendezvous(Tool):
    """Each call waits until ``parties`` calls are under way: calls made one after the
    other never finish (the runner's timeout ends them as errors)."""

    def __init__(self, parties: int) -> None:
        super().__init__(ToolSpec("meet", "Waits for the others.", TEXT_ARGUMENT))
        self._parties = parties
        self._arrived = 0
        self._all_here = asyncio.Event()

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        self._arrived += 1
        if self._arrived >= self._parties:
            self._all_here.set()
        await self._all_here.wait()
        return ToolResult(f"met {arguments['text']}")


class Never(Tool):
    """A call that never ends."""

    def __init__(self) -> None:
        super().__init__(ToolSpec("never", "Never answers."))

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class Huge(Tool):
    def __init__(self, size: int) -> None:
        super().__init__(ToolSpec("huge", "Returns a lot."))
        self._size = size

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        return ToolResult("x" * self._size)


class Broken(Tool):
    def __init__(self) -> None:
        super().__init__(ToolSpec("broken", "Always fails."))

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        raise RuntimeError("the disk is on fire")


def fake_models(model: FakeModel) -> ModelManager:
    """A model manager whose model ``fake`` is ``model``."""
    manager = ModelManager(
        ModelsSettings(default_model="fake", definitions={"fake": ModelDefinition(backend="fake")})
    )
    manager.add_instance("fake", model)
    return manager
