"""OpenAI's `model` object with Attune's lineage fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from shared.models import FineTunedModel


class ModelOut(BaseModel):
    object: Literal["model"] = "model"
    id: str = Field(description="The model name to train on or chat with (the provider's name).")
    created: int
    owned_by: str = Field(description="The organization that trained it.")
    base_model: str = Field(description="The base model at the root of its lineage.")
    fine_tuning_job_id: str
    parent_model: str | None = Field(description="The model it continued training from (incremental runs).")
    dataset_id: str | None
    dataset_hash: str | None = Field(
        description="sha256 of the training data (dataset content or training file)."
    )
    provider: str
    provider_kind: str

    @classmethod
    def of(cls, model: FineTunedModel, parent_name: str | None) -> ModelOut:
        return cls(
            id=model.name,
            created=int(model.created_at.timestamp()),
            owned_by=model.organization_id,
            base_model=model.base_model,
            fine_tuning_job_id=model.job_id,
            parent_model=parent_name,
            dataset_id=model.dataset_id,
            dataset_hash=model.dataset_hash,
            provider=model.provider,
            provider_kind=model.provider_kind,
        )
