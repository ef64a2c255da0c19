"""SQL for organizations and their API keys."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import ApiKey, Organization


class OrganizationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, organization_id: str) -> Organization | None:
        return await self.session.get(Organization, organization_id)

    async def add(self, organization: Organization) -> Organization:
        self.session.add(organization)
        await self.session.flush()
        return organization


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def active_by_hash(self, key_hash: str) -> ApiKey | None:
        result = await self.session.execute(
            select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
        )
        return result.scalar_one_or_none()

    def for_organization(self, organization_id: str) -> Select[ApiKey]:
        return select(ApiKey).where(ApiKey.organization_id == organization_id)

    async def get(self, organization_id: str, api_key_id: str) -> ApiKey | None:
        result = await self.session.execute(
            self.for_organization(organization_id).where(ApiKey.id == api_key_id)
        )
        return result.scalar_one_or_none()

    async def add(self, api_key: ApiKey) -> ApiKey:
        self.session.add(api_key)
        await self.session.flush()
        return api_key

    async def touch(self, api_key_id: str) -> None:
        await self.session.execute(
            update(ApiKey).where(ApiKey.id == api_key_id).values(last_used_at=datetime.now(UTC))
        )
