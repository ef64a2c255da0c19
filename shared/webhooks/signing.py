"""Standard Webhooks v1 signatures: `whsec_` secrets, HMAC-SHA256 over `{id}.{timestamp}.{body}`.

The same bytes `standardwebhooks.Webhook(secret).sign` produces (tests verify with that library);
`Signer` decodes each secret once so that a drain of many deliveries pays only for the HMACs.
"""

from __future__ import annotations

import base64
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SECRET_BYTES = 32


def generate_secret() -> str:
    """A fresh `whsec_<base64 of 32 random bytes>` secret."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    # Standard Webhooks tolerates unpadded base64; b64decode ignores surplus padding.
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==")


class Signer:
    """Signs with every secret in use: during a rotation receivers may hold either."""

    def __init__(self, secrets_in_use: list[str]) -> None:
        self._keys = [_key(secret) for secret in secrets_in_use]

    def header(self, message_id: str, timestamp: int, body: bytes) -> str:
        """Space-separated `v1,<base64 signature>` values for the exact bytes sent."""
        signed = f"{message_id}.{timestamp}.".encode() + body
        return " ".join(
            "v1," + base64.b64encode(hmac.digest(key, signed, "sha256")).decode() for key in self._keys
        )


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64 signature>` for the exact bytes sent."""
    return Signer([secret]).header(message_id, timestamp, body)


def signature_header(secrets_in_use: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """Space-separated signatures, one per secret."""
    return Signer(secrets_in_use).header(message_id, timestamp, body)
