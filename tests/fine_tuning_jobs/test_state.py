"""The state machine: legal and illegal moves, and the events each transition writes."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.fine_tuning_jobs.service import dataset_built
from shared.fine_tuning_jobs.state import (
    FINAL,
    TRANSITIONS,
    IllegalTransition,
    JobStatus,
    can_transition,
    transition,
)
from shared.models import Dataset, Event, FineTuningJob, FineTuningJobEvent
from tests.fixtures.jobs import create_file, create_job
from tests.fixtures.organizations import create_org

S = JobStatus


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.CREATED, S.AWAITING_CONFIRMATION), (S.CREATED, S.VALIDATING_FILES),
        (S.BUILDING_DATASET, S.AWAITING_CONFIRMATION), (S.AWAITING_CONFIRMATION, S.VALIDATING_FILES),
        (S.VALIDATING_FILES, S.SUCCEEDED), (S.QUEUED, S.RUNNING),
        (S.RUNNING, S.PAUSED), (S.PAUSED, S.QUEUED), (S.RUNNING, S.QUEUED), (S.RUNNING, S.CANCELLING),
        (S.CANCELLING, S.SUCCEEDED), (S.CANCELLING, S.CANCELLED), (S.AWAITING_CONFIRMATION, S.CANCELLED),
    ],
)  # fmt: skip
def test_legal_moves(current: JobStatus, target: JobStatus) -> None:
    assert can_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.CREATED, S.RUNNING), (S.AWAITING_CONFIRMATION, S.QUEUED), (S.RUNNING, S.VALIDATING_FILES),
        (S.CANCELLING, S.RUNNING), (S.RUNNING, S.AWAITING_CONFIRMATION), (S.QUEUED, S.CREATED),
    ],
)  # fmt: skip
def test_illegal_moves(current: JobStatus, target: JobStatus) -> None:
    assert not can_transition(current, target)


def test_nothing_leaves_a_final_state() -> None:
    for final in FINAL:
        assert TRANSITIONS[final] == frozenset()
    assert set(TRANSITIONS) == set(JobStatus)


async def test_a_transition_records_when_and_writes_events_in_the_same_transaction(
    db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    training = await create_file(db, settings, org.id)
    job = await create_job(db, settings, org.id, training_file=training.id, auto_start=False)
    assert [t["status"] for t in job.transitions] == ["created", "awaiting_confirmation"]

    with pytest.raises(IllegalTransition) as raised:
        await transition(db, job, S.RUNNING)
    assert raised.value.status == 409 and job.status == S.AWAITING_CONFIRMATION

    assert await transition(db, job, S.FAILED, error=("provider_error", "It broke.", None))
    assert not await transition(db, job, S.FAILED)  # already there: no second set of events
    assert job.finished_at is not None and job.next_poll_at is None and job.error_message == "It broke."
    types = (await db.scalars(select(Event.type).where(Event.subject_id == job.id).order_by(Event.id))).all()
    assert types == [
        "fine_tuning.job.created",
        "fine_tuning.job.status_changed",
        "fine_tuning.job.status_changed",
        "fine_tuning.job.failed",
    ]
    last = await db.scalar(select(Event).where(Event.subject_id == job.id).order_by(Event.id.desc()).limit(1))
    assert last is not None
    assert last.data["status"] == "failed" and last.data["previous_status"] == "awaiting_confirmation"
    assert last.data["error"] == {"code": "provider_error", "message": "It broke.", "param": None}
    messages = (
        await db.scalars(select(FineTuningJobEvent.message).where(FineTuningJobEvent.job_id == job.id))
    ).all()
    assert "Fine-tuning job failed: It broke." in messages


@pytest.mark.parametrize(
    ("auto_start", "expected"), [(True, "validating_files"), (False, "awaiting_confirmation")]
)
async def test_a_job_waiting_for_its_dataset_goes_on_when_the_dataset_is_built(
    db: AsyncSession, settings: Settings, auto_start: bool, expected: str
) -> None:
    org = await create_org(db)
    built = await create_file(db, settings, org.id)
    # fine_tuning_jobs.dataset_id references datasets.id (issue 4): the job waits on a real dataset row.
    db.add(Dataset(id="ds_1", organization_id=org.id, status="building", recipe={}, provider_kind="local"))
    await db.flush()
    job = FineTuningJob(
        organization_id=org.id, provider="local", provider_kind="local", model="tiny-base",
        hyperparameters={"n_epochs": "auto"}, seed=1, auto_start=auto_start,
        status=S.BUILDING_DATASET, transitions=[], result_files=[], cost_currency="USD",
    )  # fmt: skip
    db.add(job)
    await db.flush()
    job = await dataset_built(db, settings, job.id, training_file_id=built.id, validation_file_id=None)
    assert job.status == expected and job.training_file_id == built.id and job.estimated_cost == 0
    assert (job.next_poll_at is not None) is auto_start


async def test_a_job_cancelled_while_its_dataset_was_building_stays_cancelled(
    db: AsyncSession, settings: Settings
) -> None:
    org = await create_org(db)
    built = await create_file(db, settings, org.id)
    job = FineTuningJob(
        organization_id=org.id, provider="local", provider_kind="local", model="tiny-base",
        hyperparameters={}, seed=1, auto_start=True,
        status=S.CANCELLED, transitions=[], result_files=[], cost_currency="USD",
    )  # fmt: skip
    db.add(job)
    await db.flush()
    job = await dataset_built(db, settings, job.id, training_file_id=built.id, validation_file_id=None)
    assert job.status == "cancelled" and job.training_file_id is None and job.next_poll_at is None
