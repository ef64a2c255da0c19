"""Projects and their approved translations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from services.api.deps import OrgDep, SessionDep
from services.api.pagination import Page, PageDep, paginate, to_page
from services.api.projects.schemas import (
    ProjectCreate,
    ProjectOut,
    ProjectUpdate,
    RowErrorOut,
    TranslationBatch,
    TranslationOut,
    UpsertResultOut,
    query_language,
)
from services.api.routing import AttuneRoute
from shared.models import Project
from shared.projects.repository import ProjectRepository, TranslationFilters
from shared.projects.service import create_project, delete_project, get_project, update_project
from shared.projects.translations import list_translations, upsert_translations

router = APIRouter(prefix="/v1", route_class=AttuneRoute, tags=["projects"])


@router.post(
    "/projects", operation_id="create_project", response_model=ProjectOut, status_code=status.HTTP_201_CREATED
)
async def create(body: ProjectCreate, session: SessionDep, organization_id: OrgDep) -> ProjectOut:
    """Create a project with a source language and its target languages."""
    project = await create_project(session, organization_id, **body.model_dump())
    await session.refresh(project)
    return ProjectOut.model_validate(project)


@router.get("/projects", operation_id="list_projects", response_model=Page[ProjectOut])
async def list_all(session: SessionDep, organization_id: OrgDep, page: PageDep) -> Page[ProjectOut]:
    """The organization's projects, newest first."""
    rows, has_more = await paginate(
        session, ProjectRepository(session).for_organization(organization_id), Project.id, page
    )
    return to_page([ProjectOut.model_validate(row) for row in rows], has_more)


@router.get("/projects/{project_id}", operation_id="get_project", response_model=ProjectOut)
async def get(project_id: str, session: SessionDep, organization_id: OrgDep) -> ProjectOut:
    """One project."""
    return ProjectOut.model_validate(await get_project(session, organization_id, project_id))


@router.patch("/projects/{project_id}", operation_id="update_project", response_model=ProjectOut)
async def update(
    project_id: str, body: ProjectUpdate, session: SessionDep, organization_id: OrgDep
) -> ProjectOut:
    """Rename a project or change its languages (stored translations are kept)."""
    project = await update_project(
        session, organization_id, project_id, **body.model_dump(exclude_unset=True)
    )
    await session.refresh(project)
    return ProjectOut.model_validate(project)


@router.delete("/projects/{project_id}", operation_id="delete_project", response_model=ProjectOut)
async def delete(project_id: str, session: SessionDep, organization_id: OrgDep) -> ProjectOut:
    """Delete a project; its translations stay readable by the datasets built from them."""
    return ProjectOut.model_validate(await delete_project(session, organization_id, project_id))


@router.post(
    "/projects/{project_id}/translations",
    operation_id="upsert_translations",
    response_model=UpsertResultOut,
)
async def upsert(
    project_id: str, body: TranslationBatch, session: SessionDep, organization_id: OrgDep
) -> UpsertResultOut:
    """Insert or update up to 10,000 approved translations, idempotent on key and target language."""
    project = await get_project(session, organization_id, project_id)
    result = await upsert_translations(session, project, body.translations)
    return UpsertResultOut(
        inserted=result.inserted,
        updated=result.updated,
        unchanged=result.unchanged,
        rejected=len({error.index for error in result.errors}),
        errors=[
            RowErrorOut(index=e.index, field=e.field, detail=e.detail, pointer=e.pointer)
            for e in result.errors
        ],
    )


@router.get(
    "/projects/{project_id}/translations",
    operation_id="list_translations",
    response_model=Page[TranslationOut],
)
async def list_project_translations(
    project_id: str,
    *,
    session: SessionDep,
    organization_id: OrgDep,
    page: PageDep,
    source_language: Annotated[str | None, Query(description="Only this source language.")] = None,
    target_language: Annotated[str | None, Query(description="Only this target language.")] = None,
    approved_after: Annotated[datetime | None, Query(description="Approved at or after this time.")] = None,
    approved_before: Annotated[datetime | None, Query(description="Approved before this time.")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the source or target.")] = None,
) -> Page[TranslationOut]:
    """A project's translations, newest first, filtered by language pair, approval time or text."""
    project = await get_project(session, organization_id, project_id)
    filters = TranslationFilters(
        source_language=query_language(source_language, "source_language"),
        target_language=query_language(target_language, "target_language"),
        approved_after=approved_after,
        approved_before=approved_before,
        text=q,
    )
    rows, has_more = await list_translations(session, project, filters, after=page.after, limit=page.limit)
    return to_page([TranslationOut.of(row) for row in rows], has_more)
