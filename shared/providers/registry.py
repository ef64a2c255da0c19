"""Which adapter serves a job: `local` is the built-in trainer, anything else a stored provider credential."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.providers.base import ProviderAdapter
from shared.providers.http import ProviderHttp
from shared.providers.limits import CredentialLimiter, Limits
from shared.providers.mistral import MistralAdapter
from shared.providers.openai_compatible import OpenAICompatibleAdapter
from shared.providers.together import TogetherAdapter

LOCAL = "local"
OPENAI_COMPATIBLE_KINDS = ("local", "openai", "azure_openai")
SUPPORTED_KINDS = (*OPENAI_COMPATIBLE_KINDS, "together", "mistral")


@dataclass(frozen=True)
class ProviderTarget:
    """Where a provider lives and how to authenticate; the key is decrypted only for this call."""

    kind: str
    base_url: str
    api_key: str
    credential_key: str  # what limits are counted per: `local` or the credential id


async def resolve_target(
    session: AsyncSession, settings: Settings, organization_id: str, provider: str
) -> ProviderTarget:
    """The target of `provider` (`local` or a credential id of the organization)."""
    if provider == LOCAL:
        return ProviderTarget(LOCAL, settings.trainer.url, settings.trainer.api_key.get_secret_value(), LOCAL)
    from shared.providers.credentials import credential_target

    return await credential_target(session, settings, organization_id, provider)


_limiters: dict[tuple[int, str, Limits], CredentialLimiter] = {}


def limiter_for(redis: Redis, settings: Settings, target: ProviderTarget) -> CredentialLimiter:
    """The process's limiter of one credential (its Retry-After pause is remembered between tasks)."""
    config = settings.providers
    limits = Limits(
        requests_per_second=config.local_requests_per_second
        if target.kind == LOCAL
        else config.requests_per_second,
        max_concurrent=config.max_concurrent_requests,
        max_wait_seconds=config.max_rate_wait_seconds,
        lease_seconds=config.upload_timeout_seconds + 5,
    )
    key = (id(redis), target.credential_key, limits)
    if key not in _limiters:
        _limiters[key] = CredentialLimiter(redis, target.credential_key, limits)
    return _limiters[key]


def build_adapter(
    target: ProviderTarget,
    settings: Settings,
    *,
    limiter: CredentialLimiter | None,
    client: httpx.AsyncClient | None = None,
) -> ProviderAdapter:
    """The adapter for a target's kind, its requests limited by `limiter`."""
    headers = (
        {"api-key": target.api_key}
        if target.kind == "azure_openai"
        else {"Authorization": f"Bearer {target.api_key}"}
    )
    http = ProviderHttp(
        base_url=target.base_url, headers=headers, limiter=limiter, settings=settings.providers, client=client
    )
    upload_timeout = settings.providers.upload_timeout_seconds
    if target.kind in OPENAI_COMPATIBLE_KINDS:
        return OpenAICompatibleAdapter(http, kind=target.kind, upload_timeout=upload_timeout)
    if target.kind == "together":
        return TogetherAdapter(http, upload_timeout=upload_timeout)
    if target.kind == "mistral":
        return MistralAdapter(http, upload_timeout=upload_timeout)
    raise ValueError(f"no adapter for provider kind {target.kind!r}; supported: {', '.join(SUPPORTED_KINDS)}")


async def adapter_for(
    session: AsyncSession,
    redis: Redis,
    settings: Settings,
    organization_id: str,
    provider: str,
    *,
    client: httpx.AsyncClient | None = None,
) -> ProviderAdapter:
    """The adapter a job (or an evaluation) of `organization_id` uses to reach `provider`."""
    target = await resolve_target(session, settings, organization_id, provider)
    return build_adapter(target, settings, limiter=limiter_for(redis, settings, target), client=client)
