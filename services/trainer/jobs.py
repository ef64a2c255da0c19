"""`/v1/fine_tuning/jobs`: create, list (with a metadata filter), retrieve, events, checkpoints, cancel."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from services.trainer import service
from services.trainer.deps import SettingsDep, StoreDep
from services.trainer.errors import bad_request
from services.trainer.schemas import (
    CreateFineTuningJobRequest,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobCheckpointList,
    FineTuningJobEvent,
    FineTuningJobEventList,
    FineTuningJobList,
)

router = APIRouter(prefix="/fine_tuning/jobs", tags=["fine_tuning"])
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.post("", operation_id="create_fine_tuning_job", response_model=FineTuningJob)
def create_fine_tuning_job(
    body: CreateFineTuningJobRequest, store: StoreDep, settings: SettingsDep
) -> FineTuningJob:
    """Create a LoRA fine-tuning job; it validates its files, queues, then trains."""
    return FineTuningJob.from_record(service.create_job(store, settings.models_dir, body))


def metadata_filter(request: Request) -> tuple[str, list[Any]]:
    """SQL for `metadata[key]=value` query parameters (all must match), or `metadata=null`."""
    clauses, params = ["1 = 1"], []
    for key, value in request.query_params.multi_items():
        if key == "metadata":
            if value != "null":
                raise bad_request("Use metadata[key]=value, or metadata=null.", param="metadata")
            clauses.append("metadata IS NULL")
        elif key.startswith("metadata[") and key.endswith("]"):
            clauses.append("EXISTS (SELECT 1 FROM json_each(jobs.metadata) WHERE key = ? AND value = ?)")
            params += [key[len("metadata[") : -1], value]
    return " AND ".join(clauses), params


@router.get("", operation_id="list_fine_tuning_jobs", response_model=FineTuningJobList)
def list_fine_tuning_jobs(
    request: Request, store: StoreDep, after: str | None = None, limit: Limit = 20
) -> FineTuningJobList:
    """List jobs, newest first; filter with `metadata[key]=value` (e.g. the client's own job id)."""
    where, params = metadata_filter(request)
    rows, has_more = store.page("jobs", where, params, after=after, limit=limit)
    return FineTuningJobList(data=[FineTuningJob.from_record(row) for row in rows], has_more=has_more)


@router.get("/{fine_tuning_job_id}", operation_id="retrieve_fine_tuning_job", response_model=FineTuningJob)
def retrieve_fine_tuning_job(fine_tuning_job_id: str, store: StoreDep) -> FineTuningJob:
    """Retrieve a job."""
    return FineTuningJob.from_record(service.get_job(store, fine_tuning_job_id))


@router.get(
    "/{fine_tuning_job_id}/events",
    operation_id="list_fine_tuning_events",
    response_model=FineTuningJobEventList,
)
def list_fine_tuning_events(
    fine_tuning_job_id: str,
    store: StoreDep,
    after: str | None = None,
    limit: Limit = 20,
    order: Annotated[
        Literal["asc", "desc"], Query(description="`desc` (OpenAI's) or `asc` to poll.")
    ] = "desc",
) -> FineTuningJobEventList:
    """List a job's events, newest first; `order=asc` with `after` returns events newer than `after`."""
    service.get_job(store, fine_tuning_job_id)
    rows, has_more = store.page(
        "events", "job_id = ?", [fine_tuning_job_id], after=after, limit=limit, newest_first=order == "desc"
    )
    return FineTuningJobEventList(
        data=[FineTuningJobEvent.from_record(row) for row in rows], has_more=has_more
    )


@router.get(
    "/{fine_tuning_job_id}/checkpoints",
    operation_id="list_fine_tuning_job_checkpoints",
    response_model=FineTuningJobCheckpointList,
)
def list_fine_tuning_job_checkpoints(
    fine_tuning_job_id: str, store: StoreDep, after: str | None = None, limit: Limit = 10
) -> FineTuningJobCheckpointList:
    """List a job's checkpoints, newest first."""
    service.get_job(store, fine_tuning_job_id)
    rows, has_more = store.page("checkpoints", "job_id = ?", [fine_tuning_job_id], after=after, limit=limit)
    data = [FineTuningJobCheckpoint.from_record(row) for row in rows]
    return FineTuningJobCheckpointList(
        data=data,
        has_more=has_more,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
    )


@router.post(
    "/{fine_tuning_job_id}/cancel", operation_id="cancel_fine_tuning_job", response_model=FineTuningJob
)
def cancel_fine_tuning_job(fine_tuning_job_id: str, store: StoreDep) -> FineTuningJob:
    """Cancel a job; a running one stops within a step and saves a checkpoint."""
    return FineTuningJob.from_record(service.cancel_job(store, fine_tuning_job_id))
