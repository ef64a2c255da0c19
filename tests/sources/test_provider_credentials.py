"""Provider credentials: write-only keys, encrypted and bound to org and row, rotatable, never logged."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest
from httpx import AsyncClient
from pydantic import SecretStr
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.config import Settings
from shared.models import ProviderCredential
from shared.provider_credentials.crypto import SecretUnavailable
from shared.provider_credentials.service import decrypt_credential, open_api_key, reseal_batch
from tests.conftest import REPO_ROOT
from tests.fixtures.organizations import create_org
from tests.fixtures.sources import create_provider_credential

SECRET = "sk-live-7f3a9c0d2b4e6f8a1c3e5a7b9d0f2468"


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def with_keys(settings: Settings, *keys: str) -> Settings:
    security = settings.security.model_copy(update={"encryption_keys": [SecretStr(key) for key in keys]})
    return settings.model_copy(update={"security": security})


async def dump_everything(db: AsyncSession) -> str:
    tables = ["provider_credentials", "events", "idempotency_keys"]
    rows = [
        await db.scalar(text(f"SELECT coalesce(json_agg(t)::text, '') FROM {table} t")) for table in tables
    ]
    return "".join(row or "" for row in rows)


async def test_the_key_is_write_only_and_never_stored_or_logged_in_clear(
    client: AsyncClient, db: AsyncSession, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    org = await create_org(db)
    created = await client.post(
        "/v1/provider_credentials",
        json={"name": "OpenAI prod", "kind": "openai", "api_key": SECRET},
        headers={**org.headers, "Idempotency-Key": "cred-1"},
    )
    assert created.status_code == 201
    body = created.json()
    assert body["api_key_last_four"] == "2468" and body["has_api_key"] is True
    assert body["base_url"] == "https://api.openai.com/v1" and "api_key" not in body
    fetched = await client.get(f"/v1/provider_credentials/{body['id']}", headers=org.headers)
    listed = await client.get("/v1/provider_credentials", headers=org.headers)
    too_short = await client.post(
        "/v1/provider_credentials",
        json={"name": "x", "kind": "openai", "api_key": "sk-9"},
        headers=org.headers,
    )
    bad_kind = await client.post(
        "/v1/provider_credentials", json={"name": "x", "kind": "acme", "api_key": SECRET}, headers=org.headers
    )
    azure_without_url = await client.post(
        "/v1/provider_credentials",
        json={"name": "x", "kind": "azure_openai", "api_key": SECRET},
        headers=org.headers,
    )
    assert (too_short.status_code, bad_kind.status_code, azure_without_url.status_code) == (422, 422, 422)
    for response in (created, fetched, listed, too_short, bad_kind, azure_without_url):
        assert SECRET not in response.text and SECRET[:12] not in response.text
    assert SECRET not in await dump_everything(db)
    captured = capfd.readouterr()
    assert SECRET not in captured.out + captured.err + caplog.text
    opened = await decrypt_credential(db, client._transport.app.state.settings, org.id, body["id"])  # type: ignore[attr-defined]
    assert opened.api_key is not None and opened.api_key.get_secret_value() == SECRET
    assert SECRET not in repr(opened) and opened.kind == "openai"


async def test_a_copied_ciphertext_does_not_open_for_another_org_or_row(
    db: AsyncSession, settings: Settings
) -> None:
    acme, globex = await create_org(db, "Acme"), await create_org(db, "Globex")
    original = await create_provider_credential(db, settings, acme.id, api_key=SECRET)
    victim = await create_provider_credential(db, settings, globex.id, api_key="sk-other-0000000000000000")
    await db.execute(
        update(ProviderCredential)
        .where(ProviderCredential.id == victim.id)
        .values(api_key_ciphertext=original.api_key_ciphertext, api_key_key_id=original.api_key_key_id)
    )
    await db.refresh(victim)
    with pytest.raises(SecretUnavailable):
        open_api_key(settings, victim)
    from shared.errors import NotFound

    with pytest.raises(NotFound):
        await decrypt_credential(db, settings, globex.id, original.id)


async def test_rotation_reseals_under_the_newest_key(db: AsyncSession, settings: Settings) -> None:
    org = await create_org(db)
    old_key, newest = new_key(), new_key()
    before = with_keys(settings, old_key)
    credential = await create_provider_credential(db, before, org.id, api_key=SECRET)
    sealed_with = credential.api_key_key_id
    rotated = with_keys(settings, newest, old_key)
    batch = await reseal_batch(db, rotated)
    assert batch.resealed >= 1 and batch.unreadable == []
    await db.refresh(credential)
    assert credential.api_key_key_id != sealed_with
    only_newest = with_keys(settings, newest)
    assert (open_api_key(only_newest, credential) or SecretStr("")).get_secret_value() == SECRET
    with pytest.raises(SecretUnavailable, match=r"no longer in security\.encryption_keys"):
        open_api_key(before, credential)


async def test_keys_rotate_command(
    engine: AsyncEngine, settings: Settings, subprocess_env: dict[str, str]
) -> None:
    from shared.db import create_sessionmaker, transaction

    old_key, newest = new_key(), new_key()
    async with transaction(create_sessionmaker(engine)) as session:
        org = await create_org(session, "Rotation Inc")
        credential = await create_provider_credential(
            session, with_keys(settings, old_key), org.id, api_key=SECRET
        )
    try:
        env = {**subprocess_env, "ATTUNE_SECURITY__ENCRYPTION_KEYS": f'["{newest}", "{old_key}"]'}
        result = subprocess.run(
            [sys.executable, "-m", "services.cli", "keys", "rotate"],
            env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert "provider credentials re-encrypted" in result.stdout, result.stderr
        assert SECRET not in result.stdout + result.stderr
        async with transaction(create_sessionmaker(engine)) as session:
            stored = await session.get(ProviderCredential, credential.id)
            assert stored is not None
            assert (
                open_api_key(with_keys(settings, newest), stored) or SecretStr("")
            ).get_secret_value() == SECRET
    finally:
        async with transaction(create_sessionmaker(engine)) as session:
            await session.execute(text("DELETE FROM organizations WHERE id = :id"), {"id": org.id})
