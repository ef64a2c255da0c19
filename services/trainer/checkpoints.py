"""Per-epoch (and on-cancel) checkpoints: a usable adapter plus the state to resume training from."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

from services.trainer.modeling import write_model_card
from services.trainer.store import Store, new_id, now

TRAINING_STATE = "training_state.pt"


def job_dir(store: Store, job_id: str) -> Path:
    """The folder of a job's checkpoints, final adapter and training log."""
    return store.state_dir / "jobs" / job_id


def _fsync_tree(folder: Path) -> None:
    """Flush a folder's files to disk before it is renamed into place."""
    for path in folder.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())


def save_adapter(model: Any, target: Path, base_model: str, **card: Any) -> None:
    """Save the LoRA adapter into `target` atomically (written beside it, then renamed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        write_model_card(staging, base_model, **card)
        _fsync_tree(staging)
        staging.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def save_checkpoint(
    store: Store,
    job: dict[str, Any],
    *,
    fine_tuned_model: str,
    metrics: dict[str, Any],
    model: Any,
    training_state: dict[str, Any],
    reason: str,
) -> None:
    """Save a checkpoint at `training_state["step"]`, record it, and keep resume state on the newest only."""
    import torch

    step = int(training_state["step"])
    folder = job_dir(store, job["id"]) / "checkpoints" / f"step-{step}"
    save_adapter(model, folder, job["base_model"], step=step)
    state_path = folder / TRAINING_STATE
    torch.save(training_state, state_path.with_suffix(".tmp"))
    os.replace(state_path.with_suffix(".tmp"), state_path)
    name = f"{fine_tuned_model}:ckpt-step-{step}"
    record = {"id": new_id("ftckpt_"), "job_id": job["id"], "created_at": now(), "step_number": step}
    record |= {"metrics": metrics, "fine_tuned_model_checkpoint": name, "path": str(folder)}
    with store.transaction() as db:
        store.insert("checkpoints", record, db)
        store.add_event(job["id"], f"Checkpoint created at step {step} ({reason}).", db=db)
    for older in store.all(
        "SELECT path FROM checkpoints WHERE job_id = ? AND step_number < ?", job["id"], step
    ):
        Path(older["path"], TRAINING_STATE).unlink(missing_ok=True)


def latest_resumable(store: Store, job_id: str) -> tuple[dict[str, Any], Path] | None:
    """The newest checkpoint of a job that still holds its training state, with that state's path."""
    rows = store.all("SELECT * FROM checkpoints WHERE job_id = ? ORDER BY step_number DESC", job_id)
    for row in rows:
        state_path = Path(row["path"]) / TRAINING_STATE
        if state_path.is_file():
            return row, state_path
    return None


def capture_rng() -> dict[str, Any]:
    """The random number generators' states, so a resumed run draws the same numbers."""
    import torch

    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore(model: Any, optimizer: Any, scheduler: Any, checkpoint: Path, state_path: Path) -> dict[str, Any]:
    """Load adapter weights, optimizer, scheduler and RNG states from a checkpoint; return its state."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = load_file(str(checkpoint / "adapter_model.safetensors"))
    set_peft_model_state_dict(model, weights)
    state: dict[str, Any] = torch.load(state_path, weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rng = state["rng"]
    random.setstate(rng["python"])
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return state
