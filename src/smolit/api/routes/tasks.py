"""``/tasks``: submit a task, read its result."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, status

from smolit.api.deps import PrincipalDep, SystemDep
from smolit.api.schemas import FeedbackIn, FeedbackOut, TaskList, TaskOut, TaskSubmit

router = APIRouter(prefix="/tasks", tags=["tasks"])

MAX_WAIT_SECONDS = 300


@router.post("", response_model=TaskOut, status_code=status.HTTP_202_ACCEPTED)
async def submit_task(body: TaskSubmit, system: SystemDep, principal: PrincipalDep) -> TaskOut:
    """Accept a task; it is stored before this returns and runs in the background."""
    view = await system.tasks.submit(body.text, principal)
    return TaskOut(**view.to_dict())


@router.get("/{task_id}", response_model=TaskOut)
async def get_task(
    task_id: str,
    system: SystemDep,
    principal: PrincipalDep,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_SECONDS, description="seconds to wait for the result")
    ] = 0,
) -> TaskOut:
    view = await system.tasks.get(task_id, principal, wait=wait)
    return TaskOut(**view.to_dict())


@router.post("/{task_id}/feedback", response_model=FeedbackOut, status_code=201)
async def give_feedback(
    task_id: str, body: FeedbackIn, system: SystemDep, principal: PrincipalDep
) -> FeedbackOut:
    """Rate a finished task; the router learns from it at once."""
    feedback = await asyncio.to_thread(
        system.feedback.record, task_id, principal, body.success, body.rating, body.comment
    )
    return FeedbackOut(**feedback.__dict__)


@router.get("", response_model=TaskList)
async def list_tasks(
    system: SystemDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    status: Annotated[str | None, Query(description="only tasks in this state")] = None,
) -> TaskList:
    views = await asyncio.to_thread(system.tasks.list, principal, limit, status)
    return TaskList(tasks=[TaskOut(**view.to_dict()) for view in views])
