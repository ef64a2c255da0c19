"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.errors import problem
from services.api.routing import AttuneRoute

router = APIRouter(route_class=AttuneRoute, tags=["health"])


@router.get("/healthz", operation_id="get_health")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


async def _check_postgres(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


@router.get(
    "/readyz",
    operation_id="get_readiness",
    responses={503: {"description": "Postgres or Redis is not answering."}},
    response_model=None,
)
async def readyz(request: Request) -> Any:
    """Postgres and Redis both answer."""
    timeout = request.app.state.settings.db.connect_timeout
    checks: dict[str, str] = {}
    for name, probe in (
        ("postgres", _check_postgres(request.app.state.engine)),
        ("redis", request.app.state.redis.ping()),
    ):
        try:
            await asyncio.wait_for(probe, timeout)
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; the reason goes in the body
            checks[name] = f"unavailable: {type(exc).__name__}"
    if all(state == "ok" for state in checks.values()):
        return {"status": "ready", "checks": checks}
    failing = ", ".join(name for name, state in checks.items() if state != "ok")
    return problem(
        request,
        503,
        "service_unavailable",
        "Service Unavailable",
        f"Not ready: {failing} not answering.",
        checks=checks,
    )


@router.get("/metrics", operation_id="get_metrics", response_class=Response)
async def metrics() -> Response:
    """Request counts and latencies by route and status, in Prometheus text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
