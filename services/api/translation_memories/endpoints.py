"""Translation memories and their units."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from services.api.deps import OrgDep, SessionDep
from services.api.pagination import Page, PageDep, paginate, to_page
from services.api.projects.schemas import query_language
from services.api.routing import AttuneRoute
from services.api.translation_memories.schemas import (
    TmUnitOut,
    TranslationMemoryCreate,
    TranslationMemoryOut,
    TranslationMemoryUpdate,
)
from shared.models import TranslationMemory
from shared.translation_memories.repository import TranslationMemoryRepository, UnitFilters
from shared.translation_memories.service import (
    create_translation_memory,
    delete_translation_memory,
    get_translation_memory,
    list_units,
    update_translation_memory,
)

router = APIRouter(prefix="/v1", route_class=AttuneRoute, tags=["translation memories"])


@router.post(
    "/translation_memories",
    operation_id="create_translation_memory",
    response_model=TranslationMemoryOut,
    status_code=status.HTTP_201_CREATED,
)
async def create(
    body: TranslationMemoryCreate, session: SessionDep, organization_id: OrgDep
) -> TranslationMemoryOut:
    """Create an empty translation memory; its languages come from what is imported."""
    translation_memory = await create_translation_memory(session, organization_id, **body.model_dump())
    await session.refresh(translation_memory)
    return TranslationMemoryOut.model_validate(translation_memory)


@router.get(
    "/translation_memories",
    operation_id="list_translation_memories",
    response_model=Page[TranslationMemoryOut],
)
async def list_all(session: SessionDep, organization_id: OrgDep, page: PageDep) -> Page[TranslationMemoryOut]:
    """The organization's translation memories, newest first."""
    statement = TranslationMemoryRepository(session).for_organization(organization_id)
    rows, has_more = await paginate(session, statement, TranslationMemory.id, page)
    return to_page([TranslationMemoryOut.model_validate(row) for row in rows], has_more)


@router.get(
    "/translation_memories/{translation_memory_id}",
    operation_id="get_translation_memory",
    response_model=TranslationMemoryOut,
)
async def get(
    translation_memory_id: str, session: SessionDep, organization_id: OrgDep
) -> TranslationMemoryOut:
    """One translation memory with its languages and unit count."""
    return TranslationMemoryOut.model_validate(
        await get_translation_memory(session, organization_id, translation_memory_id)
    )


@router.patch(
    "/translation_memories/{translation_memory_id}",
    operation_id="update_translation_memory",
    response_model=TranslationMemoryOut,
)
async def update(
    translation_memory_id: str, body: TranslationMemoryUpdate, session: SessionDep, organization_id: OrgDep
) -> TranslationMemoryOut:
    """Rename or re-describe a translation memory."""
    translation_memory = await update_translation_memory(
        session, organization_id, translation_memory_id, **body.model_dump(exclude_unset=True)
    )
    await session.refresh(translation_memory)
    return TranslationMemoryOut.model_validate(translation_memory)


@router.delete(
    "/translation_memories/{translation_memory_id}",
    operation_id="delete_translation_memory",
    response_model=TranslationMemoryOut,
)
async def delete(
    translation_memory_id: str, session: SessionDep, organization_id: OrgDep
) -> TranslationMemoryOut:
    """Delete a translation memory; its units stay readable by datasets built from them."""
    return TranslationMemoryOut.model_validate(
        await delete_translation_memory(session, organization_id, translation_memory_id)
    )


@router.get(
    "/translation_memories/{translation_memory_id}/units",
    operation_id="list_translation_memory_units",
    response_model=Page[TmUnitOut],
)
async def units(
    translation_memory_id: str,
    *,
    session: SessionDep,
    organization_id: OrgDep,
    page: PageDep,
    source_language: Annotated[str | None, Query(description="Only this source language.")] = None,
    target_language: Annotated[str | None, Query(description="Only this target language.")] = None,
    approved_after: Annotated[
        datetime | None, Query(description="Changed (else created) at or after this time.")
    ] = None,
    approved_before: Annotated[
        datetime | None, Query(description="Changed (else created) before this time.")
    ] = None,
    tuid: Annotated[str | None, Query(description="Only the unit with this tuid.")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the source or target.")] = None,
) -> Page[TmUnitOut]:
    """A translation memory's units, newest first."""
    translation_memory = await get_translation_memory(session, organization_id, translation_memory_id)
    filters = UnitFilters(
        source_language=query_language(source_language, "source_language"),
        target_language=query_language(target_language, "target_language"),
        approved_after=approved_after,
        approved_before=approved_before,
        text=q,
        tuid=tuid,
    )
    rows, has_more = await list_units(
        session, translation_memory, filters, after=page.after, limit=page.limit
    )
    return to_page([TmUnitOut.of(row) for row in rows], has_more)
