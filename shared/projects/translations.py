"""Approved translations: validated batch upserts, filtered listing, and streaming for datasets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import ValidationFailed
from shared.imports.bulk import parse_public_id, public_id
from shared.imports.records import ApprovedPair
from shared.imports.validation import TranslationRow, validate_rows
from shared.models import Project, Translation
from shared.projects.repository import TranslationFilters, TranslationRepository, TranslationValues

MAX_BATCH_ROWS = 10_000
ID_PREFIX = Translation.id_prefix


@dataclass(frozen=True)
class RowError:
    index: int
    field: str
    detail: str

    @property
    def pointer(self) -> str:
        return f"#/translations/{self.index}" + (
            f"/{self.field.replace('.', '/')}" if self.field != "/" else ""
        )


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


def language_problem(project: Project, source_language: str, target_language: str) -> tuple[str, str] | None:
    """(field, message) when a row's languages are not the project's."""
    if source_language != project.source_language:
        return (
            "source_language",
            f"{source_language} is not the project's source language ({project.source_language})",
        )
    if target_language not in project.target_languages:
        targets = ", ".join(project.target_languages)
        return (
            "target_language",
            f"{target_language} is not one of the project's target languages ({targets})",
        )
    return None


async def upsert_translations(session: AsyncSession, project: Project, rows: list[Any]) -> UpsertResult:
    """Insert or update each valid row (idempotent on key and target language); invalid rows are reported."""
    if len(rows) > MAX_BATCH_ROWS:
        raise ValidationFailed(
            f"A batch holds at most {MAX_BATCH_ROWS} translations; this one has {len(rows)}.",
            errors=[{"detail": f"at most {MAX_BATCH_ROWS} items", "pointer": "#/translations"}],
        )
    valid, problems = validate_rows(rows)
    result = UpsertResult(
        errors=[RowError(index, f, message) for index, fs in problems.items() for f, message in fs]
    )
    # Last one wins when a batch repeats a key and target language, as a sequence of upserts would.
    latest: dict[tuple[str, str], tuple[int, TranslationRow]] = {}
    for index, row in valid:
        problem = language_problem(project, row.source_language, row.target_language)
        if problem is not None:
            result.errors.append(RowError(index, *problem))
            continue
        identity = (row.key, row.target_language)
        earlier = latest.get(identity)
        if earlier is not None:
            result.errors.append(
                RowError(
                    earlier[0],
                    "key",
                    f"repeated by row {index} (same key and target_language), which was applied",
                )
            )
        latest[identity] = (index, row)
    # Sorted, so concurrent batches lock rows in the same order and cannot deadlock each other.
    values: list[TranslationValues] = [
        (
            row.key,
            row.source_language,
            row.target_language,
            row.source_text,
            row.target_text,
            row.context,
            row.approved_at,
        )
        for _, (_, row) in sorted(latest.items())
    ]
    result.inserted, result.updated = await TranslationRepository(session).upsert(project.id, values)
    result.unchanged = len(values) - result.inserted - result.updated
    result.errors.sort(key=lambda error: error.index)
    return result


def parse_cursor(after: str | None) -> int | None:
    """The sequence number behind a `tr_<n>` cursor (422 when it is not one)."""
    if after is None:
        return None
    number = parse_public_id(ID_PREFIX, after)
    if number is None:
        raise ValidationFailed(
            f"`after` must be a translation id such as {ID_PREFIX}_42.",
            errors=[{"detail": "not a translation id", "pointer": "query/after"}],
        )
    return number


async def list_translations(
    session: AsyncSession, project: Project, filters: TranslationFilters, *, after: str | None, limit: int
) -> tuple[list[Translation], bool]:
    """A page of the project's translations, newest first."""
    return await TranslationRepository(session).page(
        project.id, filters, after=parse_cursor(after), limit=limit
    )


async def stream_translations(
    session: AsyncSession,
    project_id: str,
    filters: TranslationFilters | None = None,
    *,
    batch_size: int = 5000,
) -> AsyncIterator[list[ApprovedPair]]:
    """Every matching translation of a project (deleted or not), oldest first, in batches (keyset pages)."""
    repository = TranslationRepository(session)
    after = 0
    while rows := await repository.batch_after(
        project_id, filters or TranslationFilters(), after=after, limit=batch_size
    ):
        after = rows[-1][0]
        yield [ApprovedPair(public_id(ID_PREFIX, row[0]), *row[1:], None) for row in rows]
