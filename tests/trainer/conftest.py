"""Fixtures for the built-in trainer: the tiny model (built once) and a shared trainer server process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from trainer_helpers import ROOT, TINY, TrainerServer


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory holding the tiny model, built once per session by the real CLI."""
    folder = tmp_path_factory.mktemp("models")
    command = [sys.executable, "-m", "services.trainer", "make-tiny-model", "--models-dir", str(folder)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=300)
    assert result.stdout.strip().splitlines()[-1] == TINY
    return folder


@pytest.fixture(scope="session")
def trainer(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[TrainerServer]:
    """One trainer server shared by the tests that do not kill it."""
    server = TrainerServer(tmp_path_factory.mktemp("shared") / "state", models_dir, max_file_bytes="200000")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(trainer: TrainerServer) -> openai.OpenAI:
    """An official OpenAI SDK client pointed at the shared trainer."""
    return trainer.client()
