"""SQL for prompts."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Prompt


class PromptRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def for_organization(self, organization_id: str) -> Select[Prompt]:
        return select(Prompt).where(Prompt.organization_id == organization_id, Prompt.deleted_at.is_(None))

    async def get(self, organization_id: str, prompt_id: str, *, for_update: bool = False) -> Prompt | None:
        statement = self.for_organization(organization_id).where(Prompt.id == prompt_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get_any(self, prompt_id: str) -> Prompt | None:
        """A prompt even if deleted (datasets and jobs that already name it)."""
        return await self.session.get(Prompt, prompt_id)

    async def add(self, prompt: Prompt) -> Prompt:
        self.session.add(prompt)
        await self.session.flush()
        return prompt
