"""Fixtures of the fine-tuning job tests: an in-process OpenAI-compatible fake serving as `local`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from shared.config import Settings
from tests.fixtures.jobs import fake_client, provider_settings
from tests.providers.fakes.openai import FakeOpenAI


@pytest.fixture
def fake(settings: Settings) -> FakeOpenAI:
    return FakeOpenAI(api_key=settings.trainer.api_key.get_secret_value())


@pytest.fixture
async def fake_http(fake: FakeOpenAI) -> AsyncIterator[httpx.AsyncClient]:
    async with fake_client(fake.app) as client:
        yield client


@pytest.fixture
def job_settings(settings: Settings) -> Settings:
    return provider_settings(settings)
