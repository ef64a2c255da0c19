"""Fixtures of the evaluation tests: an OpenAI-compatible fake serving as `local`, whose chat translates."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from shared.config import Settings
from tests.evaluations.helpers import TranslatingFake
from tests.fixtures.jobs import fake_client, provider_settings


@pytest.fixture
def fake(settings: Settings) -> TranslatingFake:
    return TranslatingFake(api_key=settings.trainer.api_key.get_secret_value())


@pytest.fixture
async def fake_http(fake: TranslatingFake) -> AsyncIterator[httpx.AsyncClient]:
    async with fake_client(fake.app) as client:
        yield client


@pytest.fixture
def job_settings(settings: Settings) -> Settings:
    return provider_settings(settings)
