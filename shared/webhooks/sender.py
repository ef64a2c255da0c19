"""Sending one signed delivery over HTTP: to an SSRF-checked address, no redirects, bounded time and response.

The client is aiohttp, one pooled session per process: on this project's 2-core machines a bare
signed-POST loop makes several times more requests per second with it than with httpx, for a
fraction of the CPU (see `tests/bench/bench_webhooks.py`), and delivery throughput is CPU-bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp
from yarl import URL

from shared.config import WebhookSettings
from shared.webhooks.signing import Signer
from shared.webhooks.ssrf import ResolvedTarget, UnsafeWebhookUrl, resolve_target

USER_AGENT = "Attune-Webhooks/1 (+https://www.standardwebhooks.com/)"
# Keep-alive connections across every endpoint a worker process sends to.
MAX_CONNECTIONS = 256


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    latency_ms: float
    response_excerpt: str
    error: str | None
    retry_after_seconds: float | None = None

    @property
    def succeeded(self) -> bool:
        # Any 2xx; 3xx is a failure (redirects are not followed).
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


@dataclass(frozen=True)
class Destination:
    """A checked address to POST to, prepared once for a drain's many sends."""

    url: URL
    headers: dict[str, str]
    server_hostname: str | None

    @classmethod
    def of(cls, target: ResolvedTarget) -> Destination:
        headers = {"Host": target.host_header, "Content-Type": "application/json", "User-Agent": USER_AGENT}
        return cls(URL(target.connect_url, encoded=True), headers, target.server_name)


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


class WebhookSender:
    """One pooled HTTP client per process; `resolve` checks a URL, `send` POSTs one signed body."""

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running event loop the session belongs to.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(total=self.settings.request_timeout_seconds),
                # Receivers' cookies must never travel to another endpoint; bodies are not decompressed.
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding", "User-Agent"),
                trust_env=False,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def resolve(self, url: str) -> Destination:
        """Resolve and check the URL's host (raises UnsafeWebhookUrl); sends then connect to that address."""
        return Destination.of(await resolve_target(url, allow_private=self.settings.allow_private_urls))

    async def send(
        self,
        target: Destination | str,
        signer: Signer,
        message_id: str,
        body: bytes,
        *,
        timestamp: int | None = None,
    ) -> AttemptResult:
        """POST the body signed per Standard Webhooks; never raises for the receiver's failures.

        `target` is a checked address from `resolve`, or a URL to check for this one send.
        """
        started = time.perf_counter()
        timestamp = int(time.time()) if timestamp is None else timestamp
        try:
            if isinstance(target, str):
                target = await self.resolve(target)
        except UnsafeWebhookUrl as error:
            return AttemptResult(None, self._ms(started), "", f"refused: {error}")
        headers = {
            **target.headers,
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signer.header(message_id, timestamp, body),
        }
        try:
            async with self._client().post(
                target.url,
                data=body,
                headers=headers,
                allow_redirects=False,
                server_hostname=target.server_hostname,
            ) as response:
                excerpt = await self._excerpt(response)
                status, retry_after = response.status, _retry_after(response)
        except TimeoutError:
            return AttemptResult(None, self._ms(started), "", "timeout")
        except aiohttp.ClientError as error:
            return AttemptResult(None, self._ms(started), "", f"{type(error).__name__}: {error}"[:500])
        return AttemptResult(status, self._ms(started), excerpt, None, retry_after)

    async def _excerpt(self, response: aiohttp.ClientResponse) -> str:
        limit = self.settings.response_excerpt_bytes
        if response.content_length is not None and response.content_length <= limit:
            received = await response.read()  # the usual short answer: one read
        else:
            received = await self._head(response, limit)
        # Postgres text cannot hold NUL.
        return received[:limit].decode("utf-8", errors="replace").replace("\x00", "")

    @staticmethod
    async def _head(response: aiohttp.ClientResponse, limit: int) -> bytes:
        received = b""
        while len(received) < limit:
            chunk = await response.content.read(limit - len(received))
            if not chunk:
                break
            received += chunk
        return received

    @staticmethod
    def _ms(started: float) -> float:
        return round((time.perf_counter() - started) * 1000, 2)
