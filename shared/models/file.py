"""A JSONL file Attune holds: uploaded with `purpose=fine-tune`, or built by a dataset."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RecordBase


class File(RecordBase):
    __tablename__ = "files"
    __table_args__ = (Index("ix_files_organization_id_id", "organization_id", "id"),)
    id_prefix: ClassVar[str] = "file"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    purpose: Mapped[str] = mapped_column(String(40), nullable=False)
    # OpenAI's (deprecated) file status: a stored file has passed every line check, so it is `processed`.
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="processed")
    bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(500), nullable=False)
    line_count: Mapped[int] = mapped_column(Integer, nullable=False)
    example_count: Mapped[int] = mapped_column(Integer, nullable=False)
    # A rough count (characters / 4) good enough for a cost estimate before a provider tokenizes.
    token_estimate: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # Set when a dataset built the file; `use_alter` breaks the files <-> datasets cycle.
    dataset_id: Mapped[str | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL", use_alter=True)
    )
    validation: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
