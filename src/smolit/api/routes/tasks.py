"""``/tasks``: submit, read, wait for, list, cancel and follow tasks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import StreamingResponse

from smolit.api.deps import PrincipalDep, SystemDep
from smolit.api.responses import AUTHENTICATED, errors, success
from smolit.api.schemas import (
    FeedbackIn,
    FeedbackOut,
    PathName,
    TaskList,
    TaskOut,
    TaskSubmit,
    Text,
)
from smolit.errors import ValidationError
from smolit.logs import current_request_id
from smolit.tasks.manager import SubmitOptions

router = APIRouter(prefix="/tasks", tags=["tasks"], responses=AUTHENTICATED)

MAX_WAIT_SECONDS = 300
EVENTS = (
    "server-sent events: `event: status` with `data: {id, kind, status, attempt, worker, "
    "detail, at}` per state change, `event: tool_call` (before a tool call runs) and "
    "`event: tool_result` (after) with the call as JSON text in `detail`, then "
    "`event: task` with the task (as `GET /tasks/{task_id}`)"
)


@router.post(
    "",
    response_model=TaskOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=success("an earlier identical submit", model=TaskOut) | errors(403, 409),
)
async def submit_task(
    body: TaskSubmit,
    response: Response,
    system: SystemDep,
    principal: PrincipalDep,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
    ] = None,
) -> TaskOut:
    """Accept a task; it is stored before this returns and runs in the background.

    A repeated submit with the same idempotency key and body answers 200 with the task
    the first one created; the same key with a different body is a 409.
    """
    if idempotency_key and body.idempotency_key and idempotency_key != body.idempotency_key:
        raise ValidationError(
            "the Idempotency-Key header and idempotency_key in the body differ",
            details={"field": "idempotency_key"},
        )
    options = SubmitOptions(
        priority=body.priority,
        timeout=body.timeout,
        idempotency_key=body.idempotency_key or idempotency_key,
        request_id=current_request_id(),
    )
    view, created = await system.tasks.submit_new(body.text, principal, options)
    if not created:
        response.status_code = status.HTTP_200_OK
    return TaskOut.model_validate(view)


@router.get("/{task_id}", response_model=TaskOut, responses=errors(404))
async def get_task(
    task_id: PathName,
    system: SystemDep,
    principal: PrincipalDep,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_SECONDS, description="seconds to wait for the result")
    ] = 0,
) -> TaskOut:
    view = await system.tasks.get(task_id, principal, wait=wait)
    return TaskOut.model_validate(view)


@router.delete("/{task_id}", response_model=TaskOut, responses=errors(404, 409))
async def cancel_task(task_id: PathName, system: SystemDep, principal: PrincipalDep) -> TaskOut:
    """Cancel a queued or running task (409 when it already finished)."""
    view = await system.tasks.cancel(task_id, principal)
    return TaskOut.model_validate(view)


@router.get(
    "/{task_id}/events",
    response_class=StreamingResponse,
    responses=success(EVENTS, media_type="text/event-stream") | errors(404),
)
async def task_events(
    task_id: PathName,
    system: SystemDep,
    principal: PrincipalDep,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_SECONDS, description="seconds to keep the stream open")
    ] = 60,
) -> StreamingResponse:
    """Server-sent events: one per state change and per tool call and result, until the
    task finishes."""
    events = system.tasks.events(task_id, principal, wait)
    first = await anext(events, None)  # an unknown task is a 404 before the stream opens

    async def stream() -> AsyncIterator[bytes]:
        event: dict[str, Any] | None = first
        while event is not None:
            yield f"event: {event['kind']}\ndata: {json.dumps(event)}\n\n".encode()
            event = await anext(events, None)
        view = await system.tasks.get(task_id, principal)
        yield f"event: task\ndata: {TaskOut.model_validate(view).model_dump_json()}\n\n".encode()

    return StreamingResponse(stream(), media_type="text/event-stream")


@router.post(
    "/{task_id}/feedback", response_model=FeedbackOut, status_code=201, responses=errors(404, 409)
)
async def give_feedback(
    task_id: PathName, body: FeedbackIn, system: SystemDep, principal: PrincipalDep
) -> FeedbackOut:
    """Rate a finished task; the router learns from it at once."""
    feedback = await asyncio.to_thread(
        system.feedback.record, task_id, principal, body.success, body.rating, body.comment
    )
    return FeedbackOut.model_validate(feedback)


@router.get("", response_model=TaskList)
async def list_tasks(
    system: SystemDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    status: Annotated[Text | None, Query(description="only tasks in this state")] = None,
    agent: Annotated[Text | None, Query(description="only tasks this agent answered")] = None,
    priority: Annotated[Literal["low", "normal", "high"] | None, Query()] = None,
    before: Annotated[Text | None, Query(description="the `next` of the previous page")] = None,
) -> TaskList:
    """Your tasks (admins see all), newest first, a page at a time."""
    views, cursor = await system.tasks.page(
        principal, limit=limit, status=status, agent=agent, priority=priority, before=before
    )
    return TaskList(tasks=[TaskOut.model_validate(view) for view in views], next=cursor)
