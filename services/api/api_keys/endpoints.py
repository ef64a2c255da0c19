"""The calling organization and its API keys."""

from __future__ import annotations

from fastapi import APIRouter, status

from services.api.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, OrganizationOut
from services.api.deps import OrgDep, SessionDep
from services.api.pagination import Page, PageDep, paginate, to_page
from services.api.routing import AttuneRoute
from shared.errors import NotFound
from shared.models import ApiKey
from shared.organizations.repository import ApiKeyRepository, OrganizationRepository
from shared.organizations.service import issue_api_key, revoke_api_key

router = APIRouter(prefix="/v1", route_class=AttuneRoute, tags=["organization"])


@router.get("/organization", operation_id="get_organization", response_model=OrganizationOut)
async def get_organization(session: SessionDep, organization_id: OrgDep) -> OrganizationOut:
    """The organization the API key belongs to."""
    organization = await OrganizationRepository(session).get(organization_id)
    if organization is None:
        raise NotFound("Organization not found.")
    return OrganizationOut.model_validate(organization)


@router.get("/api_keys", operation_id="list_api_keys", response_model=Page[ApiKeyOut])
async def list_api_keys(session: SessionDep, organization_id: OrgDep, page: PageDep) -> Page[ApiKeyOut]:
    """The organization's API keys, newest first."""
    statement = ApiKeyRepository(session).for_organization(organization_id)
    rows, has_more = await paginate(session, statement, ApiKey.id, page)
    return to_page([ApiKeyOut.model_validate(row) for row in rows], has_more)


@router.post(
    "/api_keys",
    operation_id="create_api_key",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
)
async def create_api_key(body: ApiKeyCreate, session: SessionDep, organization_id: OrgDep) -> ApiKeyCreated:
    """Issue a new API key; the key is in this response only."""
    issued = await issue_api_key(session, organization_id, body.name)
    await session.refresh(issued.api_key)
    return ApiKeyCreated(**ApiKeyOut.model_validate(issued.api_key).model_dump(), key=issued.plaintext)


@router.delete("/api_keys/{api_key_id}", operation_id="revoke_api_key", response_model=ApiKeyOut)
async def delete_api_key(api_key_id: str, session: SessionDep, organization_id: OrgDep) -> ApiKeyOut:
    """Revoke an API key; requests with it are refused from now on."""
    api_key = await revoke_api_key(session, organization_id, api_key_id)
    return ApiKeyOut.model_validate(api_key)
