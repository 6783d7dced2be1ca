"""``/metrics``: Prometheus text format, open like ``/health`` so scrapers need no token."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from smolit.api.deps import SystemDep
from smolit.api.responses import COMMON, success
from smolit.metrics import RequestStats, render_metrics

router = APIRouter(tags=["metrics"], responses=COMMON)


@router.get(
    "/metrics",
    response_class=Response,
    responses=success("Prometheus text format", media_type=CONTENT_TYPE_LATEST),
)
async def metrics(system: SystemDep, request: Request) -> Response:
    """System, application and business families (docs/operations.md)."""
    stats: RequestStats = request.app.state.request_stats
    body = await asyncio.to_thread(render_metrics, system, [stats])
    return Response(body, media_type=CONTENT_TYPE_LATEST)
