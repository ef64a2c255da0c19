"""Helpers for the trainer tests: a real trainer server process, polling, and SDK shortcuts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import psutil

from services.trainer import synthetic

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "test-trainer-key"
TINY = "tiny-llama"
TERMINAL = {"succeeded", "failed", "cancelled"}


def wait_for(
    condition: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition"
) -> Any:
    """Poll until `condition()` is truthy; return its value or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TrainerServer:
    """`python -m services.trainer` on a free port, with its own state directory."""

    def __init__(self, state_dir: Path, models_dir: Path, **settings: str) -> None:
        self.state_dir, self.models_dir, self.settings = state_dir, models_dir, settings
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TrainerServer:
        self.port = _free_port()
        env = os.environ | {
            "ATTUNE_ENV": "test",
            "ATTUNE_TRAINER__STATE_DIR": str(self.state_dir),
            "ATTUNE_TRAINER__MODELS_DIR": str(self.models_dir),
            "ATTUNE_TRAINER__API_KEY": API_KEY,
            "ATTUNE_TRAINER__DEVICE": "cpu",
            "HF_HUB_OFFLINE": "1",
        }
        env |= {f"ATTUNE_TRAINER__{key.upper()}": value for key, value in self.settings.items()}
        command = [sys.executable, "-m", "services.trainer", "--host", "127.0.0.1", "--port", str(self.port)]
        with (self.state_dir.parent / f"{self.state_dir.name}-server.log").open("ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._healthy, timeout=60, what="the trainer to answer /healthz")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"trainer exited with {self.process.returncode}")
        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(self.url + "/healthz", timeout=5).json()
        return result

    def client(self, api_key: str = API_KEY) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=api_key, max_retries=0, timeout=300)

    def children(self) -> list[psutil.Process]:
        assert self.process is not None
        return psutil.Process(self.process.pid).children(recursive=True)

    def kill(self) -> None:
        """SIGKILL the server and every process it started, as a crash would."""
        assert self.process is not None
        victims = [*self.children(), psutil.Process(self.process.pid)]
        for victim in victims:
            victim.send_signal(signal.SIGKILL)
        psutil.wait_procs(victims, timeout=10)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        victims = self.children()
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        for victim in victims:
            if victim.is_running():
                victim.kill()


def upload(client: openai.OpenAI, examples: list[dict[str, Any]], name: str = "train.jsonl") -> str:
    """Upload examples as a JSONL fine-tuning file; return its id."""
    return client.files.create(file=(name, synthetic.to_jsonl(examples)), purpose="fine-tune").id


def wait_for_status(client: openai.OpenAI, job_id: str, statuses: set[str], timeout: float = 180) -> Any:
    """Poll a job until its status is one of `statuses`; return it."""

    def reached() -> Any:
        job = client.fine_tuning.jobs.retrieve(job_id)
        return job if job.status in statuses else None

    return wait_for(reached, timeout, interval=0.2, what=f"job {job_id} to reach {statuses}")


def all_events(client: openai.OpenAI, job_id: str) -> list[Any]:
    """Every event of a job, oldest first (the SDK pages through newest-first lists)."""
    return list(reversed(list(client.fine_tuning.jobs.list_events(job_id, limit=100))))


def metric_steps(client: openai.OpenAI, job_id: str) -> list[int]:
    """The `step` of every metrics event, oldest first."""
    return [event.data["step"] for event in all_events(client, job_id) if event.type == "metrics"]
