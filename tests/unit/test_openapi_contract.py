"""Every route declares what it answers: a response model (or its media type) and each
error status it can give, in the one error shape; so /openapi.json documents them all."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from inspect import isclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel

from smolit.api import create_app
from smolit.api.deps import admin_principal, current_principal
from smolit.api.responses import ErrorOut
from tests.unit.helpers import small_system

#: statuses any route can answer: too large a body, an invalid request, a bug, no database
EVERY_ROUTE = {413, 422, 500, 503}
SRC = Path(__file__).parents[2] / "src" / "smolit"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_app(small_system(tmp_path_factory.mktemp("contract")), manage_lifecycle=False)


def routes(app: FastAPI) -> Iterator[RouteContext]:
    """Every API route as the app serves it (with its router's prefix and responses)."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def name(route: RouteContext) -> str:
    return f"{','.join(sorted(route.methods or ()))} {route.path}"


def depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(d.call is call or depends_on(d, call) for d in dependant.dependencies)


def media_types(route: RouteContext) -> set[str]:
    return set(route.responses.get(200, {}).get("content", {}))


def test_every_route_declares_a_response_model_or_its_media_type(app: FastAPI) -> None:
    untyped = [
        name(route)
        for route in routes(app)
        if not (isclass(route.response_model) and issubclass(route.response_model, BaseModel))
        and route.status_code != 204
        and not media_types(route) - {"application/json"}
    ]
    assert untyped == []


def test_the_walk_finds_every_route(app: FastAPI) -> None:
    assert len(list(routes(app))) == len(
        [op for ops in app.openapi()["paths"].values() for op in ops]
    )


def test_every_route_declares_the_errors_every_route_can_give(app: FastAPI) -> None:
    missing = {
        name(route): EVERY_ROUTE - set(route.responses)
        for route in routes(app)
        if EVERY_ROUTE - set(route.responses)
    }
    assert missing == {}


def test_routes_that_need_a_token_declare_401_and_admin_routes_403(app: FastAPI) -> None:
    missing = []
    for route in routes(app):
        if depends_on(route.dependant, current_principal) and 401 not in route.responses:
            missing.append(f"{name(route)}: 401")
        if depends_on(route.dependant, admin_principal) and 403 not in route.responses:
            missing.append(f"{name(route)}: 403")
    assert missing == []


def test_every_declared_error_is_in_the_error_shape(app: FastAPI) -> None:
    shapes = {
        f"{name(route)} {status}": response.get("model")
        for route in routes(app)
        for status, response in route.responses.items()
        if int(status) >= 400
    }
    assert {key: model for key, model in shapes.items() if model is not ErrorOut} == {}


def test_openapi_documents_a_body_for_every_success(app: FastAPI) -> None:
    undocumented = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            success = [s for s in operation["responses"] if s.startswith("2") and s != "204"]
            for status in success:
                content = operation["responses"][status].get("content", {})
                if not any(media.get("schema") or media == {} for media in content.values()):
                    undocumented.append(f"{method} {path} {status}")
                if "application/json" in content and not content["application/json"].get("schema"):
                    undocumented.append(f"{method} {path} {status}: empty JSON schema")
    assert undocumented == []


def test_api_routes_reach_tasks_only_through_the_task_manager() -> None:
    reaching = [
        str(path.relative_to(SRC))
        for path in sorted((SRC / "api").rglob("*.py"))
        if "tasks.store" in path.read_text()
    ]
    assert reaching == []
