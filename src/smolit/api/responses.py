"""The error responses a route declares, in the one error shape every refusal has.

``errors(404, 409)`` gives the ``responses=`` of a route: each status with its meaning and
the ``ErrorOut`` model (``{"error": {"type", "message", "details"}}``). The statuses every
route of a router can answer are declared on the router (``COMMON``, ``AUTHENTICATED``,
``ADMIN``); a route adds those only it can answer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

#: what each status means on this API, for the OpenAPI document
MEANINGS = {
    401: "no token, or an unknown, revoked or expired one",
    403: "the token's role may not do this",
    404: "no such resource (or not yours)",
    409: "conflicts with the resource's state",
    413: "the request body is larger than the server allows",
    422: "the request is invalid (each problem names its field)",
    500: "an internal error; the server log has the details",
    502: "the model behind the request failed",
    503: "the database (or a needed agent) cannot be reached; try again (Retry-After)",
}


class ErrorBody(BaseModel):
    type: str = Field(description="a stable machine-readable kind, e.g. not_found")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorOut(BaseModel):
    """Every refusal and failure the API answers."""

    error: ErrorBody


Responses = dict[int | str, dict[str, Any]]


def errors(*statuses: int) -> Responses:
    """``responses=`` for ``statuses``, each in the error shape."""
    return {status: {"model": ErrorOut, "description": MEANINGS[status]} for status in statuses}


def success(
    description: str,
    *,
    status: int = 200,
    model: type[BaseModel] | None = None,
    media_type: str | None = None,
) -> Responses:
    """``responses=`` for a success the route's own model does not describe: another
    status with ``model``, or a body in ``media_type`` (a stream, a text format)."""
    answer: dict[str, Any] = {"description": description}
    if model is not None:
        answer["model"] = model
    if media_type is not None:
        answer["content"] = {media_type: {}}
    return {status: answer}


#: every route: a bad request, a bug, an unreachable database
COMMON = errors(413, 422, 500, 503)
#: every route that needs a token (all but /health and /metrics)
AUTHENTICATED = {**COMMON, **errors(401)}
#: routes that need an admin token
ADMIN = errors(403)
