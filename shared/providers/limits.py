"""Per-credential request limits shared by every worker: a rate, a concurrency cap, a Retry-After pause.

All three live in Redis (one Lua call per request), so N worker processes together stay under what
one provider credential allows. The rate is GCRA with reservations: a caller is told when its slot
comes and sleeps until then, so requests leave evenly spaced. Losing Redis loses only these hints;
each job's own next poll, kept in Postgres, still honours the provider's Retry-After.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.providers.base import RateLimited

log = structlog.get_logger()

_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local blocked = tonumber(redis.call('GET', KEYS[3]) or '0')
if blocked > now then return {1, blocked - now} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return {2, 25} end
local wait = 0
local interval = tonumber(ARGV[1])
if interval > 0 then
  local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
  wait = tat - now
  if wait > tonumber(ARGV[5]) then return {3, wait} end
  redis.call('SET', KEYS[1], tat + interval, 'PX', wait + interval + 1000)
end
redis.call('ZADD', KEYS[2], now + wait + tonumber(ARGV[3]), ARGV[4])
redis.call('PEXPIRE', KEYS[2], wait + tonumber(ARGV[3]) + 1000)
return {0, wait}
"""

_BLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
if until_ms > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1]) + 1000)
end
return until_ms
"""


@dataclass(frozen=True)
class Limits:
    requests_per_second: float  # 0: no rate limit
    max_concurrent: int
    max_wait_seconds: float
    lease_seconds: float  # a crashed holder's slot frees itself after this


class CredentialLimiter:
    """Admission for one provider credential, shared through Redis by every process."""

    def __init__(self, redis: Redis, credential_key: str, limits: Limits) -> None:
        self.redis = redis
        self.limits = limits
        base = f"attune:providers:{credential_key}"
        self.keys = [f"{base}:rate", f"{base}:inflight", f"{base}:blocked"]
        self._local_blocked_until = 0.0

    async def _admit(self, token: str, max_wait_ms: int) -> tuple[int, int]:
        interval_ms = int(1000 / self.limits.requests_per_second) if self.limits.requests_per_second else 0
        lease_ms = int(self.limits.lease_seconds * 1000)
        args = [str(interval_ms), str(self.limits.max_concurrent), str(lease_ms), token, str(max_wait_ms)]
        outcome, wait_ms = await self.redis.eval(_ADMIT, 3, *self.keys, *args)  # type: ignore[misc]
        return int(outcome), int(wait_ms)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one request slot: waits its turn (up to `max_wait_seconds`), else raises RateLimited."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.limits.max_wait_seconds
        admitted = False
        full_polls = 0
        while not admitted:
            local_wait = self._local_blocked_until - time.time()
            if local_wait > 0:
                await self._wait_or_give_up(local_wait, deadline)
                continue
            remaining_ms = int(max(0.0, deadline - time.monotonic()) * 1000)
            try:
                outcome, wait_ms = await self._admit(token, remaining_ms)
            except RedisError:
                log.warning("providers.limiter_unavailable", exc_info=True)
                break  # Redis down: go on unlimited rather than stall every job
            if outcome == 0:
                admitted = True
                if wait_ms:
                    await asyncio.sleep(wait_ms / 1000)
                    if await self._blocked_for() > 0:  # a 429 arrived while we waited our turn
                        await self._release(token)
                        admitted = False
                        continue
            elif outcome == 3:
                raise RateLimited(wait_ms / 1000)
            elif outcome == 2:  # every slot is taken: back off rather than ask Redis in a tight loop
                full_polls += 1
                await self._wait_or_give_up(min(0.5, wait_ms / 1000 * 2 ** min(full_polls, 5)), deadline)
            else:
                await self._wait_or_give_up(wait_ms / 1000, deadline)
        try:
            yield
        finally:
            if admitted:
                await self._release(token)

    async def _wait_or_give_up(self, seconds: float, deadline: float) -> None:
        if time.monotonic() + seconds > deadline:
            raise RateLimited(seconds)
        await asyncio.sleep(seconds)

    async def _blocked_for(self) -> float:
        raw = await self.redis.get(self.keys[2])
        return max(0.0, int(raw or 0) / 1000 - time.time()) if raw else 0.0

    async def _release(self, token: str) -> None:
        try:
            await self.redis.zrem(self.keys[1], token)
        except RedisError:
            log.warning("providers.limiter_release_failed", exc_info=True)

    async def block(self, seconds: float) -> None:
        """The provider said Retry-After: send nothing on this credential for `seconds`."""
        self._local_blocked_until = max(self._local_blocked_until, time.time() + seconds)
        try:
            await self.redis.eval(_BLOCK, 1, self.keys[2], str(int(seconds * 1000)))  # type: ignore[misc]
        except RedisError:
            log.warning("providers.limiter_block_failed", exc_info=True)
