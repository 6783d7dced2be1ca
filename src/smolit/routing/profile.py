"""``AgentProfile``: what the router sees of an agent (``AgentSpec`` is one).

Routing defines the shape it reads instead of importing the agents package, which sits
above it: the Supervisor imports the router, never the other way round.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Protocol


class AgentProfile(Protocol):
    """An agent as the router scores it: its name, description, examples and skills."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def examples(self) -> Sequence[str]: ...

    @property
    def skills(self) -> Mapping[str, Sequence[str]]: ...


def skill_texts(agent: AgentProfile) -> dict[str, list[str]]:
    """The texts behind each of an agent's skills (the general one holds the description)."""
    skills = {name: list(examples) for name, examples in agent.skills.items() if examples}
    skills[agent.name] = [agent.description, *agent.examples]
    return skills


def routing_fingerprint(agent: AgentProfile) -> str:
    """Changes whenever what the router sees of ``agent`` changes."""
    skills = {name: list(examples) for name, examples in sorted(agent.skills.items())}
    payload = json.dumps([agent.description, list(agent.examples), skills], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
