"""Creating organizations and issuing, resolving and revoking their API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import NotFound
from shared.models import ApiKey, Organization
from shared.organizations.repository import ApiKeyRepository, OrganizationRepository
from shared.security import generate_api_key, hash_api_key


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    plaintext: str


async def issue_api_key(session: AsyncSession, organization_id: str, name: str) -> IssuedKey:
    """Create a key for the organization; its plaintext exists only in the returned value."""
    new_key = generate_api_key()
    api_key = ApiKey(
        organization_id=organization_id, name=name, prefix=new_key.prefix, key_hash=new_key.key_hash
    )
    await ApiKeyRepository(session).add(api_key)
    return IssuedKey(api_key, new_key.plaintext)


async def create_organization(session: AsyncSession, name: str) -> tuple[Organization, IssuedKey]:
    """A new organization with its first API key."""
    organization = await OrganizationRepository(session).add(Organization(name=name))
    issued = await issue_api_key(session, organization.id, name="default")
    return organization, issued


async def authenticate(session: AsyncSession, plaintext: str) -> ApiKey | None:
    """The active key matching the plaintext, or None."""
    return await ApiKeyRepository(session).active_by_hash(hash_api_key(plaintext))


async def revoke_api_key(session: AsyncSession, organization_id: str, api_key_id: str) -> ApiKey:
    """Revoke one of the organization's keys (idempotent); another org's key is a 404."""
    api_key = await ApiKeyRepository(session).get(organization_id, api_key_id)
    if api_key is None:
        raise NotFound(f"API key {api_key_id!r} not found.")
    if api_key.revoked_at is None:
        api_key.revoked_at = datetime.now(UTC)
        await session.flush()
    return api_key
