"""``AgentSpec``: what a worker agent is, independent of where it was declared."""

from __future__ import annotations

import hashlib
import json
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
    enabled: bool = True
    origin: str = "api"
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
            enabled=config.enabled,
            origin="config",
            knowledge_paths=tuple(config.knowledge_paths),
        )

    @property
    def routing_fingerprint(self) -> str:
        """Changes whenever what the router sees of this agent changes."""
        payload = json.dumps([self.description, list(self.examples)], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["examples"] = list(self.examples)
        data.pop("knowledge_paths")
        return data
