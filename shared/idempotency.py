"""Idempotency-Key storage with Stripe's semantics, in the same transaction as the request's writes.

A request holding a key takes a transaction-scoped advisory lock on (organization, key): a second
request with the same key while the first runs gets 409 at once; after the first commits, its stored
response is replayed; a different method, path or body is a 422. The stored response is written in the
request's own transaction, so a crash stores neither the business rows nor the response.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.fernet import MultiFernet
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import BadRequest, IdempotencyKeyInFlight, IdempotencyKeyReused
from shared.models import IdempotencyKey

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    content_type: str
    body: bytes


def parse_key(raw: str) -> str:
    """Accept Stripe's bare token and the IETF draft's quoted sf-string; refuse empty or oversized keys."""
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise BadRequest(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
            errors=[{"detail": "invalid Idempotency-Key", "pointer": "header/Idempotency-Key"}],
        )
    return key


def fingerprint(method: str, path: str, body_digest: str) -> str:
    """What a retry must repeat exactly: method, path and body."""
    return hashlib.sha256(f"{method}\n{path}\n{body_digest}".encode()).hexdigest()


async def claim(
    session: AsyncSession, organization_id: str, key: str, request_hash: str, ttl_hours: int
) -> StoredResponse | None:
    """Lock the key for this transaction; the earlier response if it completed, None to go ahead."""
    locked = await session.scalar(
        select(func.pg_try_advisory_xact_lock(func.hashtextextended(f"{organization_id}:{key}", 0)))
    )
    if not locked:
        raise IdempotencyKeyInFlight(
            "Another request with this Idempotency-Key is in progress; retry once it has finished."
        )
    record = await session.get(IdempotencyKey, (organization_id, key))
    if record is None:
        return None
    if record.created_at < datetime.now(UTC) - timedelta(hours=ttl_hours):
        await session.delete(record)
        await session.flush()
        return None
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key!r} was used for a different request "
            f"({record.method} {record.path}, or another body); send a new key for a new request."
        )
    return StoredResponse(record.status_code, record.content_type, record.response_body)


async def store(
    session: AsyncSession,
    box: MultiFernet,
    *,
    organization_id: str,
    key: str,
    method: str,
    path: str,
    request_hash: str,
    response: StoredResponse,
) -> None:
    """Keep the response, encrypted, beside the writes it describes."""
    session.add(
        IdempotencyKey(
            organization_id=organization_id,
            key=key,
            method=method,
            path=path,
            request_hash=request_hash,
            status_code=response.status_code,
            content_type=response.content_type,
            response_body=box.encrypt(response.body),
        )
    )
    await session.flush()


def reveal(box: MultiFernet, stored: StoredResponse) -> StoredResponse:
    return StoredResponse(stored.status_code, stored.content_type, box.decrypt(stored.body))


async def purge_expired_idempotency_keys(session: AsyncSession, ttl_hours: int) -> int:
    """Delete stored responses older than the retention; returns how many."""
    result = await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.created_at
            < text("now() - make_interval(hours => :hours)").bindparams(hours=ttl_hours)
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
