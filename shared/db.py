"""The async engine and sessions; sessions carry the jobs to enqueue once they commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from shared.config import Settings


def create_engine(settings: Settings, **overrides: Any) -> AsyncEngine:
    """An asyncpg engine sized and timed out as the settings say."""
    options: dict[str, Any] = {
        "echo": settings.db.echo,
        "connect_args": {"timeout": settings.db.connect_timeout},
    }
    if "poolclass" not in overrides:
        options.update(
            pool_size=settings.db.pool_size,
            max_overflow=settings.db.max_overflow,
            pool_timeout=settings.db.pool_timeout,
            pool_pre_ping=True,
        )
    options.update(overrides)
    return create_async_engine(settings.database_url, **options)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on error (the worker's edge)."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# Jobs recorded during a transaction wait in session.info until it commits; a rollback drops them.
PENDING_JOBS = "attune.pending_jobs"
COMMITTED_JOBS = "attune.committed_jobs"


@event.listens_for(Session, "after_commit")
def _promote_pending_jobs(session: Session) -> None:
    pending = session.info.pop(PENDING_JOBS, [])
    if pending:
        session.info.setdefault(COMMITTED_JOBS, []).extend(pending)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending_jobs(session: Session, previous_transaction: object) -> None:
    if session.in_transaction():
        return
    session.info.pop(PENDING_JOBS, None)
