"""The asyncpg connection under a session, for COPY and array-parameter statements SQLAlchemy lacks."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


async def driver_connection(session: AsyncSession) -> Any:
    """The session's asyncpg connection (untyped: asyncpg ships no stubs), in the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


def public_id(prefix: str, number: int) -> str:
    """The API id of a bulk row: `tr_42`."""
    return f"{prefix}_{number}"


def parse_public_id(prefix: str, value: str) -> int | None:
    """The sequence number in `tr_42`, or None when the value is not such an id."""
    head, _, number = value.partition("_")
    if head != prefix or not number.isdigit() or len(number) > 18:
        return None
    return int(number)
