"""Request dependencies: the system, and who is calling."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from smolit.api.auth import scope_principal
from smolit.errors import PermissionDeniedError
from smolit.security.tokens import Principal
from smolit.system import AgentNN

bearer = HTTPBearer(auto_error=False, description="an Agent-NN API token")


def get_system(request: Request) -> AgentNN:
    system: AgentNN = request.app.state.system
    return system


SystemDep = Annotated[AgentNN, Depends(get_system)]


async def current_principal(
    request: Request,
    system: SystemDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """Who is calling: what ``Authentication`` found from the headers (before the body
    was read); the token is checked here only where that middleware did not run."""
    found = scope_principal(request.scope)
    if found is not None:
        return found
    secret = credentials.credentials if credentials else None
    return await asyncio.to_thread(system.tokens.authenticate, secret)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def admin_principal(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise PermissionDeniedError("this needs an admin token")
    return principal


AdminDep = Annotated[Principal, Depends(admin_principal)]
