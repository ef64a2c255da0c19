"""API keys (random, hashed, shown once) and encryption of secrets at rest (MultiFernet)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from cryptography.fernet import Fernet, MultiFernet

from shared.config import Settings

API_KEY_PREFIX = "atn_"
VISIBLE_PREFIX_LENGTH = 12


@dataclass(frozen=True)
class NewApiKey:
    plaintext: str
    prefix: str
    key_hash: str


def hash_api_key(plaintext: str) -> str:
    """SHA-256 of the key: keys carry 192 random bits, so a fast hash is enough to store them."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_api_key() -> NewApiKey:
    """A fresh key `atn_<32 url-safe chars>`, its visible prefix and its hash."""
    plaintext = API_KEY_PREFIX + secrets.token_urlsafe(24)
    return NewApiKey(plaintext, plaintext[:VISIBLE_PREFIX_LENGTH], hash_api_key(plaintext))


def secret_box(settings: Settings) -> MultiFernet:
    """Encrypts with the newest configured key and decrypts with any of them (key rotation)."""
    return MultiFernet([Fernet(key.get_secret_value()) for key in settings.security.encryption_keys])
