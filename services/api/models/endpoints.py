"""`/v1/models`: every fine-tuned output model of the organization, with where it came from."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from services.api.deps import OrgDep, SessionDep
from services.api.models.schemas import ModelOut
from services.api.pagination import Page, PageDep, paginate, to_page
from services.api.routing import AttuneRoute
from shared.errors import NotFound
from shared.fine_tuning_jobs.repository import JobRepository
from shared.models import FineTunedModel

router = APIRouter(prefix="/v1", route_class=AttuneRoute, tags=["models"])


async def _parent_names(session: SessionDep, models: list[FineTunedModel]) -> dict[str, str]:
    ids = {model.parent_model_id for model in models if model.parent_model_id}
    if not ids:
        return {}
    rows = await session.execute(
        select(FineTunedModel.id, FineTunedModel.name).where(FineTunedModel.id.in_(ids))
    )
    return {row[0]: row[1] for row in rows}


@router.get("/models", operation_id="list_models", response_model=Page[ModelOut])
async def list_models(session: SessionDep, organization_id: OrgDep, page: PageDep) -> Page[ModelOut]:
    """Fine-tuned models, newest first, each with its base model, job, data hash and parent model."""
    statement = JobRepository(session).models(organization_id)
    rows, has_more = await paginate(session, statement, FineTunedModel.id, page)
    parents = await _parent_names(session, rows)
    return to_page(
        [ModelOut.of(row, parents.get(row.parent_model_id or "")) for row in rows],
        has_more,
    )


@router.get("/models/{model:path}", operation_id="retrieve_model", response_model=ModelOut)
async def retrieve_model(model: str, session: SessionDep, organization_id: OrgDep) -> ModelOut:
    """One fine-tuned model by name (as `fine_tuned_model` shows it) and its lineage."""
    found = await JobRepository(session).model_by_name(organization_id, model)
    if found is None:
        raise NotFound(f"No fine-tuned model {model!r} in your organization.")
    parents = await _parent_names(session, [found])
    return ModelOut.of(found, parents.get(found.parent_model_id or ""))
