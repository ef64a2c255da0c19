"""Entry point of a training child process: `python -m services.trainer.runner --job-id ...`."""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import traceback
from pathlib import Path

from services.trainer.datasets import DatasetError
from services.trainer.registry import find_base_model
from services.trainer.store import Store, now
from shared.processes import die_with_parent


def set_thread_policy() -> None:
    """Let idle OpenMP threads sleep: on a shared CPU, spinning threads slow training several-fold."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def fail(store: Store, job_id: str, code: str, message: str, param: str | None = None) -> None:
    """Mark a running job failed with an OpenAI-shaped error and say why in an event."""
    error = {"code": code, "message": message, "param": param}
    with store.transaction() as db:
        if store.update_job(job_id, ("running",), status="failed", error=error, finished_at=now()):
            store.add_event(job_id, f"Fine-tuning job failed: {message}", level="error", db=db)


def run(store: Store, job_id: str, models_dir: Path, device: str, parent: int) -> int:
    """Train one job; every failure ends as a failed job, never as an unhandled crash."""
    from services.trainer import modeling, training

    job = store.get("jobs", job_id)
    if job is None or job["status"] != "running":
        return 0

    def should_stop() -> bool:
        current = store.one("SELECT status FROM jobs WHERE id = ?", job_id)
        return os.getppid() != parent or current is None or current["status"] != "running"

    base = find_base_model(models_dir, job["base_model"])
    if base is None:
        fail(store, job_id, "model_not_found", f"The base model '{job['base_model']}' is gone.", "model")
        return 0
    try:
        modeling.quiet_libraries()
        plan = training.Plan(job, base, modeling.resolve_device(device), store.state_dir / "model_cache")
        training.train_job(store, plan, should_stop)
    except training.Stopped:
        return 0
    except DatasetError as exc:
        fail(store, job_id, exc.code, exc.message, exc.param)
    except MemoryError:
        fail(store, job_id, "out_of_memory", "Training ran out of memory; try a smaller batch_size.")
    except Exception as exc:
        traceback.print_exc()
        code = "out_of_memory" if "out of memory" in str(exc).lower() else "training_error"
        fail(store, job_id, code, f"Training failed: {type(exc).__name__}: {exc}"[:2000])
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, hold the job's lock, and train."""
    parser = argparse.ArgumentParser(prog="python -m services.trainer.runner")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    set_thread_policy()
    parent = die_with_parent()
    store = Store(args.state_dir)
    folder = args.state_dir / "jobs" / args.job_id
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "lock").open("w") as lock:
        # A training process left over from a killed server must be gone before this one trains.
        fcntl.flock(lock, fcntl.LOCK_EX)
        return run(store, args.job_id, args.models_dir, args.device, parent)


if __name__ == "__main__":
    sys.exit(main())
