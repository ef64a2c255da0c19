"""Pre-translate prompts."""

from __future__ import annotations

from fastapi import APIRouter, status

from services.api.deps import OrgDep, SessionDep
from services.api.pagination import Page, PageDep, paginate, to_page
from services.api.prompts.schemas import (
    PromptCreate,
    PromptOut,
    PromptPreview,
    PromptUpdate,
    RenderedPromptOut,
)
from services.api.routing import AttuneRoute
from shared.models import Prompt
from shared.prompts.repository import PromptRepository
from shared.prompts.service import create_prompt, delete_prompt, get_prompt, render_prompt, update_prompt

router = APIRouter(prefix="/v1", route_class=AttuneRoute, tags=["prompts"])


@router.post(
    "/prompts", operation_id="create_prompt", response_model=PromptOut, status_code=status.HTTP_201_CREATED
)
async def create(body: PromptCreate, session: SessionDep, organization_id: OrgDep) -> PromptOut:
    """Create a prompt; 422 names any placeholder it does not know."""
    prompt = await create_prompt(session, organization_id, **body.model_dump())
    await session.refresh(prompt)
    return PromptOut.model_validate(prompt)


@router.get("/prompts", operation_id="list_prompts", response_model=Page[PromptOut])
async def list_all(session: SessionDep, organization_id: OrgDep, page: PageDep) -> Page[PromptOut]:
    """The organization's prompts, newest first."""
    rows, has_more = await paginate(
        session, PromptRepository(session).for_organization(organization_id), Prompt.id, page
    )
    return to_page([PromptOut.model_validate(row) for row in rows], has_more)


@router.get("/prompts/{prompt_id}", operation_id="get_prompt", response_model=PromptOut)
async def get(prompt_id: str, session: SessionDep, organization_id: OrgDep) -> PromptOut:
    """One prompt."""
    return PromptOut.model_validate(await get_prompt(session, organization_id, prompt_id))


@router.patch("/prompts/{prompt_id}", operation_id="update_prompt", response_model=PromptOut)
async def update(
    prompt_id: str, body: PromptUpdate, session: SessionDep, organization_id: OrgDep
) -> PromptOut:
    """Change a prompt's name or templates (checked as at creation)."""
    prompt = await update_prompt(session, organization_id, prompt_id, **body.model_dump(exclude_unset=True))
    await session.refresh(prompt)
    return PromptOut.model_validate(prompt)


@router.delete("/prompts/{prompt_id}", operation_id="delete_prompt", response_model=PromptOut)
async def delete(prompt_id: str, session: SessionDep, organization_id: OrgDep) -> PromptOut:
    """Delete a prompt (datasets and jobs built with it keep its text)."""
    return PromptOut.model_validate(await delete_prompt(session, organization_id, prompt_id))


@router.post("/prompts/{prompt_id}/render", operation_id="render_prompt", response_model=RenderedPromptOut)
async def render(
    prompt_id: str, body: PromptPreview, session: SessionDep, organization_id: OrgDep
) -> RenderedPromptOut:
    """Preview the messages the prompt makes for one row (nothing is stored)."""
    prompt = await get_prompt(session, organization_id, prompt_id)
    rendered = render_prompt(prompt, **body.model_dump())
    return RenderedPromptOut(system=rendered.system, user=rendered.user)
