"""Provider credentials: write-only API keys for fine-tuning providers."""

from __future__ import annotations

from fastapi import APIRouter, status

from services.api.deps import OrgDep, SessionDep, SettingsDep
from services.api.pagination import Page, PageDep, paginate, to_page
from services.api.provider_credentials.schemas import (
    DeletedOut,
    ProviderCredentialCreate,
    ProviderCredentialOut,
    ProviderCredentialUpdate,
)
from services.api.routing import AttuneRoute
from shared.models import ProviderCredential
from shared.provider_credentials.repository import ProviderCredentialRepository
from shared.provider_credentials.service import (
    create_credential,
    delete_credential,
    get_credential,
    update_credential,
)

router = APIRouter(prefix="/v1", route_class=AttuneRoute, tags=["provider credentials"])


@router.post(
    "/provider_credentials",
    operation_id="create_provider_credential",
    response_model=ProviderCredentialOut,
    status_code=status.HTTP_201_CREATED,
)
async def create(
    body: ProviderCredentialCreate, session: SessionDep, organization_id: OrgDep, settings: SettingsDep
) -> ProviderCredentialOut:
    """Store a provider's base URL and API key; the key is encrypted and never shown again."""
    credential = await create_credential(
        session,
        settings,
        organization_id,
        name=body.name,
        kind=body.kind,
        base_url=str(body.base_url) if body.base_url is not None else None,
        api_key=body.api_key,
    )
    await session.refresh(credential)
    return ProviderCredentialOut.of(credential)


@router.get(
    "/provider_credentials",
    operation_id="list_provider_credentials",
    response_model=Page[ProviderCredentialOut],
)
async def list_all(
    session: SessionDep, organization_id: OrgDep, page: PageDep
) -> Page[ProviderCredentialOut]:
    """The organization's provider credentials, newest first."""
    statement = ProviderCredentialRepository(session).for_organization(organization_id)
    rows, has_more = await paginate(session, statement, ProviderCredential.id, page)
    return to_page([ProviderCredentialOut.of(row) for row in rows], has_more)


@router.get(
    "/provider_credentials/{credential_id}",
    operation_id="get_provider_credential",
    response_model=ProviderCredentialOut,
)
async def get(credential_id: str, session: SessionDep, organization_id: OrgDep) -> ProviderCredentialOut:
    """One provider credential (its key shows only as the last four characters)."""
    return ProviderCredentialOut.of(await get_credential(session, organization_id, credential_id))


@router.patch(
    "/provider_credentials/{credential_id}",
    operation_id="update_provider_credential",
    response_model=ProviderCredentialOut,
)
async def update(
    credential_id: str,
    body: ProviderCredentialUpdate,
    session: SessionDep,
    organization_id: OrgDep,
    settings: SettingsDep,
) -> ProviderCredentialOut:
    """Rename a credential, change its base URL or replace its key."""
    credential = await update_credential(
        session,
        settings,
        organization_id,
        credential_id,
        name=body.name,
        base_url=str(body.base_url) if body.base_url is not None else None,
        api_key=body.api_key,
    )
    await session.refresh(credential)
    return ProviderCredentialOut.of(credential)


@router.delete(
    "/provider_credentials/{credential_id}",
    operation_id="delete_provider_credential",
    response_model=DeletedOut,
)
async def delete(credential_id: str, session: SessionDep, organization_id: OrgDep) -> DeletedOut:
    """Delete a credential and its encrypted key."""
    await delete_credential(session, organization_id, credential_id)
    return DeletedOut(id=credential_id)
