"""SQL of files."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import File


class FileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, organization_id: str, file_id: str) -> File | None:
        return await self.session.scalar(
            select(File).where(File.id == file_id, File.organization_id == organization_id)
        )

    async def get_any(self, file_id: str) -> File | None:
        """A file whatever its organization (workers act on ids they were given)."""
        return await self.session.get(File, file_id)

    def for_organization(self, organization_id: str, purpose: str | None = None) -> Select[File]:
        statement = select(File).where(File.organization_id == organization_id)
        if purpose is not None:
            statement = statement.where(File.purpose == purpose)
        return statement
