"""`/v1/fine_tuning/jobs`: create, list, retrieve, cancel, start, events, checkpoints, metrics."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sse_starlette import EventSourceResponse

from services.api.deps import OrgDep, SessionDep, SettingsDep
from services.api.events.stream import SSE_RESPONSES, ResumeDep, StreamAccessDep, stream_events
from services.api.fine_tuning_jobs.schemas import (
    FineTuningJobCheckpointOut,
    FineTuningJobCreate,
    FineTuningJobEventOut,
    FineTuningJobMetricOut,
    FineTuningJobOut,
    MetricsPage,
)
from services.api.pagination import Page, PageDep, paginate, to_page
from services.api.routing import AttuneRoute
from shared.datasets.service import create_dataset
from shared.errors import BadRequest, NotFound
from shared.events.envelope import is_final_event_type
from shared.fine_tuning_jobs import service
from shared.fine_tuning_jobs.repository import JobRepository
from shared.fine_tuning_jobs.state import JobStatus
from shared.models import FineTuningJob
from shared.models.job_metric import METRIC_NAMES

router = APIRouter(prefix="/v1", route_class=AttuneRoute, tags=["fine-tuning"])
JobPath = "/fine_tuning/jobs/{fine_tuning_job_id}"
CSV_COLUMNS = ("step", "total_steps", *METRIC_NAMES)


def metadata_filter(request: Request) -> tuple[dict[str, str], bool]:
    """`metadata[key]=value` pairs (all must match), and whether `metadata=null` asked for jobs without."""
    pairs: dict[str, str] = {}
    without = False
    for key, value in request.query_params.multi_items():
        if key == "metadata":
            if value != "null":
                raise BadRequest(
                    "Filter with metadata[key]=value, or metadata=null for jobs without metadata.",
                    errors=[{"detail": "use metadata[key]=value", "pointer": "query/metadata"}],
                )
            without = True
        elif key.startswith("metadata[") and key.endswith("]"):
            pairs[key[len("metadata[") : -1]] = value
    return pairs, without


@router.post("/fine_tuning/jobs", operation_id="create_fine_tuning_job", response_model=FineTuningJobOut)
async def create_fine_tuning_job(
    body: FineTuningJobCreate, session: SessionDep, settings: SettingsDep, organization_id: OrgDep
) -> FineTuningJobOut:
    """Create a fine-tuning job on the chosen provider (`local` unless `provider` says otherwise)."""
    provider = body.provider or settings.providers.default_provider
    dataset_id = body.dataset_id
    if (recipe := body.dataset_recipe(provider)) is not None:
        dataset_id = (await create_dataset(session, organization_id, recipe, settings)).id
    request = service.JobRequest(
        provider=provider,
        model=body.model,
        training_file=body.training_file,
        validation_file=body.validation_file,
        dataset_id=dataset_id,
        hyperparameters=body.chosen_hyperparameters(),
        seed=body.seed,
        suffix=body.suffix,
        metadata=body.metadata,
        auto_start=body.auto_start,
    )
    job = await service.create_job(session, settings, organization_id, request)
    await session.flush()  # refresh() would drop unflushed changes
    await session.refresh(job)
    return FineTuningJobOut.of(job)


@router.get("/fine_tuning/jobs", operation_id="list_fine_tuning_jobs", response_model=Page[FineTuningJobOut])
async def list_fine_tuning_jobs(
    *,
    request: Request,
    session: SessionDep,
    organization_id: OrgDep,
    page: PageDep,
    status: Annotated[list[JobStatus] | None, Query(description="Only jobs in these statuses.")] = None,
    created_after: Annotated[datetime | None, Query(description="Unix seconds or ISO 8601.")] = None,
    created_before: Annotated[datetime | None, Query(description="Unix seconds or ISO 8601.")] = None,
) -> Page[FineTuningJobOut]:
    """The organization's jobs, newest first; filter by status, creation time and `metadata[k]=v`."""
    metadata, without_metadata = metadata_filter(request)
    statement = JobRepository(session).filtered(
        organization_id,
        statuses=[s.value for s in status or []],
        created_after=created_after,
        created_before=created_before,
        metadata=metadata,
        without_metadata=without_metadata,
    )
    rows, has_more = await paginate(session, statement, FineTuningJob.id, page)
    return to_page([FineTuningJobOut.of(row) for row in rows], has_more)


@router.get(JobPath, operation_id="retrieve_fine_tuning_job", response_model=FineTuningJobOut)
async def retrieve_fine_tuning_job(
    fine_tuning_job_id: str, session: SessionDep, organization_id: OrgDep
) -> FineTuningJobOut:
    """One job: our status and the provider's, costs, output model, error and every transition."""
    return FineTuningJobOut.of(await service.get_job(session, organization_id, fine_tuning_job_id))


