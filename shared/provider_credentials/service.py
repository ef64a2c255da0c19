"""Provider credentials: a write-only API key sealed at rest, opened only when a provider is called."""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from cryptography.fernet import InvalidToken
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.errors import NotFound, ValidationFailed
from shared.events.service import record_event
from shared.models import IdempotencyKey, ProviderCredential
from shared.provider_credentials.crypto import SealedSecret, SecretBox, SecretUnavailable, associated_data
from shared.provider_credentials.repository import ProviderCredentialRepository
from shared.security import secret_box

log = structlog.get_logger()

PROVIDER_KINDS = ("local", "openai", "azure_openai", "together", "mistral", "fireworks")
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "together": "https://api.together.xyz/v1",
    "mistral": "https://api.mistral.ai/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
}
PURPOSE = "provider_credential"


@dataclass(frozen=True)
class DecryptedCredential:
    """What a provider adapter needs for one call; the key stays a SecretStr (masked in reprs and logs)."""

    id: str
    kind: str
    base_url: str
    api_key: SecretStr | None = field(repr=False)


def _aad(credential: ProviderCredential) -> bytes:
    return associated_data(credential.organization_id, credential.id, PURPOSE)


def _seal_key(box: SecretBox, credential: ProviderCredential, api_key: SecretStr) -> None:
    plaintext = api_key.get_secret_value()
    sealed = box.seal(plaintext, _aad(credential))
    credential.api_key_ciphertext = sealed.ciphertext
    credential.api_key_key_id = sealed.key_id
    credential.api_key_last_four = plaintext[-4:] if len(plaintext) >= 8 else None


def _base_url(settings: Settings, kind: str, base_url: str | None) -> str:
    if base_url:
        return base_url.rstrip("/")
    if kind == "local":
        return settings.trainer.url
    if kind in DEFAULT_BASE_URLS:
        return DEFAULT_BASE_URLS[kind]
    raise ValidationFailed(
        f"A {kind} credential needs a base_url (your resource's endpoint).",
        errors=[{"detail": "required for this kind", "pointer": "#/base_url"}],
    )


async def create_credential(
    session: AsyncSession,
    settings: Settings,
    organization_id: str,
    *,
    name: str,
    kind: str,
    base_url: str | None,
    api_key: SecretStr | None,
) -> ProviderCredential:
    """Store a credential; the key is sealed before it reaches the session."""
    if kind != "local" and api_key is None:
        raise ValidationFailed(
            f"A {kind} credential needs an api_key.", errors=[{"detail": "required", "pointer": "#/api_key"}]
        )
    credential = ProviderCredential(
        organization_id=organization_id, name=name, kind=kind, base_url=_base_url(settings, kind, base_url)
    )
    if api_key is not None:
        _seal_key(SecretBox(settings), credential, api_key)
    await ProviderCredentialRepository(session).add(credential)
    await record_event(
        session,
        organization_id,
        "provider_credential.created",
        {"id": credential.id, "kind": kind},
        subject_id=credential.id,
    )
    log.info("provider_credential.created", credential_id=credential.id, kind=kind)
    return credential


async def get_credential(
    session: AsyncSession, organization_id: str, credential_id: str
) -> ProviderCredential:
    """The organization's credential, or 404."""
    credential = await ProviderCredentialRepository(session).get(organization_id, credential_id)
    if credential is None:
        raise NotFound(f"Provider credential {credential_id!r} not found.")
    return credential


async def update_credential(
    session: AsyncSession,
    settings: Settings,
    organization_id: str,
    credential_id: str,
    *,
    name: str | None = None,
    base_url: str | None = None,
    api_key: SecretStr | None = None,
) -> ProviderCredential:
    """Rename, repoint or replace the key of a credential (its kind is fixed)."""
    credential = await ProviderCredentialRepository(session).get(
        organization_id, credential_id, for_update=True
    )
    if credential is None:
        raise NotFound(f"Provider credential {credential_id!r} not found.")
    if name is not None:
        credential.name = name
    if base_url is not None:
        credential.base_url = _base_url(settings, credential.kind, base_url)
    if api_key is not None:
        _seal_key(SecretBox(settings), credential, api_key)
        log.info("provider_credential.key_replaced", credential_id=credential.id)
    await session.flush()
    await session.refresh(credential)
    return credential


async def delete_credential(session: AsyncSession, organization_id: str, credential_id: str) -> None:
    """Delete a credential and its sealed key for good."""
    repository = ProviderCredentialRepository(session)
    credential = await repository.get(organization_id, credential_id, for_update=True)
    if credential is None:
        raise NotFound(f"Provider credential {credential_id!r} not found.")
    await repository.delete(credential)
    await record_event(
        session,
        organization_id,
        "provider_credential.deleted",
        {"id": credential_id},
        subject_id=credential_id,
    )


def open_api_key(settings: Settings, credential: ProviderCredential) -> SecretStr | None:
    """The plaintext key of a loaded credential (None if it has none); SecretUnavailable if it won't open."""
    if credential.api_key_ciphertext is None or credential.api_key_key_id is None:
        return None
    sealed = SealedSecret(credential.api_key_ciphertext, credential.api_key_key_id)
    return SecretStr(SecretBox(settings).open(sealed, _aad(credential)))


async def decrypt_credential(
    session: AsyncSession, settings: Settings, organization_id: str, credential_id: str
) -> DecryptedCredential:
    """For provider adapters, at call time: kind, base URL and the plaintext key (404 for another org)."""
    credential = await get_credential(session, organization_id, credential_id)
    api_key = open_api_key(settings, credential)
    log.info("provider_credential.key_opened", credential_id=credential.id, kind=credential.kind)
    return DecryptedCredential(credential.id, credential.kind, credential.base_url, api_key)


@dataclass
class RotationBatch:
    resealed: int = 0
    unreadable: list[str] = field(default_factory=list)
    last_id: str | None = None


async def reseal_batch(
    session: AsyncSession, settings: Settings, *, after_id: str = "", limit: int = 500
) -> RotationBatch:
    """Re-encrypt up to `limit` keys sealed with an older key under the newest one (ids after `after_id`)."""
    box = SecretBox(settings)
    rows = await ProviderCredentialRepository(session).sealed_with_other_keys(
        box.current_key_id, limit, after_id
    )
    batch = RotationBatch(last_id=rows[-1].id if rows else None)
    for credential in rows:
        assert credential.api_key_ciphertext is not None and credential.api_key_key_id is not None
        try:
            plaintext = box.open(
                SealedSecret(credential.api_key_ciphertext, credential.api_key_key_id), _aad(credential)
            )
        except SecretUnavailable:
            batch.unreadable.append(credential.id)
            continue
        _seal_key(box, credential, SecretStr(plaintext))
        batch.resealed += 1
    await session.flush()
    return batch


async def reseal_idempotent_responses(session: AsyncSession, settings: Settings) -> int:
    """Re-encrypt stored Idempotency-Key responses (MultiFernet) under the newest key; returns how many."""
    box = secret_box(settings)
    columns = (IdempotencyKey.organization_id, IdempotencyKey.key, IdempotencyKey.response_body)
    resealed = 0
    for organization_id, key, body in (await session.execute(select(*columns))).all():
        try:
            rotated = box.rotate(body)
        except InvalidToken:
            continue  # sealed with a key no longer configured: it expires within a day anyway
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.organization_id == organization_id, IdempotencyKey.key == key)
            .values(response_body=rotated)
        )
        resealed += 1
    return resealed
