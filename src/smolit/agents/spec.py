"""``AgentSpec``: what a worker agent is, independent of where it was declared."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from smolit.config import AgentConfig


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
        )

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["examples"] = list(self.examples)
        data["skills"] = {name: list(examples) for name, examples in self.skills.items()}
        data.pop("knowledge_paths")
        return data
