"""One dataset through real processes: the API commits and enqueues, a `datasets` worker builds it
(told to fork its pass-1 workers whatever the size, so the worker's own event loop and signal
handlers are what they fork from)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_sessionmaker, transaction
from tests.conftest import REPO_ROOT
from tests.fixtures.datasets import add_translations, clean_pairs
from tests.fixtures.organizations import create_org
from tests.fixtures.sources import create_project, create_prompt


@pytest.mark.e2e
async def test_a_datasets_worker_builds_a_dataset(
    live_client: AsyncClient, engine: AsyncEngine, subprocess_env: dict[str, str]
) -> None:
    sessionmaker = create_sessionmaker(engine)
    async with transaction(sessionmaker) as session:
        org = await create_org(session, "Dataset Worker Inc")
        project = await create_project(session, org.id)
        prompt = await create_prompt(session, org.id)
        await add_translations(session, project, [*clean_pairs(60), ("Open {0}", "Öffnen"), ("Close", "")])
    worker = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "worker", "datasets"],
        env=subprocess_env | {"ATTUNE_DATASETS__PARALLEL_MIN_ROWS": "0"},
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        recipe = {
            "sources": {"project_ids": [project.id]},
            "prompt_id": prompt.id,
            "provider": "openai",
            "model": "gpt-4o-mini-2024-07-18",
            "validation": {"fraction": 0.1},
        }
        response = await live_client.post("/v1/datasets", json=recipe, headers=org.headers)
        assert response.status_code == 202, response.text
        dataset_id = response.json()["id"]
        for _ in range(600):
            current = (await live_client.get(f"/v1/datasets/{dataset_id}", headers=org.headers)).json()
            if current["status"] != "building":
                break
            await asyncio.sleep(0.1)
        assert current["status"] == "ready", current
        stats = current["stats"]
        assert stats["timings"]["read_processes"] == 2
        assert stats["training"]["examples"] + stats["validation"]["examples"] == 60
        assert stats["rejected"] == {"empty_target": 1, "placeholder_mismatch": 1}
        content = await live_client.get(f"/v1/files/{current['training_file']}/content", headers=org.headers)
        assert len(content.text.splitlines()) == stats["training"]["examples"]
        assert all("messages" in json.loads(line) for line in content.text.splitlines())
        events = (await live_client.get("/v1/events?limit=100", headers=org.headers)).json()["data"]
        assert "dataset.ready" in [event["type"] for event in events]
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            output, _ = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
        async with transaction(sessionmaker) as session:
            await session.execute(text("DELETE FROM organizations WHERE id = :id"), {"id": org.id})
    assert b"dataset.built" in output and b"Traceback" not in output, output.decode()[-3000:]
