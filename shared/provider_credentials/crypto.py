"""AES-256-GCM for secrets at rest, keyed from `security.encryption_keys`, bound to org and row.

Each configured key (Fernet format: 32 url-safe base64 bytes, newest first) yields an AES-256 key by
HKDF-SHA256, and a short fingerprint stored beside every ciphertext, so a row names the key that
sealed it and adding or reordering keys never breaks decryption. The associated data binds a
ciphertext to its organization and row: copied into another row or organization, it fails to open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.config import Settings

NONCE_BYTES = 12
_INFO = b"attune/secrets-at-rest/aes-256-gcm/v1"


class SecretUnavailable(Exception):
    """A stored secret cannot be opened: its key is no longer configured, or it was tampered with/moved."""


@dataclass(frozen=True)
class SealedSecret:
    ciphertext: bytes  # nonce || ciphertext || tag
    key_id: str


def _derive(fernet_key: str) -> AESGCM:
    try:
        raw = base64.urlsafe_b64decode(fernet_key.encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(
            "each security.encryption_keys entry must be 32 url-safe base64 bytes (Fernet format)"
        )
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(raw))


def _fingerprint(fernet_key: str) -> str:
    return hashlib.sha256(b"attune-key-id\x00" + fernet_key.encode()).hexdigest()[:16]


def associated_data(organization_id: str, row_id: str, purpose: str) -> bytes:
    """What a ciphertext is bound to: the purpose (table), the organization and the row."""
    return f"attune:{purpose}:v1:{organization_id}:{row_id}".encode()


class SecretBox:
    """Seals with the newest configured key, opens with whichever key a row names."""

    def __init__(self, settings: Settings) -> None:
        keys = [key.get_secret_value() for key in settings.security.encryption_keys]
        if not keys:
            raise ValueError("security.encryption_keys is empty")
        self._keys = {_fingerprint(key): _derive(key) for key in keys}
        self.current_key_id = _fingerprint(keys[0])

    def seal(self, plaintext: str, aad: bytes) -> SealedSecret:
        nonce = os.urandom(NONCE_BYTES)  # random 96-bit nonces: rotate keys long before 2^32 seals each
        sealed = self._keys[self.current_key_id].encrypt(nonce, plaintext.encode(), aad)
        return SealedSecret(nonce + sealed, self.current_key_id)

    def open(self, sealed: SealedSecret, aad: bytes) -> str:
        cipher = self._keys.get(sealed.key_id)
        if cipher is None:
            raise SecretUnavailable(
                f"the secret was sealed with key {sealed.key_id}, no longer in security.encryption_keys"
            )
        try:
            return cipher.decrypt(
                sealed.ciphertext[:NONCE_BYTES], sealed.ciphertext[NONCE_BYTES:], aad
            ).decode()
        except InvalidTag:
            raise SecretUnavailable("the secret does not open for this organization and row") from None
