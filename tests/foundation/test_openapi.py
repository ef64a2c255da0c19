"""The committed openapi.json is the app's: SDKs generated from it match what the server speaks."""

from __future__ import annotations

import json

from services.api.app import create_app
from shared.config import Settings
from tests.conftest import REPO_ROOT


def test_committed_openapi_document_matches_the_app(settings: Settings) -> None:
    committed = json.loads((REPO_ROOT / "openapi.json").read_text())
    live = create_app(settings).openapi()
    assert committed == live, "openapi.json is stale: run `make openapi` and commit it"
