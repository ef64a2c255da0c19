"""The SQL that reads a build's source rows, on a plain asyncpg connection: the build's own session's,
or that of one of its worker processes, in the same snapshot.

A row is (row id, source language, target language, source text, target text, context, approved at
as microseconds since the epoch, markup JSON text).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SOURCE_COLUMNS = {
    "translations": (
        "translations", "project_id", "approved_at",
        "id, source_language, target_language, source_text, target_text, context, "
        "(extract(epoch FROM approved_at) * 1000000)::int8, NULL::text",
    ),
    "tm_units": (
        "tm_units", "translation_memory_id", "coalesce(change_date, creation_date)",
        "id, source_language, target_language, source_text, target_text, context, "
        "(extract(epoch FROM coalesce(change_date, creation_date)) * 1000000)::int8, markup::text",
    ),
}  # fmt: skip


# `en` matches `en` and `en-US`; the pairs arrive as two parallel text[] parameters.
LANGUAGE_PAIR_CONDITION = (
    "EXISTS (SELECT 1 FROM unnest({source}, {target}) AS p(s, t) "
    "WHERE (source_language = p.s OR source_language LIKE p.s || '-%') "
    "AND (target_language = p.t OR target_language LIKE p.t || '-%'))"
)


@dataclass(frozen=True)
class SourceQuery:
    """Which rows of one project or TM a build reads; `id_range` narrows it to one worker's share."""

    kind: str
    source_id: str
    approved_after: datetime | None = None
    approved_before: datetime | None = None
    approved_since: datetime | None = None
    language_pairs: tuple[tuple[str, str], ...] = ()
    id_range: tuple[int, int] | None = None  # first and last row id, both included

    def sql(self, select_list: str | None = None) -> tuple[str, list[Any]]:
        """The query (SOURCE_COLUMNS by default, oldest id first) and its arguments."""
        table, owner, approved, columns = SOURCE_COLUMNS[self.kind]
        conditions = [f"{owner} = $1"]
        arguments: list[Any] = [self.source_id]
        # Translations without an approval time are not approved; a TM unit without dates is (it is
        # in a TM) but no date window can admit it.
        if self.kind == "translations" or self.approved_after or self.approved_before or self.approved_since:
            conditions.append(f"{approved} IS NOT NULL")
        windows = ((">=", self.approved_after), ("<", self.approved_before), (">", self.approved_since))
        for operator, value in windows:
            if value is not None:
                arguments.append(value)
                conditions.append(f"{approved} {operator} ${len(arguments)}")
        if self.language_pairs:
            pairs = self.language_pairs
            arguments += [[pair[0] for pair in pairs], [pair[1] for pair in pairs]]
            source, target = f"${len(arguments) - 1}::text[]", f"${len(arguments)}::text[]"
            conditions.append(LANGUAGE_PAIR_CONDITION.format(source=source, target=target))
        if self.id_range is not None:
            arguments += list(self.id_range)
            conditions.append(f"id BETWEEN ${len(arguments) - 1} AND ${len(arguments)}")
        where = " AND ".join(conditions)
        if select_list is not None:
            return f"SELECT {select_list} FROM {table} WHERE {where}", arguments  # noqa: S608 - fixed fragments
        return f"SELECT {columns} FROM {table} WHERE {where} ORDER BY id", arguments  # noqa: S608


async def extent(connection: Any, query: SourceQuery) -> tuple[int, int | None, int | None]:
    """(rows, smallest id, largest id) of what `query` selects."""
    sql, arguments = query.sql("count(*), min(id), max(id)")
    row = await connection.fetchrow(sql, *arguments)
    return int(row[0]), row[1], row[2]


async def stream_rows(connection: Any, query: SourceQuery, batch_rows: int) -> AsyncIterator[Sequence[Any]]:
    """Batches of rows (see SOURCE_COLUMNS) through a server-side cursor, in the connection's transaction."""
    sql, arguments = query.sql()
    cursor = await connection.cursor(sql, *arguments)
    # Ask for the next batch before handing out this one: Postgres produces it while the caller
    # works (the caller must not use the connection until the stream ends).
    pending = asyncio.ensure_future(cursor.fetch(batch_rows))
    try:
        while rows := await pending:
            pending = asyncio.ensure_future(cursor.fetch(batch_rows))
            yield rows  # asyncpg Records: indexable and unpackable like tuples, without a copy
    finally:
        if not pending.done():
            pending.cancel()
