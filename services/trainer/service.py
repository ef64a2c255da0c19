"""Job creation, cancellation and model resolution: the rules the HTTP layer applies to the store."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.trainer.errors import OpenAIError, bad_request, not_found
from services.trainer.registry import ModelSource, find_base_model, list_base_models
from services.trainer.schemas import CreateFineTuningJobRequest, Model
from services.trainer.store import ACTIVE_STATUSES, Store, new_id, now

OWNER = "attune-trainer"


@dataclass(frozen=True)
class ResolvedModel:
    """A servable or trainable model: a registered base and, for fine-tuned models, an adapter folder."""

    name: str
    base: ModelSource
    adapter: str | None


def resolve_model(store: Store, models_dir: Path, name: str) -> ResolvedModel | None:
    """The base model, fine-tuned model or checkpoint called `name`, or None."""
    source = find_base_model(models_dir, name)
    if source is not None:
        return ResolvedModel(name, source, None)
    if not name.startswith("ft:"):
        return None
    job = store.one("SELECT * FROM jobs WHERE fine_tuned_model = ? AND status = 'succeeded'", name)
    adapter = job["output_dir"] if job else None
    if job is None:
        checkpoint = store.one("SELECT * FROM checkpoints WHERE fine_tuned_model_checkpoint = ?", name)
        job = store.get("jobs", checkpoint["job_id"]) if checkpoint else None
        adapter = checkpoint["path"] if checkpoint else None
    base = find_base_model(models_dir, job["base_model"]) if job else None
    if base is None or adapter is None:
        return None
    return ResolvedModel(name, base, adapter)


def list_models(store: Store, models_dir: Path) -> list[Model]:
    """Every base model and every succeeded job's fine-tuned model."""
    models = [Model(id=s.name, created=s.created, owned_by=OWNER) for s in list_base_models(models_dir)]
    rows = store.all("SELECT fine_tuned_model, finished_at FROM jobs WHERE status = 'succeeded' ORDER BY seq")
    models += [Model(id=r["fine_tuned_model"], created=r["finished_at"] or 0, owned_by=OWNER) for r in rows]
    return models


def _requested_hyperparameters(request: CreateFineTuningJobRequest) -> dict[str, Any]:
    """The supervised hyperparameters asked for (`method` wins over the deprecated top-level field)."""
    if request.method is not None and request.method.type != "supervised":
        message = f"The built-in trainer only supports supervised fine-tuning, not '{request.method.type}'."
        raise bad_request(message, code="unsupported_method", param="method.type")
    chosen = request.hyperparameters
    if request.method and request.method.supervised and request.method.supervised.hyperparameters:
        chosen = request.method.supervised.hyperparameters
    return (
        chosen.model_dump()
        if chosen
        else {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"}
    )


def _check_file(store: Store, file_id: str | None, param: str) -> None:
    """A file a job names must exist and be a fine-tuning file."""
    if file_id is None:
        return
    record = store.get("files", file_id)
    if record is None:
        raise bad_request(f"Invalid file '{file_id}': no such file.", code="file_not_found", param=param)
    if record["purpose"] != "fine-tune":
        message = f"Invalid file '{file_id}': its purpose is '{record['purpose']}', not 'fine-tune'."
        raise bad_request(message, code="invalid_file_purpose", param=param)


def create_job(store: Store, models_dir: Path, request: CreateFineTuningJobRequest) -> dict[str, Any]:
    """Check a job request and store the job in `validating_files`; raise OpenAIError on bad input."""
    hyperparameters = _requested_hyperparameters(request)
    _check_file(store, request.training_file, "training_file")
    _check_file(store, request.validation_file, "validation_file")
    resolved = resolve_model(store, models_dir, request.model)
    if resolved is None:
        message = f"The model '{request.model}' does not exist or is not a trainable base model here."
        raise bad_request(message, code="model_not_found", param="model")
    job_id = new_id("ftjob-")
    record = {
        "id": job_id,
        "created_at": now(),
        "model": request.model,
        "base_model": resolved.base.name,
        "init_adapter": resolved.adapter,
        "training_file": request.training_file,
        "validation_file": request.validation_file,
        "hyperparameters": hyperparameters,
        "seed": request.seed if request.seed is not None else secrets.randbelow(2**31),
        "suffix": request.suffix,
        "metadata": request.metadata,
        "integrations": request.integrations,
        "status": "validating_files",
        "fine_tuned_model": None,
        "result_files": [],
    }
    with store.transaction() as db:
        store.insert("jobs", record, db)
        store.add_event(job_id, f"Created fine-tuning job: {job_id}", db=db)
        store.add_event(job_id, f"Validating training file: {request.training_file}", db=db)
    job = store.get("jobs", job_id)
    assert job is not None
    return job


def get_job(store: Store, job_id: str) -> dict[str, Any]:
    """A job by id, or a 404."""
    job = store.get("jobs", job_id)
    if job is None:
        raise not_found("fine_tuning_job", job_id, "fine_tuning_job_id")
    return job


def cancel_job(store: Store, job_id: str) -> dict[str, Any]:
    """Cancel a job that has not finished (its training process stops at its next step)."""
    job = get_job(store, job_id)
    with store.transaction() as db:
        cancelled = store.update_job(job_id, ACTIVE_STATUSES, status="cancelled", finished_at=now())
        if cancelled:
            store.add_event(job_id, "Job cancellation requested; training stops at its next step.", db=db)
    if not cancelled and job["status"] != "cancelled":
        message = f"Job {job_id} has already {job['status']}; only unfinished jobs can be cancelled."
        raise OpenAIError(400, message, code="job_not_cancellable", param="fine_tuning_job_id")
    return get_job(store, job_id)