@router.post(f"{JobPath}/cancel", operation_id="cancel_fine_tuning_job", response_model=FineTuningJobOut)
async def cancel_fine_tuning_job(
    fine_tuning_job_id: str, session: SessionDep, organization_id: OrgDep
) -> FineTuningJobOut:
    """Cancel a job (also at its provider); cancelling again changes nothing, a finished job is a 409."""
    job = await service.cancel_job(session, organization_id, fine_tuning_job_id)
    await session.flush()
    await session.refresh(job)
    return FineTuningJobOut.of(job)


@router.post(f"{JobPath}/start", operation_id="start_fine_tuning_job", response_model=FineTuningJobOut)
async def start_fine_tuning_job(
    fine_tuning_job_id: str, session: SessionDep, settings: SettingsDep, organization_id: OrgDep
) -> FineTuningJobOut:
    """Start a job created with `auto_start: false` (it waits in `awaiting_confirmation`)."""
    job = await service.start_job(session, settings, organization_id, fine_tuning_job_id)
    await session.flush()
    await session.refresh(job)
    return FineTuningJobOut.of(job)


@router.get(
    f"{JobPath}/events", operation_id="list_fine_tuning_events", response_model=Page[FineTuningJobEventOut]
)
async def list_fine_tuning_events(
    fine_tuning_job_id: str, session: SessionDep, organization_id: OrgDep, page: PageDep
) -> Page[FineTuningJobEventOut]:
    """The job's events (messages and metrics), newest first."""
    await service.get_job(session, organization_id, fine_tuning_job_id)
    rows, has_more = await JobRepository(session).events_page(fine_tuning_job_id, page.after, page.limit)
    return to_page([FineTuningJobEventOut.of(row) for row in rows], has_more)


@router.get(
    f"{JobPath}/checkpoints",
    operation_id="list_fine_tuning_job_checkpoints",
    response_model=Page[FineTuningJobCheckpointOut],
)
async def list_fine_tuning_job_checkpoints(
    fine_tuning_job_id: str, session: SessionDep, organization_id: OrgDep, page: PageDep
) -> Page[FineTuningJobCheckpointOut]:
    """The job's checkpoints (usable models saved along the way), newest first."""
    await service.get_job(session, organization_id, fine_tuning_job_id)
    repository = JobRepository(session)
    rows, has_more = await repository.checkpoints_page(fine_tuning_job_id, page.after, page.limit)
    return to_page([FineTuningJobCheckpointOut.of(row) for row in rows], has_more)


@router.get(
    f"{JobPath}/metrics",
    operation_id="list_fine_tuning_job_metrics",
    response_model=MetricsPage,
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with `?format=csv`."}},
)
async def list_fine_tuning_job_metrics(
    *,
    fine_tuning_job_id: str,
    session: SessionDep,
    organization_id: OrgDep,
    format: Annotated[Literal["json", "csv"], Query(description="`csv` streams every step.")] = "json",
    after: Annotated[int | None, Query(description="Only steps after this one (JSON pages).")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Steps per JSON page.")] = 1000,
) -> MetricsPage | StreamingResponse:
    """One row per training step: train, validation and full validation loss and token accuracy."""
    await service.get_job(session, organization_id, fine_tuning_job_id)
    repository = JobRepository(session)
    if format == "csv":
        # Read before the response starts: the request's session is closed once the body streams.
        rows = await repository.metric_rows(fine_tuning_job_id)
        return StreamingResponse(
            _csv(rows),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{fine_tuning_job_id}-metrics.csv"'},
        )
    metrics, has_more = await repository.metrics_page(fine_tuning_job_id, after, limit)
    data = [FineTuningJobMetricOut.of(metric) for metric in metrics]
    return MetricsPage(data=data, has_more=has_more, last_step=data[-1].step if data else None)


async def _csv(rows: list[tuple[Any, ...]]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for start in range(0, len(rows), 1000):
        writer.writerows(
            ["" if value is None else value for value in row] for row in rows[start : start + 1000]
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


@router.get(
    f"{JobPath}/stream",
    operation_id="stream_fine_tuning_job",
    response_class=EventSourceResponse,
    response_model=None,
    responses=SSE_RESPONSES,
)
async def stream_fine_tuning_job(
    fine_tuning_job_id: str, request: Request, access: StreamAccessDep, resume_after: ResumeDep
) -> EventSourceResponse:
    """The job's events as server-sent events from its first (or Last-Event-ID), ending after its last."""
    access.require(fine_tuning_job_id)
    # A short session of its own, as every stream: streams open by the thousand and stay open.
    async with request.app.state.sessionmaker() as session:
        if await JobRepository(session).get(access.organization_id, fine_tuning_job_id) is None:
            raise NotFound(f"No fine-tuning job {fine_tuning_job_id!r}.")
    return stream_events(
        request,
        access.organization_id,
        subject_id=fine_tuning_job_id,
        last_event_id=resume_after,
        from_start=True,
        ends_with=is_final_event_type,
    )
