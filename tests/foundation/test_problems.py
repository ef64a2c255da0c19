"""Every error is RFC 9457 problem+json, including the framework's and a crash (no stack trace)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.organizations import create_org


def _assert_problem(response_json: dict[str, object], status: int, code: str) -> None:
    assert response_json["status"] == status
    assert response_json["code"] == code
    assert str(response_json["type"]).endswith(f"/problems/{code}")
    assert response_json["title"] and response_json["detail"] and response_json["instance"]


async def test_unknown_route_and_method(client: AsyncClient) -> None:
    missing = await client.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    _assert_problem(missing.json(), 404, "not_found")
    wrong_method = await client.put("/healthz")
    assert wrong_method.status_code == 405
    _assert_problem(wrong_method.json(), 405, "method_not_allowed")


async def test_validation_errors_name_each_field(client: AsyncClient, db: AsyncSession) -> None:
    org = await create_org(db)
    response = await client.post("/v1/api_keys", json={"nam": "x"}, headers=org.headers)
    assert response.status_code == 422
    body = response.json()
    _assert_problem(body, 422, "validation_failed")
    assert {"detail": "Field required", "pointer": "#/name"} in body["errors"]
    assert any(error["pointer"] == "#/nam" for error in body["errors"])
    bad_query = await client.get("/v1/api_keys", params={"limit": 0}, headers=org.headers)
    assert bad_query.status_code == 422 and bad_query.json()["errors"][0]["pointer"] == "query/limit"
    not_json = await client.post(
        "/v1/api_keys", content=b"{not json", headers={**org.headers, "content-type": "application/json"}
    )
    assert not_json.status_code == 422


async def test_a_crash_is_a_500_problem_without_internals(app: FastAPI, client: AsyncClient) -> None:
    router = APIRouter()

    @router.get("/boom", operation_id="boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app.include_router(router)
    response = await client.get("/boom", headers={"X-Request-ID": "trace-123"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "trace-123"
    body = response.json()
    _assert_problem(body, 500, "internal_error")
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert body["instance"] == "urn:attune:request:trace-123"


async def test_problem_types_document_themselves(client: AsyncClient) -> None:
    response = await client.get("/problems/idempotency_key_reused")
    assert response.status_code == 200 and "new key" in response.json()["description"]
    assert (await client.get("/problems/no_such_thing")).status_code == 404
