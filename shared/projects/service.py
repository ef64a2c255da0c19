"""Creating, changing and (softly) deleting projects."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import NotFound
from shared.events.service import record_event
from shared.models import Project
from shared.projects.repository import ProjectRepository


async def create_project(
    session: AsyncSession,
    organization_id: str,
    *,
    name: str,
    source_language: str,
    target_languages: list[str],
) -> Project:
    """A new project; languages are expected normalised (the API schema does it)."""
    project = await ProjectRepository(session).add(
        Project(
            organization_id=organization_id,
            name=name,
            source_language=source_language,
            target_languages=target_languages,
        )
    )
    await record_event(session, organization_id, "project.created", {"id": project.id}, subject_id=project.id)
    return project


async def get_project(session: AsyncSession, organization_id: str, project_id: str) -> Project:
    """The organization's live project, or 404."""
    project = await ProjectRepository(session).get(organization_id, project_id)
    if project is None:
        raise NotFound(f"Project {project_id!r} not found.")
    return project


async def update_project(
    session: AsyncSession,
    organization_id: str,
    project_id: str,
    *,
    name: str | None = None,
    source_language: str | None = None,
    target_languages: list[str] | None = None,
) -> Project:
    """Change a project's name or languages; stored translations are kept as they are."""
    project = await ProjectRepository(session).get(organization_id, project_id, for_update=True)
    if project is None:
        raise NotFound(f"Project {project_id!r} not found.")
    if name is not None:
        project.name = name
    if source_language is not None:
        project.source_language = source_language
    if target_languages is not None:
        project.target_languages = target_languages
    await session.flush()
    await session.refresh(project)
    return project


async def delete_project(session: AsyncSession, organization_id: str, project_id: str) -> Project:
    """Soft-delete: the project disappears from the API, its translations stay for datasets that used them."""
    project = await ProjectRepository(session).get(organization_id, project_id, for_update=True)
    if project is None:
        raise NotFound(f"Project {project_id!r} not found.")
    project.deleted_at = datetime.now(UTC)
    await session.flush()
    await session.refresh(project)
    await record_event(session, organization_id, "project.deleted", {"id": project.id}, subject_id=project.id)
    return project
