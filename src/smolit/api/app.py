"""``create_app``: the FastAPI application around one ``AgentNN``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from smolit import __version__
from smolit.api.auth import Authentication
from smolit.api.errors import install_error_handlers
from smolit.api.limits import BodySizeLimit, LargerLimit
from smolit.api.request_id import RequestIdMiddleware
from smolit.api.request_metrics import RequestMetrics
from smolit.api.routes import (
    agents,
    backups,
    cache,
    health,
    knowledge,
    metrics,
    models,
    openai_compat,
    resources,
    tasks,
    tokens,
    workers,
)
from smolit.api.routes import router as router_routes
from smolit.metrics import RequestStats
from smolit.system import AgentNN


def create_app(system: AgentNN, manage_lifecycle: bool = True) -> FastAPI:
    """The API for ``system``; with ``manage_lifecycle`` the app starts and stops it."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await system.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                await system.stop()

    app = FastAPI(
        title="Agent-NN",
        version=__version__,
        description="A multi-agent system with a learned router. Send "
        "`Authorization: Bearer <token>` on every call except `/health`, `/metrics` and "
        "the API documentation.",
        lifespan=lifespan,
    )
    app.state.system = system
    app.state.request_stats = RequestStats()
    install_error_handlers(app)
    for module in (
        health,
        tasks,
        agents,
        tokens,
        router_routes,
        models,
        knowledge,
        openai_compat,
        metrics,
        workers,
        cache,
        resources,
        backups,
    ):
        app.include_router(module.router)
    upload = LargerLimit(
        "POST",
        knowledge.UPLOAD_PATH,
        int(system.settings.knowledge.max_upload_mb * 1_000_000),
        "knowledge.max_upload_mb",
    )
    app.add_middleware(
        BodySizeLimit, max_bytes=system.settings.server.max_request_bytes, larger=[upload]
    )
    # outside the body limit: a request without a valid token is a 401 from its headers,
    # before a byte of its body is read (not a 413, not after an upload)
    app.add_middleware(Authentication, tokens=system.tokens)
    app.add_middleware(RequestIdMiddleware)
    # outermost: times every request, refused ones included
    app.add_middleware(RequestMetrics, stats=app.state.request_stats)
    return app
