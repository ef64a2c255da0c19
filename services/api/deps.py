"""Dependency aliases every endpoint uses: SessionDep, RedisDep, SettingsDep, OrgDep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import structlog
from arq.connections import ArqRedis
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.errors import Unauthorized
from shared.models import ApiKey
from shared.organizations.repository import ApiKeyRepository
from shared.organizations.service import authenticate
from shared.queue import send_committed_jobs


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_redis(request: Request) -> ArqRedis:
    redis: ArqRedis = request.app.state.redis
    return redis


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed before the response is sent, rolled back on error."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        request.state.session = session
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        await send_committed_jobs(session, request.app.state.redis)


# Plain lookups are `async def` on purpose: FastAPI runs a sync dependency in its thread pool.
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RedisDep = Annotated[ArqRedis, Depends(get_redis)]
# scope="function": the commit happens before the response leaves, so a 201 means it is stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

# `last_used_at` is refreshed at most this often, so reads do not write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
bearer = HTTPBearer(auto_error=False, description="An Attune API key: `Authorization: Bearer atn_...`.")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the organization and the key it used."""

    organization_id: str
    api_key_id: str


async def get_principal(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    request: Request,
) -> Principal:
    """Resolve the bearer API key to its organization (401 when missing, malformed or revoked)."""
    if credentials is None:
        raise Unauthorized("Missing API key: send `Authorization: Bearer <key>`.")
    if credentials.scheme.lower() != "bearer" or not credentials.credentials.startswith("atn_"):
        raise Unauthorized("Malformed API key: Attune keys start with `atn_`.")
    api_key: ApiKey | None = await authenticate(session, credentials.credentials)
    if api_key is None:
        raise Unauthorized("Unknown or revoked API key.")
    now = datetime.now(UTC)
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        await ApiKeyRepository(session).touch(api_key.id)
    principal = Principal(api_key.organization_id, api_key.id)
    request.state.principal = principal
    structlog.contextvars.bind_contextvars(organization_id=principal.organization_id)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_organization_id(principal: PrincipalDep) -> str:
    return principal.organization_id


OrgDep = Annotated[str, Depends(get_organization_id)]
