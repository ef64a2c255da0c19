"""A Python SDK generated from the live OpenAPI document with openapi-python-client runs a whole flow.

Project, import, prompt, dataset, then a job on the tiny model, trained by the real built-in trainer
through real `datasets` and `providers` worker processes; every call goes through the generated code.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.app import create_app
from shared.config import Settings
from shared.db import create_sessionmaker, transaction
from tests.conftest import REPO_ROOT
from tests.fine_tuning_jobs.workers import ProviderWorker, worker_env
from tests.fixtures.organizations import create_org
from tests.fixtures.trainer import RunningTrainer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
T = TypeVar("T")
PACKAGE = "attune_sdk"
SAMPLE = REPO_ROOT / "services" / "demo" / "samples" / "software-ui.en-fr.xliff"


@pytest.fixture(scope="module")
def sdk(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The package openapi-python-client generates from `create_app().openapi()`, imported."""
    root = tmp_path_factory.mktemp("sdk")
    (root / "openapi.json").write_text(json.dumps(create_app(settings).openapi()))
    (root / "config.yml").write_text("post_hooks: []\n")  # formatting the output is not the point
    generator = Path(sys.executable).parent / "openapi-python-client"
    generated = subprocess.run(
        [str(generator), "generate", "--path", str(root / "openapi.json"),
         "--config", str(root / "config.yml"), "--meta", "none", "--output-path", str(root / PACKAGE)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def operation(path: str) -> Any:
    """One generated endpoint module, `tag.operation_id` (`projects.create_project`)."""
    return module(f"api.{path}")


@pytest.fixture
async def client(sdk: ModuleType, live_app: FastAPI, engine: AsyncEngine) -> AsyncIterator[Any]:
    async with transaction(create_sessionmaker(engine)) as session:
        org = await create_org(session, "SDK Localization")
    authenticated = sdk.AuthenticatedClient(base_url="http://attune.test", token=org.key)
    transport = httpx.ASGITransport(app=live_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://attune.test", headers={"Authorization": f"Bearer {org.key}"},
        timeout=30,
    ) as http:  # fmt: skip
        authenticated.set_async_httpx_client(http)
        yield authenticated


async def until(fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float, what: str) -> T:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await fetch()
        if done(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value}")
        await asyncio.sleep(0.3)


async def test_the_generated_sdk_imports_builds_a_dataset_and_follows_a_job(
    client: Any, trainer: RunningTrainer, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    env = worker_env(
        subprocess_env, trainer.url, trainer.api_key, ATTUNE_TRAINER__MODELS_DIR=str(trainer.models_dir)
    )
    workers = [
        ProviderWorker(env, tmp_path / f"{queue}.log", queue).start() for queue in ("datasets", "providers")
    ]
    models = module("models")
    try:
        project = await operation("projects.create_project").asyncio(
            client=client, idempotency_key=str(uuid.uuid4()),
            body=models.ProjectCreate(name="Web app", source_language="en-US", target_languages=["fr-FR"]),
        )  # fmt: skip
        assert isinstance(project, models.ProjectOut), project
        refused = await operation("projects.create_project").asyncio(
            client=client,
            body=models.ProjectCreate(name="Bad", source_language="not a tag", target_languages=["fr-FR"]),
        )
        assert isinstance(refused, models.Problem) and refused.status == 422, refused
        assert refused.errors and refused.errors[0].pointer == "#/source_language"
        missing = await operation("fine_tuning.retrieve_fine_tuning_job").asyncio("ftjob_nope", client=client)
        assert isinstance(missing, models.Problem) and (missing.status, missing.code) == (404, "not_found")

        with SAMPLE.open("rb") as payload:
            upload = models.ImportProjectTranslationsBody(
                file=module("types").File(payload=payload, file_name=SAMPLE.name)
            )
            started = await operation("imports.import_project_translations").asyncio(
                project.id, client=client, body=upload, idempotency_key=str(uuid.uuid4())
            )
        assert isinstance(started, models.ImportOut), started
        imported = await until(
            lambda: operation("imports.get_import").asyncio(started.id, client=client),
            lambda found: found.status.value in ("succeeded", "failed"), 120, "the import",
        )  # fmt: skip
        assert imported.status.value == "succeeded", imported
        assert imported.report.inserted > 100

        prompt = await operation("prompts.create_prompt").asyncio(
            client=client, idempotency_key=str(uuid.uuid4()),
            body=models.PromptCreate(
                name="UI strings",
                system="Translate software UI text from {source_language} to {target_language}.",
                user_template="{source_text}",
            ),
        )  # fmt: skip
        assert isinstance(prompt, models.PromptOut), prompt

        recipe = models.Recipe.from_dict({
            "sources": {"project_ids": [project.id]}, "prompt_id": prompt.id, "provider": "local",
            "model": trainer.model, "validation": {"fraction": 0.1}, "seed": 5,
        })  # fmt: skip
        building = await operation("datasets.create_dataset").asyncio(
            client=client, body=recipe, idempotency_key=str(uuid.uuid4())
        )
        assert isinstance(building, models.DatasetOut), building
        dataset = await until(
            lambda: operation("datasets.retrieve_dataset").asyncio(building.id, client=client),
            lambda found: found.status.value != "building", 120, "the dataset build",
        )  # fmt: skip
        assert dataset.status.value == "ready", (
            dataset.error,
            (tmp_path / "datasets.log").read_text()[-3000:],
        )
        assert dataset.training_file and dataset.validation_file and dataset.content_hash

        job = await operation("fine_tuning.create_fine_tuning_job").asyncio(
            client=client, idempotency_key=str(uuid.uuid4()),
            body=models.FineTuningJobCreate.from_dict({
                "model": trainer.model, "provider": "local", "dataset_id": dataset.id, "seed": 7,
                "hyperparameters": {"n_epochs": 1, "batch_size": 8}, "metadata": {"flow": "sdk"},
            }),
        )  # fmt: skip
        assert isinstance(job, models.FineTuningJobOut), job
        assert job.training_file == dataset.training_file
        finished = await until(
            lambda: operation("fine_tuning.retrieve_fine_tuning_job").asyncio(job.id, client=client),
            lambda found: found.status in ("succeeded", "failed", "cancelled"), 300, "the job",
        )  # fmt: skip
        assert finished.status == "succeeded", (
            finished.error,
            (tmp_path / "providers.log").read_text()[-3000:],
        )
        assert finished.fine_tuned_model and finished.trained_tokens

        events = await operation("fine_tuning.list_fine_tuning_events").asyncio(
            job.id, client=client, limit=100
        )
        assert isinstance(events, models.PageFineTuningJobEventOut), events
        assert any(event.type_ == "metrics" for event in events.data)
        metrics = await operation("fine_tuning.list_fine_tuning_job_metrics").asyncio(job.id, client=client)
        assert isinstance(metrics, models.MetricsPage), metrics
        assert metrics.data and metrics.data[-1].train_loss is not None
    finally:
        for worker in workers:
            worker.stop()
