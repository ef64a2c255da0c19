"""Provider credentials: the API key is stored only encrypted (AES-256-GCM bound to org and row)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import RecordBase


class ProviderCredential(RecordBase):
    __tablename__ = "provider_credentials"
    id_prefix = "pcred"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True, nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    base_url: Mapped[str] = mapped_column(String(2000), nullable=False)
    # nonce || ciphertext || tag; None for providers that need no key (the built-in trainer).
    api_key_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Which configured encryption key sealed it (a fingerprint, so reordering keys is harmless).
    api_key_key_id: Mapped[str | None] = mapped_column(String(16))
    api_key_last_four: Mapped[str | None] = mapped_column(String(4))
