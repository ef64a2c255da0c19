"""`/v1/fine_tuning/jobs`: validation, confirmation, filters, pagination, metrics and org scoping."""

from __future__ import annotations

import csv
import io
import time

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from tests.fixtures.jobs import create_credential, create_file, drive, post_job
from tests.fixtures.organizations import create_org


async def test_bad_requests_name_the_field(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    other = await create_org(db, "Other")
    foreign = await create_file(db, settings, other.id)
    own = await create_file(db, settings, org.id)
    cases = [
        ({"training_file": "file_missing"}, "#/training_file"),
        ({"training_file": foreign.id}, "#/training_file"),
        ({"training_file": own.id, "validation_file": "file_nope"}, "#/validation_file"),
        ({"training_file": own.id, "hyperparameters": {"n_epochs": 0}}, "#/hyperparameters/n_epochs"),
        ({"training_file": own.id, "hyperparameters": {"batch_size": "big"}}, "#/hyperparameters/batch_size"),
        ({"training_file": own.id, "provider": "pcred_nope"}, "#/provider"),
        ({"training_file": own.id, "suffix": "has space"}, "#/suffix"),
        ({"training_file": own.id, "metadata": {str(i): "v" for i in range(17)}}, "#/metadata"),
        ({"training_file": own.id, "unknown": 1}, "#/unknown"),
    ]
    for body, pointer in cases:
        response = await post_job(client, org.headers, **body)
        assert response.status_code == 422, (body, response.text)
        assert pointer in [e["pointer"] for e in response.json()["errors"]], (body, response.json())
    dpo = await post_job(client, org.headers, training_file=own.id, method={"type": "dpo"})
    assert dpo.status_code == 422 and "not supported" in dpo.json()["detail"]


async def test_confirmation_flow_with_a_cost_estimate(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    credential = await create_credential(db, settings, org.id, "openai", "http://openai.test/v1", "sk-x")
    training = await create_file(db, settings, org.id)  # 12 examples: "auto" means 100 // 12 = 8 epochs
    response = await post_job(
        client, org.headers, model="gpt-4o-mini-2024-07-18", training_file=training.id,
        provider=credential, auto_start=False,
    )  # fmt: skip
    job = response.json()
    assert job["status"] == "awaiting_confirmation" and job["provider_kind"] == "openai"
    expected = round(training.token_estimate * 8 * 3.0 / 1_000_000, 4)
    assert job["estimated_cost"] == expected and job["cost_currency"] == "USD"
    started = await client.post(f"/v1/fine_tuning/jobs/{job['id']}/start", headers=org.headers)
    assert started.status_code == 200 and started.json()["status"] == "validating_files"
    again = await client.post(f"/v1/fine_tuning/jobs/{job['id']}/start", headers=org.headers)
    assert again.status_code == 409 and again.json()["code"] == "illegal_job_transition"
    assert again.json()["job_status"] == "validating_files"


async def test_list_filters_and_cursor(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    training = await create_file(db, settings, org.id)
    ids = []
    for index in range(5):
        body = {"training_file": training.id, "auto_start": index % 2 == 0}
        if index < 3:
            body["metadata"] = {"team": "fr" if index < 2 else "de", "n": str(index)}
        ids.append((await post_job(client, org.headers, **body)).json()["id"])

    async def listed(query: str) -> list[str]:
        response = await client.get(f"/v1/fine_tuning/jobs?{query}", headers=org.headers)
        assert response.status_code == 200, response.text
        return [j["id"] for j in response.json()["data"]]

    assert await listed("") == ids[::-1]
    assert await listed("metadata[team]=fr") == [ids[1], ids[0]]
    assert await listed("metadata[team]=fr&metadata[n]=1") == [ids[1]]
    assert await listed("metadata=null") == [ids[4], ids[3]]
    assert await listed("status=awaiting_confirmation") == [ids[3], ids[1]]
    assert await listed("status=validating_files&status=awaiting_confirmation") == ids[::-1]
    assert await listed(f"created_after={int(time.time()) + 60}") == []
    assert await listed(f"created_before={int(time.time()) + 60}&limit=2") == [ids[4], ids[3]]
    page = (await client.get(f"/v1/fine_tuning/jobs?limit=2&after={ids[3]}", headers=org.headers)).json()
    assert [j["id"] for j in page["data"]] == [ids[2], ids[1]] and page["has_more"] is True
    assert (await client.get("/v1/fine_tuning/jobs?status=bogus", headers=org.headers)).status_code == 422
    assert (await client.get("/v1/fine_tuning/jobs?metadata=x", headers=org.headers)).status_code == 400


async def test_metrics_as_json_pages_and_csv(
    client: httpx.AsyncClient,
    db: AsyncSession,
    redis: Redis,
    job_settings: Settings,
    fake_http: httpx.AsyncClient,
) -> None:
    org = await create_org(db)
    training = await create_file(db, job_settings, org.id)
    validation = await create_file(db, job_settings, org.id)
    job = (
        await post_job(client, org.headers, training_file=training.id, validation_file=validation.id)
    ).json()
    await drive(db, redis, job_settings, job["id"], client=fake_http)

    first = (
        await client.get(f"/v1/fine_tuning/jobs/{job['id']}/metrics?limit=4", headers=org.headers)
    ).json()
    assert (
        [m["step"] for m in first["data"]] == [1, 2, 3, 4] and first["has_more"] and first["last_step"] == 4
    )
    rest = (await client.get(f"/v1/fine_tuning/jobs/{job['id']}/metrics?after=4", headers=org.headers)).json()
    assert [m["step"] for m in rest["data"]] == [5, 6] and not rest["has_more"]
    assert rest["data"][-1]["full_valid_loss"] is not None and first["data"][0]["full_valid_loss"] is None
    assert all(m["train_loss"] and m["valid_mean_token_accuracy"] for m in first["data"] + rest["data"])

    response = await client.get(f"/v1/fine_tuning/jobs/{job['id']}/metrics?format=csv", headers=org.headers)
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0]["full_valid_loss"] == "" and float(rows[5]["full_valid_loss"]) > 0
    assert float(rows[0]["train_loss"]) == first["data"][0]["train_loss"]


async def test_another_organizations_job_is_a_404_everywhere(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    other = await create_org(db, "Other")
    training = await create_file(db, settings, org.id)
    job = (await post_job(client, org.headers, training_file=training.id, auto_start=False)).json()
    base = f"/v1/fine_tuning/jobs/{job['id']}"
    reads = ["", "/events", "/checkpoints", "/metrics", "/metrics?format=csv"]
    for method, path in [*(("GET", r) for r in reads), ("POST", "/cancel"), ("POST", "/start")]:
        response = await client.request(method, base + path, headers=other.headers)
        assert response.status_code == 404, (method, path)
    assert (await client.get("/v1/fine_tuning/jobs", headers=other.headers)).json()["data"] == []
    assert (await client.get(base, headers=org.headers)).json()["status"] == "awaiting_confirmation"


async def test_a_retried_create_with_the_same_idempotency_key_makes_one_job(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    training = await create_file(db, settings, org.id)
    headers = org.headers | {"Idempotency-Key": "create-job-1"}
    body = {"model": "tiny-base", "training_file": training.id}
    first = await client.post("/v1/fine_tuning/jobs", headers=headers, json=body)
    again = await client.post("/v1/fine_tuning/jobs", headers=headers, json=body)
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    listed = (await client.get("/v1/fine_tuning/jobs", headers=org.headers)).json()["data"]
    assert [job["id"] for job in listed] == [first.json()["id"]]
