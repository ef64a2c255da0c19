"""Provider HTTP: one pooled httpx client per process, admission through the limiter, errors classified."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any

import httpx
import structlog

from shared.config import ProviderSettings
from shared.providers.base import PermanentProviderError, ProviderError, TransientProviderError
from shared.providers.limits import CredentialLimiter

log = structlog.get_logger()

# Codes that say "stop": retrying cannot succeed until a human changes something.
PERMANENT_CODES = {
    "insufficient_quota",
    "training_not_available",
    "invalid_api_key",
    "billing_hard_limit_reached",
}
_clients: dict[int, httpx.AsyncClient] = {}


def shared_client(settings: ProviderSettings) -> httpx.AsyncClient:
    """The process's pooled client for provider calls (one per event loop)."""
    loop_id = id(asyncio.get_running_loop())
    client = _clients.get(loop_id)
    if client is None or client.is_closed:
        timeout = httpx.Timeout(settings.request_timeout_seconds, connect=settings.connect_timeout_seconds)
        client = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=200))
        _clients[loop_id] = client
    return client


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """`retry-after-ms`, else `Retry-After` as seconds or an HTTP date; None when absent or unreadable."""
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if raw.strip() else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _error_fields(response: httpx.Response) -> tuple[str, str | None, str | None]:
    """(message, code, param) from OpenAI's `{"error": {...}}`, Mistral's and Together's variants."""
    try:
        body = response.json()
    except ValueError:
        return (response.text[:500] or response.reason_phrase), None, None
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, str):
        return error, None, None
    if not isinstance(error, dict):
        return str(error)[:500], None, None
    message = error.get("message") or error.get("detail") or error.get("msg") or response.reason_phrase
    if isinstance(message, list):  # FastAPI-style validation errors (Mistral): [{"loc": [...], "msg": ...}]
        message = "; ".join(_validation_item(item) for item in message)
    code = error.get("code") or error.get("type")
    param = error.get("param")
    return str(message)[:2000], str(code) if code else None, str(param) if param else None


def _validation_item(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc") or [] if part != "body")
    return f"{where}: {item.get('msg')}" if where else str(item.get("msg"))


def classify(response: httpx.Response) -> ProviderError:
    """The error a non-2xx answer means: transient (retry later) or permanent (fail the job)."""
    message, code, param = _error_fields(response)
    status = response.status_code
    if code in PERMANENT_CODES:
        return PermanentProviderError(message, status_code=status, code=code, param=param)
    if status in (408, 409, 425, 429) or status >= 500:
        retry_after = retry_after_seconds(response.headers)
        return TransientProviderError(message, status_code=status, code=code, retry_after=retry_after)
    return PermanentProviderError(message, status_code=status, code=code or f"http_{status}", param=param)


class ProviderHttp:
    """Requests to one provider credential: limited, timed out, and classified."""

    def __init__(
        self,
        *,
        base_url: str,
        headers: dict[str, str],
        limiter: CredentialLimiter | None,
        settings: ProviderSettings,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.limiter = limiter
        self.settings = settings
        self.client = client

    async def request(
        self, method: str, path: str, *, timeout_seconds: float | None = None, **options: Any
    ) -> httpx.Response:
        """Send one request; raises TransientProviderError or PermanentProviderError unless 2xx."""
        client = self.client or shared_client(self.settings)
        url = f"{self.base_url}/{path.lstrip('/')}"
        extra: dict[str, Any] = {"timeout": timeout_seconds} if timeout_seconds is not None else {}
        if self.limiter is None:
            response = await self._send(client, method, url, extra, options)
        else:
            async with self.limiter.slot():
                response = await self._send(client, method, url, extra, options)
        if response.is_success:
            return response
        error = classify(response)
        log.info(
            "providers.request_failed", method=method, path=path, status=response.status_code, code=error.code
        )
        if isinstance(error, TransientProviderError) and error.retry_after and self.limiter is not None:
            await self.limiter.block(error.retry_after)
        raise error

    async def _send(
        self, client: httpx.AsyncClient, method: str, url: str, extra: dict[str, Any], options: dict[str, Any]
    ) -> httpx.Response:
        try:
            return await client.request(method, url, headers=self.headers, **extra, **options)
        except httpx.TimeoutException as exc:
            raise TransientProviderError(f"{method} {url} timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise TransientProviderError(f"{method} {url} failed: {exc!r}") from exc

    async def json(self, method: str, path: str, **options: Any) -> Any:
        """The decoded JSON body of a successful request."""
        response = await self.request(method, path, **options)
        try:
            return response.json()
        except ValueError as exc:
            raise TransientProviderError(f"{method} {path}: the provider answered non-JSON") from exc
