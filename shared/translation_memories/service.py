"""Translation memories: create, rename, soft-delete, list units, stream them for datasets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import NotFound, ValidationFailed
from shared.events.service import record_event
from shared.imports.bulk import parse_public_id, public_id
from shared.imports.records import ApprovedPair
from shared.models import TmUnit, TranslationMemory
from shared.translation_memories.repository import TmUnitRepository, TranslationMemoryRepository, UnitFilters

ID_PREFIX = TmUnit.id_prefix


async def create_translation_memory(
    session: AsyncSession, organization_id: str, *, name: str, description: str | None = None
) -> TranslationMemory:
    """An empty TM; its languages come from what is imported into it."""
    translation_memory = await TranslationMemoryRepository(session).add(
        TranslationMemory(organization_id=organization_id, name=name, description=description, languages=[])
    )
    await record_event(
        session,
        organization_id,
        "translation_memory.created",
        {"id": translation_memory.id},
        subject_id=translation_memory.id,
    )
    return translation_memory


async def get_translation_memory(
    session: AsyncSession, organization_id: str, translation_memory_id: str, *, for_update: bool = False
) -> TranslationMemory:
    """The organization's live TM, or 404."""
    translation_memory = await TranslationMemoryRepository(session).get(
        organization_id, translation_memory_id, for_update=for_update
    )
    if translation_memory is None:
        raise NotFound(f"Translation memory {translation_memory_id!r} not found.")
    return translation_memory


async def update_translation_memory(
    session: AsyncSession,
    organization_id: str,
    translation_memory_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
) -> TranslationMemory:
    """Rename or re-describe a TM."""
    translation_memory = await get_translation_memory(
        session, organization_id, translation_memory_id, for_update=True
    )
    if name is not None:
        translation_memory.name = name
    if description is not None:
        translation_memory.description = description
    await session.flush()
    await session.refresh(translation_memory)
    return translation_memory


async def delete_translation_memory(
    session: AsyncSession, organization_id: str, translation_memory_id: str
) -> TranslationMemory:
    """Soft-delete: hidden from the API, units kept for datasets that used them."""
    translation_memory = await get_translation_memory(
        session, organization_id, translation_memory_id, for_update=True
    )
    translation_memory.deleted_at = datetime.now(UTC)
    await session.flush()
    await session.refresh(translation_memory)
    await record_event(
        session,
        organization_id,
        "translation_memory.deleted",
        {"id": translation_memory.id},
        subject_id=translation_memory.id,
    )
    return translation_memory


def parse_cursor(after: str | None) -> int | None:
    """The sequence number behind a `tmu_<n>` cursor (422 when it is not one)."""
    if after is None:
        return None
    number = parse_public_id(ID_PREFIX, after)
    if number is None:
        raise ValidationFailed(
            f"`after` must be a unit id such as {ID_PREFIX}_42.",
            errors=[{"detail": "not a TM unit id", "pointer": "query/after"}],
        )
    return number


async def list_units(
    session: AsyncSession,
    translation_memory: TranslationMemory,
    filters: UnitFilters,
    *,
    after: str | None,
    limit: int,
) -> tuple[list[TmUnit], bool]:
    """A page of a TM's units, newest first."""
    return await TmUnitRepository(session).page(
        translation_memory.id, filters, after=parse_cursor(after), limit=limit
    )


async def stream_units(
    session: AsyncSession,
    translation_memory_id: str,
    filters: UnitFilters | None = None,
    *,
    batch_size: int = 5000,
) -> AsyncIterator[list[ApprovedPair]]:
    """Every matching unit of a TM (deleted or not), oldest first, in batches; `approved_at` is the
    unit's changedate, else its creationdate; `key` is its tuid (None when it had none)."""
    repository = TmUnitRepository(session)
    after = 0
    while rows := await repository.batch_after(
        translation_memory_id, filters or UnitFilters(), after=after, limit=batch_size
    ):
        after = rows[-1][0]
        yield [
            ApprovedPair(public_id(ID_PREFIX, row[0]), None if row[1].startswith("#") else row[1], *row[2:])
            for row in rows
        ]
