"""Dataset shapes: the recipe is the request; the dataset carries its files, report and estimate."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.datasets.recipe import Recipe
from shared.imports.bulk import public_id
from shared.models import Dataset, DatasetReject
from shared.pricing.estimate import Estimate

DatasetCreate = Recipe


class DatasetOut(BaseModel):
    object: Literal["dataset"] = "dataset"
    id: str
    status: Literal["building", "ready", "failed"]
    created_at: datetime
    finished_at: datetime | None
    recipe: dict[str, Any] = Field(description="The recipe as stored: sorted, defaults filled in.")
    training_file: str | None = Field(description="File id; download it at /v1/files/{id}/content.")
    validation_file: str | None
    content_hash: str | None = Field(description="sha256 over both files: equal hashes, equal data.")
    data_cutoff: datetime | None = Field(description="Newest approval read; `since_job` starts after it.")
    stats: dict[str, Any] | None = Field(
        description="Rows read, rows dropped per reason, examples/tokens/bytes and length histogram per file."
    )
    estimate: dict[str, Any] | None = Field(description="Training cost or duration for the recipe's model.")
    error: dict[str, Any] | None = Field(description="Why the build failed, as a problem detail.")

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetOut:
        return cls(
            id=dataset.id,
            status=dataset.status,
            created_at=dataset.created_at,
            finished_at=dataset.finished_at,
            recipe=dataset.recipe,
            training_file=dataset.training_file_id,
            validation_file=dataset.validation_file_id,
            content_hash=dataset.content_hash,
            data_cutoff=dataset.data_cutoff,
            stats=dataset.stats,
            estimate=dataset.estimate,
            error=dataset.error,
        )


class RejectOut(BaseModel):
    object: Literal["dataset.reject"] = "dataset.reject"
    id: str
    row_id: str = Field(description="The dropped row: `tr_<n>` (translation) or `tmu_<n>` (TM unit).")
    source_id: str = Field(description="The project or translation memory it comes from.")
    reason: str
    detail: str | None
    source_excerpt: str | None = Field(description="Start of the normalised source (content filters only).")
    target_excerpt: str | None

    @classmethod
    def of(cls, reject: DatasetReject) -> RejectOut:
        return cls(
            id=public_id(DatasetReject.id_prefix, reject.id),
            row_id=reject.row_id,
            source_id=reject.source_id,
            reason=reject.reason,
            detail=reject.detail,
            source_excerpt=reject.source_excerpt,
            target_excerpt=reject.target_excerpt,
        )


EstimateOut = Estimate
