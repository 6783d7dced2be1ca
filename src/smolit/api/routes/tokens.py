"""``/tokens``: admins issue tokens for users."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, status

from smolit.api.deps import AdminDep, SystemDep
from smolit.api.responses import ADMIN, AUTHENTICATED
from smolit.api.schemas import TokenCreate, TokenOut

router = APIRouter(prefix="/tokens", tags=["security"], responses=AUTHENTICATED | ADMIN)


@router.post("", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
async def create_token(body: TokenCreate, system: SystemDep, _admin: AdminDep) -> TokenOut:
    issued = await asyncio.to_thread(system.tokens.create, body.user, body.role, body.name)
    return TokenOut(
        id=issued.id, user=issued.user, role=issued.role, name=issued.name, token=issued.secret
    )
