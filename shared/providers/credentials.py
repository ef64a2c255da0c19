"""Stored provider credentials as adapter targets (the credential's key is decrypted at call time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.errors import NotFound, ValidationFailed
from shared.provider_credentials.crypto import SecretUnavailable
from shared.provider_credentials.service import decrypt_credential, get_credential
from shared.providers.base import PermanentProviderError

if TYPE_CHECKING:
    from shared.providers.registry import ProviderTarget

LOCAL = "local"
# Kinds an adapter exists for; other stored kinds (e.g. fireworks) cannot run jobs yet.
ADAPTER_KINDS = ("local", "openai", "azure_openai", "together", "mistral")


def _unknown(provider: str) -> ValidationFailed:
    return ValidationFailed(
        f"provider {provider!r} is neither `local` nor a provider credential of your organization.",
        errors=[{"detail": f"unknown provider {provider!r}", "pointer": "#/provider"}],
    )


async def provider_kind(
    session: AsyncSession, settings: Settings, organization_id: str, provider: str
) -> str:
    """The kind (`local`, `openai`, `together`, ...) of a job's `provider`; 422 if the org has no such."""
    if provider == LOCAL:
        return LOCAL
    try:
        credential = await get_credential(session, organization_id, provider)
    except NotFound:
        raise _unknown(provider) from None
    if credential.kind not in ADAPTER_KINDS:
        raise ValidationFailed(
            f"provider {provider!r} is a {credential.kind} credential; fine-tuning runs on "
            f"{', '.join(ADAPTER_KINDS)}.",
            errors=[{"detail": f"no adapter for {credential.kind}", "pointer": "#/provider"}],
        )
    return credential.kind


async def credential_target(
    session: AsyncSession, settings: Settings, organization_id: str, credential_id: str
) -> ProviderTarget:
    """Base URL, kind and decrypted key of one of the organization's provider credentials."""
    from shared.providers.registry import ProviderTarget

    try:
        credential = await decrypt_credential(session, settings, organization_id, credential_id)
    except SecretUnavailable as exc:
        raise PermanentProviderError(
            f"The API key of provider credential {credential_id} cannot be decrypted; store it again.",
            code="credential_unavailable",
        ) from exc
    if credential.api_key is not None:
        api_key = credential.api_key.get_secret_value()
    elif credential.kind == LOCAL:
        api_key = settings.trainer.api_key.get_secret_value()
    else:
        raise ValidationFailed(f"Provider credential {credential_id} has no API key.")
    return ProviderTarget(credential.kind, credential.base_url, api_key, credential.id)
