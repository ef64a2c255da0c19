"""`/v1/fine_tuning/jobs/{id}/evaluation`: ask for an evaluation of a succeeded job, read the latest."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from services.api.deps import OrgDep, SessionDep
from services.api.evaluations.schemas import FineTuningJobEvaluationOut
from services.api.routing import AttuneRoute
from shared.evaluations import service

router = APIRouter(prefix="/v1", route_class=AttuneRoute, tags=["fine-tuning"])
EvaluationPath = "/fine_tuning/jobs/{fine_tuning_job_id}/evaluation"


@router.post(
    EvaluationPath,
    operation_id="create_fine_tuning_job_evaluation",
    response_model=FineTuningJobEvaluationOut,
    status_code=status.HTTP_202_ACCEPTED,
)
async def create_fine_tuning_job_evaluation(
    fine_tuning_job_id: str, response: Response, session: SessionDep, organization_id: OrgDep
) -> FineTuningJobEvaluationOut:
    """Evaluate a succeeded job's model against its base model (returns the one queued or running, if any)."""
    evaluation = await service.request_evaluation(session, organization_id, fine_tuning_job_id)
    await session.flush()
    await session.refresh(evaluation)
    response.headers["Location"] = f"/v1/fine_tuning/jobs/{fine_tuning_job_id}/evaluation"
    return FineTuningJobEvaluationOut.of(evaluation)


@router.get(
    EvaluationPath,
    operation_id="retrieve_fine_tuning_job_evaluation",
    response_model=FineTuningJobEvaluationOut,
)
async def retrieve_fine_tuning_job_evaluation(
    fine_tuning_job_id: str, session: SessionDep, organization_id: OrgDep
) -> FineTuningJobEvaluationOut:
    """The job's latest evaluation: both models' chrF++, BLEU, TER, placeholder errors and every segment."""
    return FineTuningJobEvaluationOut.of(
        await service.latest_evaluation(session, organization_id, fine_tuning_job_id)
    )
