"""``/agents``: the worker agents, managed at run time (changes need an admin token)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response, status

from smolit.agents.spec import AgentSpec, tool_uses
from smolit.api.deps import AdminDep, PrincipalDep, SystemDep
from smolit.api.responses import ADMIN, AUTHENTICATED, errors
from smolit.api.schemas import AgentCreate, AgentList, AgentOut, AgentPatch, PathName
from smolit.system import AgentNN

router = APIRouter(prefix="/agents", tags=["agents"], responses=AUTHENTICATED)


def _out(system: AgentNN, spec: AgentSpec) -> AgentOut:
    reason = system.supervisor.unavailable_reason(spec)
    data = spec.to_dict()
    return AgentOut(**data, available=reason is None, unavailable_reason=reason)


@router.get("", response_model=AgentList)
async def list_agents(system: SystemDep, _principal: PrincipalDep) -> AgentList:
    specs = await asyncio.to_thread(system.agents.list)
    return AgentList(agents=[_out(system, spec) for spec in specs])


@router.get("/{name}", response_model=AgentOut, responses=errors(404))
async def get_agent(name: PathName, system: SystemDep, _principal: PrincipalDep) -> AgentOut:
    return _out(system, await asyncio.to_thread(system.agents.get, name))


@router.post(
    "",
    response_model=AgentOut,
    status_code=status.HTTP_201_CREATED,
    responses=ADMIN | errors(409),
)
async def add_agent(body: AgentCreate, system: SystemDep, _admin: AdminDep) -> AgentOut:
    fields = body.model_dump()
    fields["examples"] = tuple(body.examples)
    fields["skills"] = {name: tuple(examples) for name, examples in body.skills.items()}
    fields["tools"] = tool_uses(fields["tools"])
    spec = AgentSpec(**fields, origin="api")
    return _out(system, await asyncio.to_thread(system.agents.add, spec))


@router.patch("/{name}", response_model=AgentOut, responses=ADMIN | errors(404))
async def update_agent(
    name: PathName, body: AgentPatch, system: SystemDep, _admin: AdminDep
) -> AgentOut:
    changes = body.model_dump(exclude_unset=True)
    for field in ("tools", "tool_choice"):  # null for these means: leave as it is
        if field in changes and changes[field] is None:
            del changes[field]
    return _out(system, await asyncio.to_thread(system.agents.update, name, changes))


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=ADMIN | errors(404),
)
async def remove_agent(name: PathName, system: SystemDep, _admin: AdminDep) -> Response:
    await asyncio.to_thread(system.agents.remove, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
