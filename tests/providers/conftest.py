"""Adapters wired to in-process fakes."""

from __future__ import annotations

from typing import Any

import httpx

from shared.config import Settings
from shared.providers.base import ProviderAdapter
from shared.providers.registry import ProviderTarget, build_adapter
from tests.fixtures.jobs import fake_client, provider_settings


def adapter(
    settings: Settings, kind: str, base_url: str, api_key: str, app: Any, **providers: Any
) -> ProviderAdapter:
    """An adapter of `kind` whose requests reach `app` (no rate limiter)."""
    target = ProviderTarget(kind, base_url, api_key, f"test-{kind}")
    return build_adapter(
        target, provider_settings(settings, **providers), limiter=None, client=fake_client(app)
    )


def client_of(adapter: ProviderAdapter) -> httpx.AsyncClient:
    client = adapter.http.client  # type: ignore[attr-defined]
    assert client is not None
    return client
