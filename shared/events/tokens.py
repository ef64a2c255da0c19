"""Stream tokens: short-lived, read-only credentials for one event stream, for browsers' EventSource.

`EventSource` cannot send an Authorization header, so an authenticated call mints a token that opens
exactly one stream (the organization's, or one subject's) and nothing else. It is a Fernet token from
the configured keys: tamper-proof, dated, and needing no storage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shared.config import Settings
from shared.errors import Unauthorized

STREAM_TOKEN_PREFIX = "evst_"  # noqa: S105 - a prefix, not a secret
SCOPE = "events.stream"


@dataclass(frozen=True)
class StreamGrant:
    organization_id: str
    subject_id: str | None


@dataclass(frozen=True)
class MintedToken:
    token: str
    expires_at: datetime


def _box(settings: Settings) -> MultiFernet:
    """`shared.security.secret_box`, built once per key set: streams open by the thousand."""
    return _box_for(tuple(key.get_secret_value() for key in settings.security.encryption_keys))


@lru_cache(maxsize=4)
def _box_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def mint_stream_token(settings: Settings, organization_id: str, subject_id: str | None) -> MintedToken:
    """A token for the organization's stream (subject None) or one subject's stream."""
    claims = {"scope": SCOPE, "org": organization_id, "subject": subject_id}
    token = _box(settings).encrypt(json.dumps(claims).encode()).decode()
    expires_at = datetime.now(UTC) + timedelta(seconds=settings.events.stream_token_ttl_seconds)
    return MintedToken(STREAM_TOKEN_PREFIX + token, expires_at)


def read_stream_token(settings: Settings, token: str) -> StreamGrant:
    """The grant a token carries; 401 when it is forged, expired or not a stream token."""
    try:
        if not token.startswith(STREAM_TOKEN_PREFIX):
            raise InvalidToken
        raw = _box(settings).decrypt(
            token.removeprefix(STREAM_TOKEN_PREFIX).encode(), ttl=settings.events.stream_token_ttl_seconds
        )
        claims = json.loads(raw)
        if claims.get("scope") != SCOPE:
            raise InvalidToken
    except (InvalidToken, ValueError):
        raise Unauthorized(
            "Invalid or expired stream token: mint a new one with POST /v1/events/stream_tokens."
        ) from None
    return StreamGrant(str(claims["org"]), claims.get("subject"))
