"""``AgentSpec``: what a worker agent is, independent of where it was declared."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from smolit.config import (
    AgentConfig,
    AgentToolConfig,
    ToolChoiceSetting,
    describe_validation_error,
)
from smolit.errors import ConfigError


@dataclass(frozen=True)
class ToolUse:
    """A tool an agent may call, and the agent's own bounds of its calls (None: the
    installation's). ``collections``: what ``knowledge_search`` may read besides the
    agent's own collection."""

    name: str
    timeout_seconds: float | None = None
    max_result_bytes: int | None = None
    collections: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: AgentToolConfig) -> ToolUse:
        return cls(
            name=config.name,
            timeout_seconds=config.timeout_seconds,
            max_result_bytes=config.max_result_bytes,
            collections=tuple(config.collections),
        )

    @classmethod
    def parse(cls, value: str | Mapping[str, Any], where: str = "tools") -> ToolUse:
        """A plain name or a mapping of settings, checked; a ``ConfigError`` naming the
        setting if it is not valid."""
        data = {"name": value} if isinstance(value, str) else dict(value)
        try:
            return cls.from_config(AgentToolConfig.model_validate(data))
        except PydanticValidationError as exc:
            raise describe_validation_error(exc, where) from exc

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["collections"] = list(self.collections)
        return data


def tool_choice(value: str | None) -> ToolChoiceSetting:
    """A stored ``tool_choice`` (None: the default, ``auto``); a ``ConfigError`` if it is
    none of the settings."""
    match value:
        case None | "auto":
            return "auto"
        case "router":
            return "router"
        case "model":
            return "model"
    raise ConfigError(f"tool_choice {value!r}: use auto, router or model")


def tool_uses(values: Sequence[str | Mapping[str, Any] | ToolUse]) -> tuple[ToolUse, ...]:
    """Tool entries in any accepted form as ``ToolUse``s."""
    return tuple(
        value if isinstance(value, ToolUse) else ToolUse.parse(value, f"tools[{index}]")
        for index, value in enumerate(values)
    )


@dataclass(frozen=True)
class AgentSpec:
    name: str
    description: str
    examples: tuple[str, ...] = ()
    system_prompt: str = "You are a helpful assistant."
    model: str | None = None
    knowledge_collection: str | None = None
    skills: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    enabled: bool = True
    origin: str = "api"
    cache_responses: bool = False
    knowledge_paths: tuple[str, ...] = field(default=(), compare=False)
    #: the tools it may call, in order (none: it answers without tools)
    tools: tuple[ToolUse, ...] = ()
    tool_choice: ToolChoiceSetting = "auto"
    #: model calls and tool calls of one run (None: the installation's ``tools:`` bounds)
    max_steps: int | None = None
    max_tool_calls: int | None = None

    @classmethod
    def from_config(cls, config: AgentConfig) -> AgentSpec:
        return cls(
            name=config.name,
            description=config.description,
            examples=tuple(config.examples),
            system_prompt=config.system_prompt,
            model=config.model,
            knowledge_collection=config.knowledge_collection,
            skills={name: tuple(examples) for name, examples in config.skills.items()},
            enabled=config.enabled,
            origin="config",
            cache_responses=config.cache_responses,
            knowledge_paths=tuple(config.knowledge_paths),
            tools=tuple(ToolUse.from_config(tool) for tool in config.tools),
            tool_choice=config.tool_choice,
            max_steps=config.max_steps,
            max_tool_calls=config.max_tool_calls,
        )

    def tool_names(self) -> list[str]:
        return [tool.name for tool in self.tools]

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["examples"] = list(self.examples)
        data["skills"] = {name: list(examples) for name, examples in self.skills.items()}
        data["tools"] = [tool.to_dict() for tool in self.tools]
        data.pop("knowledge_paths")
        return data
