"""Validates files and runs queued jobs, one training child process per device, in a server thread."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import structlog

from services.trainer.datasets import DatasetError, resolve_hyperparameters, validate_chat_file
from services.trainer.store import Store, now

log = structlog.get_logger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Child:
    """A running training process and the job it trains."""

    job_id: str
    process: subprocess.Popen[bytes]
    log_file: IO[bytes]


def device_slots(device: str) -> list[str]:
    """One slot per device: `auto`, `cpu`, `cuda`, or a comma-separated list such as `cuda:0,cuda:1`."""
    return [part.strip() for part in device.split(",") if part.strip()] or ["auto"]


class Scheduler:
    """Moves jobs from `validating_files` to `queued` to `running`, and notices training processes end."""

    def __init__(self, store: Store, models_dir: Path, device: str, interval: float = 0.2) -> None:
        self.store, self.models_dir, self.interval = store, models_dir, interval
        self.slots: dict[str, Child | None] = dict.fromkeys(device_slots(device))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="trainer-scheduler", daemon=True)

    def start(self) -> None:
        """Start the scheduling thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop scheduling and end the training processes (their jobs resume on the next start)."""
        self._stop.set()
        self._thread.join(timeout=10)
        for child in filter(None, self.slots.values()):
            child.process.kill()
            child.process.wait(timeout=10)
            child.log_file.close()

    def _loop(self) -> None:
        """Tick until stopped; a failing tick is logged, never fatal."""
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("trainer.scheduler.tick_failed")
            self._stop.wait(self.interval)

    def tick(self) -> None:
        """One round: validate new jobs, reap finished processes, start the next jobs."""
        for job in self.store.all("SELECT * FROM jobs WHERE status = 'validating_files' ORDER BY seq"):
            self._validate(job)
        for slot, child in self.slots.items():
            if child is not None and child.process.poll() is not None:
                self._reap(child)
                self.slots[slot] = None
        for slot, child in self.slots.items():
            if child is None and not self._stop.is_set():
                self.slots[slot] = self._start_next(slot)

    def _validate(self, job: dict[str, Any]) -> None:
        """Check the job's files and resolve `"auto"` hyperparameters; queue or fail it."""
        job_id = job["id"]
        try:
            summary = validate_chat_file(
                self._file_path(job["training_file"], "training_file"), "training_file"
            )
            if job["validation_file"]:
                validate_chat_file(
                    self._file_path(job["validation_file"], "validation_file"), "validation_file"
                )
        except DatasetError as exc:
            error = {"code": exc.code, "message": exc.message, "param": exc.param}
            with self.store.transaction() as db:
                if self.store.update_job(
                    job_id, ("validating_files",), status="failed", error=error, finished_at=now()
                ):
                    self.store.add_event(
                        job_id, f"Fine-tuning job failed: {exc.message}", level="error", db=db
                    )
            return
        resolved = resolve_hyperparameters(job["hyperparameters"], summary.examples)
        with self.store.transaction() as db:
            if self.store.update_job(job_id, ("validating_files",), status="queued", resolved=resolved):
                self.store.add_event(job_id, "Files validated, moving job to queued state.", db=db)

    def _file_path(self, file_id: str, param: str) -> Path:
        """The stored path of a file a job uses."""
        record = self.store.get("files", file_id)
        if record is None:
            raise DatasetError("file_not_found", f"File {file_id} no longer exists.", param)
        return Path(record["path"])

    def _start_next(self, slot: str) -> Child | None:
        """Start the next job on a free device: interrupted jobs first (they resume), then queued ones."""
        busy = [child.job_id for child in self.slots.values() if child is not None]
        marks = ", ".join("?" for _ in busy) or "''"
        sql = (
            "SELECT * FROM jobs WHERE status IN ('running', 'queued') AND id NOT IN (" + marks + ") "  # noqa: S608
            "ORDER BY status = 'running' DESC, seq LIMIT 1"
        )
        job = self.store.one(sql, *busy)
        if job is None:
            return None
        with self.store.transaction() as db:
            if job["status"] == "queued":
                if not self.store.update_job(job["id"], ("queued",), status="running", started_at=now()):
                    return None
            else:
                self.store.add_event(job["id"], "The trainer restarted; resuming the job.", db=db)
        return self._spawn(job["id"], slot)

    def _spawn(self, job_id: str, slot: str) -> Child:
        """Start `python -m services.trainer.runner` for a job, logging to the job's folder."""
        folder = self.store.state_dir / "jobs" / job_id
        folder.mkdir(parents=True, exist_ok=True)
        log_file = (folder / "train.log").open("ab")
        env = os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "services.trainer.runner", "--state-dir", str(self.store.state_dir)]
        command += ["--models-dir", str(self.models_dir), "--job-id", job_id, "--device", slot]
        # Spawned from the long-lived scheduler thread: the child's PR_SET_PDEATHSIG fires when it ends.
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        log.info("trainer.job.started", job_id=job_id, device=slot, pid=process.pid)
        return Child(job_id, process, log_file)

    def _reap(self, child: Child) -> None:
        """Record how a training process ended; a job it left running failed with the reason."""
        child.log_file.close()
        code = child.process.returncode
        log.info("trainer.job.process_exited", job_id=child.job_id, returncode=code)
        job = self.store.get("jobs", child.job_id)
        if job is None or job["status"] != "running":
            return
        tail = _log_tail(self.store.state_dir / "jobs" / child.job_id / "train.log")
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        message = f"The training process {how} before the job finished. {tail}".strip()
        error = {"code": "training_process_crashed", "message": message[:2000], "param": None}
        with self.store.transaction() as db:
            if self.store.update_job(
                child.job_id, ("running",), status="failed", error=error, finished_at=now()
            ):
                self.store.add_event(child.job_id, f"Fine-tuning job failed: {message}", level="error", db=db)

    def running_jobs(self) -> dict[str, str]:
        """Job id per busy device slot."""
        return {slot: child.job_id for slot, child in self.slots.items() if child is not None}


def _log_tail(path: Path, lines: int = 5) -> str:
    """The last lines of a training log, for a failure message."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line for line in text.strip().splitlines()[-lines:] if line.strip())
