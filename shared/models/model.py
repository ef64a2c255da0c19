"""A fine-tuned output model and where it came from (base model, job, data, parent model)."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RecordBase


class FineTunedModel(RecordBase):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)
    id_prefix: ClassVar[str] = "model"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(512), nullable=False)  # the provider's model name
    base_model: Mapped[str] = mapped_column(String(256), nullable=False)
    # A job is never deleted while its model exists; `use_alter` breaks the jobs <-> models cycle.
    job_id: Mapped[str] = mapped_column(
        ForeignKey("fine_tuning_jobs.id", ondelete="RESTRICT", use_alter=True), nullable=False, unique=True
    )
    parent_model_id: Mapped[str | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"))
    provider: Mapped[str] = mapped_column(String(64), nullable=False)
    provider_kind: Mapped[str] = mapped_column(String(40), nullable=False)
    # sha256 of the training data: the dataset's content hash, or the training file's.
    dataset_hash: Mapped[str | None] = mapped_column(String(64))
    dataset_id: Mapped[str | None] = mapped_column(String(64))
