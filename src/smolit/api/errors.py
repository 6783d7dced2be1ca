"""Every error leaves the API as ``{"error": {"type", "message", "details"}}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from smolit.errors import SmolitError
from smolit.redact import redact_data, redact_url

logger = logging.getLogger(__name__)

STATUS_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
}


def error_response(
    status: int,
    kind: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    # a message may quote a URL, a header or an exception that carries a secret
    body = redact_data({"error": {"type": kind, "message": message, "details": details or {}}})
    return JSONResponse(body, status_code=status, headers=dict(headers) if headers else None)


def _field_path(location: tuple[Any, ...]) -> str:
    """``("body", "path")`` -> ``path``: only the first item says where the field is."""
    if location and location[0] in ("body", "query", "path", "header"):
        return ".".join(str(p) for p in location[1:]) or str(location[0])
    return ".".join(str(p) for p in location) or "request"


async def _smolit_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SmolitError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return error_response(exc.http_status, exc.kind, exc.message, exc.details, headers)


#: problems a 422 lists; a body with 10,000 unknown keys must not get a 1 MB answer
MAX_PROBLEMS = 20


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    problems = [
        {"field": _field_path(tuple(err.get("loc", ()))), "message": err.get("msg", "invalid")}
        for err in errors[:MAX_PROBLEMS]
    ]
    message = "; ".join(f"{p['field']}: {p['message']}" for p in problems) or "invalid request"
    details: dict[str, Any] = {"problems": problems}
    if len(errors) > MAX_PROBLEMS:
        details["more_problems"] = len(errors) - MAX_PROBLEMS
        message += f"; and {len(errors) - MAX_PROBLEMS} more problems"
    return error_response(422, "validation_error", message, details)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = STATUS_TYPES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, kind, str(exc.detail), headers=exc.headers)


#: seconds a client should wait before trying again while the database is unreachable
STORAGE_RETRY_AFTER = 2


async def _database_unreachable(request: Request, exc: Exception) -> JSONResponse:
    """The database went away (PostgreSQL restarted, the network dropped): 503, retry.

    Nothing was stored by the failed request, so a retry (with the same idempotency key,
    for a submit) is safe. Other database errors stay 500s: they are bugs, not outages.
    """
    if isinstance(exc, DBAPIError) and not (
        isinstance(exc, OperationalError) or exc.connection_invalidated
    ):
        return await _unexpected_error(request, exc)
    system = getattr(request.app.state, "system", None)
    url = redact_url(system.settings.database_url) if system is not None else "the database"
    logger.warning("database unreachable on %s %s: %s", request.method, request.url.path, exc)
    return error_response(
        503,
        "storage_unavailable",
        f"the database at {url} cannot be reached; try again shortly",
        {"storage": url},
        {"Retry-After": str(STORAGE_RETRY_AFTER)},
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal server error; see the server log")


async def error_for(request: Request, exc: Exception) -> Response:
    """The response the installed handlers give ``exc``, for code that runs outside
    them (a middleware)."""
    if isinstance(exc, SmolitError):
        return await _smolit_error(request, exc)
    if isinstance(exc, DBAPIError | DisconnectionError):
        return await _database_unreachable(request, exc)
    return await _unexpected_error(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SmolitError, _smolit_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_unreachable)
    app.add_exception_handler(DisconnectionError, _database_unreachable)
    app.add_exception_handler(Exception, _unexpected_error)
