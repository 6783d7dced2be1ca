"""``AgentRegistry``: the agents that exist, persisted in the database.

Agents declared in the configuration are written at start-up (the file wins for those);
agents added through the API or CLI live in the database alone. Listeners hear about
every change, so the router can re-index without a restart; each write bumps the
``agents`` change counter, so other processes ``reload`` (``storage.changes``).

``check``, when given, sees every spec before it is written (the composition root checks
that the tools an agent lists exist) and raises to refuse it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select

from smolit.agents.spec import AgentSpec, ToolUse, tool_choice, tool_uses
from smolit.errors import ConflictError, NotFoundError
from smolit.storage import AgentRow, Database
from smolit.storage.changes import AGENTS, bump
from smolit.storage.tables import utcnow

Listener = Callable[[Sequence[AgentSpec]], None]
Check = Callable[[AgentSpec], None]


def _to_spec(row: AgentRow) -> AgentSpec:
    return AgentSpec(
        name=row.name,
        description=row.description,
        examples=tuple(row.examples or ()),
        system_prompt=row.system_prompt,
        model=row.model,
        knowledge_collection=row.knowledge_collection,
        skills={name: tuple(examples) for name, examples in (row.skills or {}).items()},
        enabled=row.enabled,
        origin=row.origin,
        cache_responses=row.cache_responses,
        tools=tuple(ToolUse.parse(tool) for tool in row.tools or ()),
        tool_choice=tool_choice(row.tool_choice),
        max_steps=row.max_steps,
        max_tool_calls=row.max_tool_calls,
    )


def _apply(row: AgentRow, spec: AgentSpec) -> None:
    row.description = spec.description
    row.examples = list(spec.examples)
    row.system_prompt = spec.system_prompt
    row.model = spec.model
    row.knowledge_collection = spec.knowledge_collection
    row.skills = {name: list(examples) for name, examples in spec.skills.items()}
    row.enabled = spec.enabled
    row.origin = spec.origin
    row.cache_responses = spec.cache_responses
    row.tools = [tool.to_dict() for tool in spec.tools]
    row.tool_choice = spec.tool_choice
    row.max_steps = spec.max_steps
    row.max_tool_calls = spec.max_tool_calls
    row.updated_at = utcnow()


class AgentRegistry:
    def __init__(self, database: Database, check: Check | None = None) -> None:
        self._db = database
        self.check = check
        self._listeners: list[Listener] = []
        self._cache: dict[str, AgentSpec] | None = None
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def reload(self) -> None:
        """Read the agents again (another process changed them) and tell the listeners."""
        self._changed()

    def _changed(self) -> None:
        with self._lock:
            self._cache = None
        agents = self.list()
        for listener in self._listeners:
            listener(agents)

    def sync_from_config(self, specs: Sequence[AgentSpec]) -> None:
        """Write configuration-declared agents; drop config agents no longer declared."""
        for spec in specs:
            self._check(spec)
        declared = {spec.name: spec for spec in specs}
        with self._db.session() as session:
            for row in session.scalars(select(AgentRow)):
                if row.name in declared:
                    _apply(row, declared.pop(row.name))
                elif row.origin == "config":
                    session.delete(row)
            for spec in declared.values():
                row = AgentRow(name=spec.name, created_at=utcnow())
                _apply(row, spec)
                session.add(row)
            bump(session, AGENTS)
        self._changed()

    def list(self) -> list[AgentSpec]:
        with self._lock:
            if self._cache is not None:
                return list(self._cache.values())
        with self._db.session() as session:
            rows = session.scalars(select(AgentRow).order_by(AgentRow.name)).all()
            specs = {row.name: _to_spec(row) for row in rows}
        with self._lock:
            self._cache = specs
        return list(specs.values())

    def get(self, name: str) -> AgentSpec:
        for spec in self.list():
            if spec.name == name:
                return spec
        raise NotFoundError(f"no agent named {name!r}", details={"agent": name})

    def _check(self, spec: AgentSpec) -> None:
        if self.check is not None:
            self.check(spec)

    def add(self, spec: AgentSpec) -> AgentSpec:
        self._check(spec)
        with self._db.session() as session:
            if session.get(AgentRow, spec.name) is not None:
                raise ConflictError(f"an agent named {spec.name!r} exists already")
            row = AgentRow(name=spec.name, created_at=utcnow())
            _apply(row, spec)
            session.add(row)
            bump(session, AGENTS)
        self._changed()
        return self.get(spec.name)

    def update(self, name: str, changes: dict[str, Any]) -> AgentSpec:
        current = self.get(name)
        fields = {**current.__dict__, **changes}
        if "examples" in changes:
            fields["examples"] = tuple(changes["examples"])
        if "skills" in changes:
            fields["skills"] = {k: tuple(v) for k, v in changes["skills"].items()}
        if "tools" in changes:
            fields["tools"] = tool_uses(changes["tools"])
        spec = AgentSpec(**fields)
        self._check(spec)
        with self._db.session() as session:
            row = session.get(AgentRow, name)
            if row is None:
                raise NotFoundError(f"no agent named {name!r}", details={"agent": name})
            _apply(row, spec)
            bump(session, AGENTS)
        self._changed()
        return self.get(name)

    def remove(self, name: str) -> None:
        with self._db.session() as session:
            row = session.get(AgentRow, name)
            if row is None:
                raise NotFoundError(f"no agent named {name!r}", details={"agent": name})
            session.delete(row)
            bump(session, AGENTS)
        self._changed()
