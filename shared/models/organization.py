"""Organizations: every other row belongs to one."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RecordBase


class Organization(RecordBase):
    __tablename__ = "organizations"
    id_prefix = "org"

    name: Mapped[str] = mapped_column(String(200), nullable=False)
