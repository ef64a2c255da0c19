"""The README's first command: the demo brings the stack up, proves it ready, and stops what it started."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import psutil
import pytest

from tests.conftest import REPO_ROOT


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.e2e
def test_demo_brings_up_api_and_workers_then_stops_them(
    subprocess_env: dict[str, str], database: str
) -> None:
    port = _free_port()
    env = {**subprocess_env, "ATTUNE_API__PORT": str(port), "COLUMNS": "200"}
    finished = subprocess.run(
        [sys.executable, "-m", "services.demo", "--exit"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert f"http://127.0.0.1:{port}/readyz → ready" in finished.stdout
    for queue in ("datasets", "providers", "webhooks"):
        assert f"worker {queue}" in finished.stdout
    worker_pids = [int(pid) for pid in re.findall(r"pid (\d+)", finished.stdout)]
    assert len(worker_pids) == 3
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in worker_pids)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # the API is gone too
