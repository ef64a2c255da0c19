"""`/v1/datasets`: build a dataset from a recipe, read its report and rejects, estimate, delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from services.api.datasets.schemas import DatasetCreate, DatasetOut, EstimateOut, RejectOut
from services.api.deps import OrgDep, SessionDep, SettingsDep
from services.api.pagination import Page, PageDep, paginate, to_page
from services.api.routing import AttuneRoute
from shared.datasets import service
from shared.datasets.reasons import Reason
from shared.datasets.repository import DatasetRepository, RejectRepository
from shared.errors import ValidationFailed
from shared.imports.bulk import parse_public_id
from shared.models import Dataset, DatasetReject

router = APIRouter(prefix="/v1", route_class=AttuneRoute, tags=["datasets"])


@router.post(
    "/datasets",
    operation_id="create_dataset",
    response_model=DatasetOut,
    status_code=status.HTTP_202_ACCEPTED,
)
async def create_dataset(
    body: DatasetCreate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    organization_id: OrgDep,
) -> DatasetOut:
    """Build a dataset from a recipe in the background; poll it (or listen for `dataset.ready`)."""
    dataset = await service.create_dataset(session, organization_id, body, settings)
    await session.refresh(dataset)
    response.headers["Location"] = f"/v1/datasets/{dataset.id}"
    return DatasetOut.of(dataset)


@router.get("/datasets", operation_id="list_datasets", response_model=Page[DatasetOut])
async def list_datasets(
    session: SessionDep,
    organization_id: OrgDep,
    page: PageDep,
    status_filter: Annotated[
        Literal["building", "ready", "failed"] | None,
        Query(alias="status", description="Only datasets in this status."),
    ] = None,
) -> Page[DatasetOut]:
    """The organization's datasets, newest first."""
    statement = DatasetRepository(session).for_organization(organization_id)
    if status_filter is not None:
        statement = statement.where(Dataset.status == status_filter)
    rows, has_more = await paginate(session, statement, Dataset.id, page)
    return to_page([DatasetOut.of(row) for row in rows], has_more)


@router.get("/datasets/{dataset_id}", operation_id="retrieve_dataset", response_model=DatasetOut)
async def retrieve_dataset(dataset_id: str, session: SessionDep, organization_id: OrgDep) -> DatasetOut:
    """One dataset: status, files, content hash, report and estimate (or why it failed)."""
    return DatasetOut.of(await service.get_dataset(session, organization_id, dataset_id))


@router.get(
    "/datasets/{dataset_id}/rejects", operation_id="list_dataset_rejects", response_model=Page[RejectOut]
)
async def list_rejects(
    dataset_id: str,
    session: SessionDep,
    organization_id: OrgDep,
    page: PageDep,
    reason: Annotated[Reason | None, Query(description="Only rows dropped for this reason.")] = None,
) -> Page[RejectOut]:
    """Every row the build dropped and why, in the order it found them."""
    dataset = await service.get_dataset(session, organization_id, dataset_id)
    after = None
    if page.after is not None:
        after = parse_public_id(DatasetReject.id_prefix, page.after)
        if after is None:
            raise ValidationFailed(
                f"`after` must be a reject id such as {DatasetReject.id_prefix}_42.",
                errors=[{"detail": "not a reject id", "pointer": "query/after"}],
            )
    rows, has_more = await RejectRepository(session).page(
        dataset.id, reason.value if reason else None, after=after, limit=page.limit
    )
    return to_page([RejectOut.of(row) for row in rows], has_more)


@router.get("/datasets/{dataset_id}/estimate", operation_id="estimate_dataset", response_model=EstimateOut)
async def estimate_dataset(
    dataset_id: str,
    *,
    session: SessionDep,
    settings: SettingsDep,
    organization_id: OrgDep,
    provider: Annotated[
        str | None, Query(description="Provider kind or credential id (the recipe's).")
    ] = None,
    model: Annotated[str | None, Query(description="Base model (the recipe's).")] = None,
    n_epochs: Annotated[int | None, Query(ge=1, le=50, description="Epochs; `auto` when left out.")] = None,
) -> EstimateOut:
    """Trained tokens and cost (hosted providers) or duration (built-in trainer) of training on it."""
    dataset = await service.get_dataset(session, organization_id, dataset_id)
    return await service.estimate_dataset(
        session, settings, dataset, provider=provider, model=model, n_epochs=n_epochs or "auto"
    )


@router.delete("/datasets/{dataset_id}", operation_id="delete_dataset", response_model=DatasetOut)
async def delete_dataset(dataset_id: str, session: SessionDep, organization_id: OrgDep) -> DatasetOut:
    """Delete a dataset with its files and rejects; 409 while a fine-tuning job uses it."""
    return DatasetOut.of(await service.delete_dataset(session, organization_id, dataset_id))
