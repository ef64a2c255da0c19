"""Liveness, readiness against real and unreachable Postgres/Redis, metrics, request ids, OpenAPI."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from httpx import AsyncClient

from services.api.app import create_app
from shared.config import Settings
from tests.conftest import _client, _started


async def test_healthz_and_readyz_when_everything_answers(client: AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}}


@pytest.mark.parametrize(
    ("override", "down"),
    [
        ({"database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/attune"}, "postgres"),
        ({"redis_url": "redis://127.0.0.1:1/0"}, "redis"),
    ],
)
async def test_readyz_is_503_when_a_dependency_is_down(
    settings: Settings, override: dict[str, str], down: str
) -> None:
    broken = settings.model_copy(update=override)
    async for app in _started(create_app(broken)):
        async with _client(app) as client:
            assert (await client.get("/healthz")).status_code == 200
            response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "service_unavailable" and down in body["detail"]
    assert body["checks"][down].startswith("unavailable")


async def test_request_ids_are_echoed_or_made(client: AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"].startswith("req_")


async def test_metrics_count_requests_by_route_template(client: AsyncClient) -> None:
    await client.delete("/v1/api_keys/key_does_not_matter")
    text = (await client.get("/metrics")).text
    assert (
        'attune_http_requests_total{method="DELETE",route="/v1/api_keys/{api_key_id}",status="401"}' in text
    )
    assert "attune_http_request_duration_seconds_bucket" in text


def test_every_route_has_an_explicit_operation_id(settings: Settings) -> None:
    app = create_app(settings)
    schema = app.openapi()
    operations = [op for path in schema["paths"].values() for op in path.values()]
    assert operations
    routes = [route for route in app.router.routes if isinstance(route, APIRoute)]
    for route in routes:
        assert route.operation_id, f"{route.path} has no explicit operation_id"
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    create = schema["paths"]["/v1/api_keys"]["post"]
    assert any(param["name"] == "Idempotency-Key" for param in create["parameters"])


def test_settings_refuse_default_secrets_outside_dev() -> None:
    with pytest.raises(ValueError, match="ENCRYPTION_KEYS"):
        Settings(env="production")
    Settings(env="dev")
