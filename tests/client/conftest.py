"""Fixtures of the CLI tests: the API served over real HTTP, a committed organization, a CLI runner.

The CLI is synchronous; it runs in a thread so that the API served by this event loop can answer it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from click.testing import Result
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from services.cli import app
from shared.db import create_sessionmaker, transaction
from tests.fixtures.organizations import OrgWithKey, create_org
from tests.live.conftest import api_url, event_relay  # noqa: F401 - fixtures reused, not redefined

NO_KEY = ""


@dataclass
class Cli:
    """`attune ...` against the served API with the organization's key (or none, or another)."""

    api_url: str
    key: str

    async def __call__(self, *args: str, key: str | None = None) -> Result:
        chosen = self.key if key is None else key
        env = {"ATTUNE_API_URL": self.api_url, "ATTUNE_API_KEY": chosen or None, "COLUMNS": "200"}
        return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


@pytest.fixture
async def org(engine: AsyncEngine) -> OrgWithKey:
    async with transaction(create_sessionmaker(engine)) as session:
        return await create_org(session, "CLI Co", commit=False)


@pytest.fixture
def cli(api_url: str, org: OrgWithKey) -> Cli:  # noqa: F811 - the fixture imported above
    return Cli(api_url, org.key)
