"""The README's first command, end to end on the tiny model: the stack up, the sample imported, a
dataset built, a job confirmed, watched and evaluated through the CLI, then every process stopped."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO_ROOT
from tests.fixtures.live import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_runs_a_job_from_the_sample_to_its_evaluation_then_stops_everything(
    subprocess_env: dict[str, str], database: str, tmp_path: Path
) -> None:
    port, trainer_port = free_port(), free_port()
    env = subprocess_env | {
        "ATTUNE_API__PORT": str(port),
        "ATTUNE_TRAINER__PORT": str(trainer_port),
        "ATTUNE_TRAINER__URL": f"http://127.0.0.1:{trainer_port}/v1",
        "ATTUNE_TRAINER__STATE_DIR": str(tmp_path / "trainer"),
        "ATTUNE_TRAINER__MODELS_DIR": str(tmp_path / "models"),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
    }
    finished = subprocess.run(
        [sys.executable, "-m", "services.demo", "--exit", "--model", "tiny", "--epochs", "1"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    out = finished.stdout
    assert finished.returncode == 0, out[-5000:] + finished.stderr[-3000:]
    assert re.search(r"│\s+303 │\s+296 │", out), "the sample TMX's import report"
    assert "placeholder_mismatch" in out and "Estimate" in out, "the dataset report and its estimate"
    assert "awaiting_confirmation" in out and re.search(r"step 31/31 \(100%\)", out), "confirmed, watched"
    assert "Evaluation (succeeded, 40 validation segments)" in out and "chrF++" in out
    assert f"http://127.0.0.1:{port}/docs" in out
    worker_pids = [int(pid) for pid in re.findall(r"pid (\d+)", out)]
    assert len(worker_pids) == 4
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in worker_pids)
    for gone in (port, trainer_port):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", gone)) != 0  # the API and the trainer are gone too
