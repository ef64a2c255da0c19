"""SQL for provider credentials."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import ProviderCredential


class ProviderCredentialRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def for_organization(self, organization_id: str) -> Select[ProviderCredential]:
        return select(ProviderCredential).where(ProviderCredential.organization_id == organization_id)

    async def get(
        self, organization_id: str, credential_id: str, *, for_update: bool = False
    ) -> ProviderCredential | None:
        statement = self.for_organization(organization_id).where(ProviderCredential.id == credential_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def add(self, credential: ProviderCredential) -> ProviderCredential:
        self.session.add(credential)
        await self.session.flush()
        return credential

    async def delete(self, credential: ProviderCredential) -> None:
        await self.session.delete(credential)
        await self.session.flush()

    async def sealed_with_other_keys(
        self, current_key_id: str, limit: int, after_id: str = ""
    ) -> list[ProviderCredential]:
        """Rows (every organization) sealed with an older key, in id order after `after_id`, locked."""
        statement = (
            select(ProviderCredential)
            .where(
                ProviderCredential.api_key_ciphertext.is_not(None),
                ProviderCredential.api_key_key_id != current_key_id,
                ProviderCredential.id > after_id,
            )
            .order_by(ProviderCredential.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.scalars(statement)).all())
