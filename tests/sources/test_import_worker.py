"""One import through real processes: the API commits and enqueues, a `datasets` worker runs it,
reading the file with a reader process beside its own thread."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_sessionmaker, transaction
from tests.conftest import REPO_ROOT
from tests.fixtures.organizations import create_org
from tests.fixtures.sources import create_translation_memory, simple_tmx


@pytest.mark.e2e
async def test_a_datasets_worker_imports_a_tmx(
    live_client: AsyncClient, engine: AsyncEngine, subprocess_env: dict[str, str]
) -> None:
    sessionmaker = create_sessionmaker(engine)
    async with transaction(sessionmaker) as session:
        org = await create_org(session, "Worker Inc")
        tm = await create_translation_memory(session, org.id)
    worker = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "worker", "datasets"],
        env={**subprocess_env, "ATTUNE_IMPORTS__PARALLEL_MIN_BYTES": "0"},  # read by two processes
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        response = await live_client.post(
            f"/v1/translation_memories/{tm.id}/import",
            files={"file": ("memory.tmx", simple_tmx(300), "application/xml")},
            headers=org.headers,
        )
        assert response.status_code == 202
        import_id = response.json()["id"]
        for _ in range(600):
            current = (await live_client.get(f"/v1/imports/{import_id}", headers=org.headers)).json()
            if current["status"] in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.1)
        assert current["status"] == "succeeded", current
        assert current["report"]["inserted"] == 300 and current["attempts"] == 1
        assert current["started_at"] <= current["finished_at"]
        memory = (await live_client.get(f"/v1/translation_memories/{tm.id}", headers=org.headers)).json()
        assert memory["unit_count"] == 300 and memory["languages"] == ["de-DE", "en-US"]
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            output, _ = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
        async with transaction(sessionmaker) as session:
            await session.execute(text("DELETE FROM organizations WHERE id = :id"), {"id": org.id})
    assert b"import.loaded" in output and b"Traceback" not in output
    assert re.search(rb"read_processes\W+2\b", output), output.decode(errors="replace")[-2000:]
