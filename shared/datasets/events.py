"""What a dataset tells the world when its build ends: `dataset.ready` / `dataset.failed` events, and hooks.

Hooks let other domains react in the same transaction (a fine-tuning job waiting in `building_dataset`
moves on): `@on_dataset_finished` registers `hook(session, dataset)`, called after the event is written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.service import record_event
from shared.models import Dataset

DATASET_READY = "dataset.ready"
DATASET_FAILED = "dataset.failed"
DATASET_DELETED = "dataset.deleted"

DatasetHook = Callable[[AsyncSession, Dataset], Awaitable[None]]
FINISHED_HOOKS: list[DatasetHook] = []


def on_dataset_finished(hook: DatasetHook) -> DatasetHook:
    """Register `hook(session, dataset)`: called in the build's transaction once it is ready or failed."""
    FINISHED_HOOKS.append(hook)
    return hook


def _summary(dataset: Dataset) -> dict[str, Any]:
    stats = dataset.stats or {}
    training = stats.get("training") or {}
    validation = stats.get("validation") or {}
    return {
        "id": dataset.id,
        "status": dataset.status,
        "training_file": dataset.training_file_id,
        "validation_file": dataset.validation_file_id,
        "content_hash": dataset.content_hash,
        "training_examples": training.get("examples"),
        "validation_examples": validation.get("examples"),
        "training_tokens": training.get("tokens"),
    }


async def emit_finished(session: AsyncSession, dataset: Dataset) -> None:
    """Write `dataset.ready` or `dataset.failed` and run the hooks."""
    data = _summary(dataset)
    if dataset.status == "failed" and dataset.error:
        data["error"] = {key: dataset.error.get(key) for key in ("code", "detail")}
    event_type = DATASET_READY if dataset.status == "ready" else DATASET_FAILED
    await record_event(session, dataset.organization_id, event_type, data, subject_id=dataset.id)
    for hook in FINISHED_HOOKS:
        await hook(session, dataset)


async def emit_deleted(session: AsyncSession, organization_id: str, dataset_id: str) -> None:
    await record_event(session, organization_id, DATASET_DELETED, {"id": dataset_id}, subject_id=dataset_id)
