"""A row a dataset build dropped, and why (one per dropped row; a bulk table like `translations`)."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base


class DatasetReject(Base):
    __tablename__ = "dataset_rejects"
    __table_args__ = (Index("ix_dataset_rejects_dataset_id_reason_id", "dataset_id", "reason", "id"),)
    id_prefix: ClassVar[str] = "dsrej"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    row_id: Mapped[str] = mapped_column(String(40), nullable=False)  # `tr_42` or `tmu_7`
    source_id: Mapped[str] = mapped_column(String(64), nullable=False)  # the project or TM
    reason: Mapped[str] = mapped_column(String(40), nullable=False)
    detail: Mapped[str | None] = mapped_column(Text)
    source_excerpt: Mapped[str | None] = mapped_column(Text)
    target_excerpt: Mapped[str | None] = mapped_column(Text)
