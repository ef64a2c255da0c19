"""Provider credential shapes: the API key goes in, only its last four characters come out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr

from shared.models import ProviderCredential

ProviderKind = Literal["local", "openai", "azure_openai", "together", "mistral", "fireworks"]


class ProviderCredentialCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str = Field(min_length=1, max_length=200)
    kind: ProviderKind
    base_url: AnyHttpUrl | None = Field(
        None,
        description="The provider's API base URL; defaults to its public one (required for Azure).",
    )
    api_key: SecretStr | None = Field(
        None, min_length=8, max_length=4096, description="Write-only: stored encrypted, never returned."
    )


class ProviderCredentialUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str | None = Field(None, min_length=1, max_length=200)
    base_url: AnyHttpUrl | None = None
    api_key: SecretStr | None = Field(
        None, min_length=8, max_length=4096, description="Replaces the stored key."
    )


class ProviderCredentialOut(BaseModel):
    object: Literal["provider_credential"] = "provider_credential"
    id: str
    name: str
    kind: ProviderKind
    base_url: str
    has_api_key: bool
    api_key_last_four: str | None = Field(description="The key's last four characters, to recognise it.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, credential: ProviderCredential) -> ProviderCredentialOut:
        return cls(
            id=credential.id,
            name=credential.name,
            kind=credential.kind,
            base_url=credential.base_url,
            has_api_key=credential.api_key_ciphertext is not None,
            api_key_last_four=credential.api_key_last_four,
            created_at=credential.created_at,
            updated_at=credential.updated_at,
        )


class DeletedOut(BaseModel):
    object: Literal["provider_credential"] = "provider_credential"
    id: str
    deleted: Literal[True] = True
