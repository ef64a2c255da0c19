"""Test harness: a fresh database built by the migrations, a real Redis database, and two app clients.

`client` runs each test inside one rolled-back transaction (requests commit to savepoints);
`live_client` uses the real pool, for tests that need concurrent transactions or other processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import Settings, get_settings

if TYPE_CHECKING:
    from tests.fixtures.trainer import RunningTrainer

# One database and one Redis database per test session, so that concurrent sessions never collide.
TEST_DATABASE = f"attune_test_{os.getpid()}"
TEST_REDIS_DB = int(os.environ.get("ATTUNE_TEST_REDIS_DB", 1 + os.getpid() % 15))
ADMIN_DSN = os.environ.get("ATTUNE_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
os.environ["ATTUNE_ENV"] = "test"
os.environ["ATTUNE_DATABASE_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{TEST_DATABASE}"
os.environ["ATTUNE_REDIS_URL"] = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
os.environ.setdefault("ATTUNE_STORAGE__ROOT", str(Path(__file__).parent.parent / "var" / "test-storage"))
get_settings.cache_clear()
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[str]:
    """A database made for this test session and built by `attune migrate`."""
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{TEST_DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{TEST_DATABASE}"')
    finally:
        await admin.close()
    subprocess.run(
        [sys.executable, "-m", "services.cli", "migrate"], check=True, cwd=REPO_ROOT, capture_output=True
    )
    yield TEST_DATABASE


@pytest.fixture(scope="session")
async def engine(database: str, settings: Settings) -> AsyncIterator[AsyncEngine]:
    from shared.db import create_engine

    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        if transaction.is_active:
            await transaction.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions inside the test's transaction: their commits are savepoints, all rolled back."""
    return async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
async def db(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


async def _started(app: FastAPI) -> AsyncIterator[FastAPI]:
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def app(
    settings: Settings, database: str, redis: Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[FastAPI]:
    from services.api.app import create_app

    application = create_app(settings)
    async for started in _started(application):
        started.state.sessionmaker = sessionmaker
        yield started


@pytest.fixture
async def live_app(settings: Settings, database: str, redis: Redis) -> AsyncIterator[FastAPI]:
    from services.api.app import create_app

    async for started in _started(create_app(settings)):
        yield started


def _client(app: FastAPI) -> AsyncClient:
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    return AsyncClient(transport=transport, base_url="http://attune.test")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with _client(app) as http:
        yield http


@pytest.fixture
async def live_client(live_app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with _client(live_app) as http:
        yield http


@pytest.fixture
def subprocess_env(settings: Settings) -> Iterator[dict[str, str]]:
    """The environment for real worker/API processes pointed at the test database and Redis."""
    yield {**os.environ, "ATTUNE_LOG_JSON": "false"}


@pytest.fixture(scope="session")
def trainer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTrainer]:
    """One built-in trainer process with the tiny model, shared by the end-to-end tests."""
    from tests.fixtures.trainer import running_trainer

    with running_trainer(tmp_path_factory.mktemp("trainer")) as running:
        yield running
