"""`attune`: the one entry point of every Attune process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from services.client import datasets as datasets_client
from services.client import jobs as jobs_client
from services.client.imports import import_file
from services.trainer.cli import app as trainer_app
from shared.config import get_settings
from shared.queue import QUEUES

app = typer.Typer(
    help="Attune: fine-tuned translation models from approved translations.", no_args_is_help=True
)
orgs_app = typer.Typer(help="Organizations and their API keys.", no_args_is_help=True)
app.add_typer(orgs_app, name="orgs")
keys_app = typer.Typer(help="Encryption keys of secrets at rest.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(trainer_app, name="trainer")

REPO_ROOT = Path(__file__).resolve().parents[1]
# gc thresholds of an API process (Python's are 700, 10, 10).
API_GC_THRESHOLDS = (50_000, 20, 100)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: ATTUNE_API__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: ATTUNE_API__PORT).")] = None,
    workers: Annotated[int, typer.Option(help="Processes to serve with.")] = 1,
) -> None:
    """Serve the HTTP API."""
    import gc

    import uvicorn

    import services.api.app  # noqa: F401 - imported before the freeze below

    # Thousands of open event streams keep over a million objects alive, and every full collection
    # walks them all (a pause of a second, p99 of every stream; see tests/bench/bench_sse.py). Young
    # garbage is still collected as usual; the old generation rarely, the modules never.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*API_GC_THRESHOLDS)
    settings = get_settings()
    uvicorn.run(
        "services.api.app:create_app",
        factory=True,
        host=host or settings.api.host,
        port=port or settings.api.port,
        workers=workers,
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )


@app.command()
def worker(
    queue: Annotated[str, typer.Argument(help=f"The queue to serve: {', '.join(QUEUES)}.")],
    check: Annotated[
        bool, typer.Option("--check", help="Exit 0 if a worker of this queue is healthy.")
    ] = False,
) -> None:
    """Run an ARQ worker for one queue (graceful on SIGTERM)."""
    from arq.worker import Worker, async_check_health

    from services.worker.settings import worker_settings

    if queue not in QUEUES:
        raise typer.BadParameter(f"unknown queue {queue!r}; expected one of {', '.join(QUEUES)}")
    options = worker_settings(queue)
    if check:
        raise typer.Exit(
            asyncio.run(async_check_health(options["redis_settings"], None, options["queue_name"]))
        )
    Worker(**options).run()


@app.command()
def migrate(revision: Annotated[str, typer.Argument(help="Target revision.")] = "heads") -> None:
    """Bring the database schema up to date (a one-shot step, never run on app start)."""
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config(str(REPO_ROOT / "alembic.ini")), revision)


@orgs_app.command("create")
def orgs_create(
    name: Annotated[str, typer.Argument(help="The organization's name.")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the API key.")] = False,
) -> None:
    """Create an organization and print its first API key (shown once)."""
    from shared.db import create_engine, create_sessionmaker, transaction
    from shared.organizations.service import create_organization

    async def create() -> tuple[str, str]:
        engine = create_engine(get_settings())
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                organization, issued = await create_organization(session, name)
            return organization.id, issued.plaintext
        finally:
            await engine.dispose()

    organization_id, key = asyncio.run(create())
    if quiet:
        typer.echo(key)
        return
    typer.echo(f"organization: {organization_id} ({name})")
    typer.echo(f"api key:      {key}")
    typer.echo("Store the key now: it is not shown again.", err=True)


@keys_app.command("rotate")
def keys_rotate(
    batch_size: Annotated[int, typer.Option(help="Rows re-encrypted per transaction.")] = 500,
) -> None:
    """Re-encrypt every stored secret under the newest key of ATTUNE_SECURITY__ENCRYPTION_KEYS."""
    from shared.db import create_engine, create_sessionmaker, transaction
    from shared.provider_credentials.service import reseal_batch, reseal_idempotent_responses

    settings = get_settings()

    async def rotate() -> tuple[int, list[str], int]:
        engine = create_engine(settings)
        sessionmaker = create_sessionmaker(engine)
        resealed, unreadable, after_id = 0, [], ""
        try:
            while True:
                async with transaction(sessionmaker) as session:
                    batch = await reseal_batch(session, settings, after_id=after_id, limit=batch_size)
                if batch.last_id is None:
                    break
                resealed, after_id = resealed + batch.resealed, batch.last_id
                unreadable.extend(batch.unreadable)
            async with transaction(sessionmaker) as session:
                responses = await reseal_idempotent_responses(session, settings)
            return resealed, unreadable, responses
        finally:
            await engine.dispose()

    resealed, unreadable, responses = asyncio.run(rotate())
    typer.echo(f"provider credentials re-encrypted: {resealed}")
    typer.echo(f"stored idempotent responses re-encrypted: {responses}")
    if unreadable:
        typer.echo(f"could not open (key no longer configured): {', '.join(unreadable)}", err=True)
        raise typer.Exit(1)


# Client commands: they talk to a running API over HTTP only (services/client/, docs/cli.md).
app.command("import")(import_file)
app.add_typer(datasets_client.app, name="datasets")
app.add_typer(jobs_client.app, name="jobs")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
