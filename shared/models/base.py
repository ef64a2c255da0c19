"""The declarative base every table uses: stable constraint names, prefixed ids, timestamps."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import DateTime, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class RecordBase(TimestampMixin, Base):
    """A table whose rows have a prefixed, time-ordered string id (set `id_prefix`)."""

    __abstract__ = True
    id_prefix: ClassVar[str] = "obj"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("id", new_id(self.id_prefix))
        super().__init__(**kwargs)
