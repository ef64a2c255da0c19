"""`attune trainer`: serve the built-in trainer's API, or build the tiny test model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shared.config import get_settings

app = typer.Typer(
    help="The built-in trainer: an OpenAI-compatible fine-tuning API that trains LoRA adapters."
)


@app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to bind (default: ATTUNE_TRAINER__HOST).")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default: ATTUNE_TRAINER__PORT).")
    ] = None,
) -> None:
    """Serve the trainer's API when no subcommand is given."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from services.trainer.app import create_app

    settings = get_settings().trainer
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )


@app.command("make-tiny-model")
def make_tiny_model(
    name: Annotated[
        str, typer.Option(help="Registry name (folder under the models directory).")
    ] = "tiny-llama",
    models_dir: Annotated[
        Path | None, typer.Option(help="Models directory (default: ATTUNE_TRAINER__MODELS_DIR).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the tokenizer corpus, weights and warm-up.")] = 0,
    warmup_steps: Annotated[int, typer.Option(help="Full-parameter warm-up steps.")] = 120,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing model of that name.")] = False,
) -> None:
    """Build a tiny Llama-architecture chat model offline in seconds; print its name last."""
    from services.trainer.registry import valid_name
    from services.trainer.runner import set_thread_policy
    from services.trainer.tiny_model import build_tiny_model

    set_thread_policy()

    if not valid_name(name):
        raise typer.BadParameter("use letters, digits, '.', '_' and '-' only", param_hint="--name")
    folder = models_dir or get_settings().trainer.models_dir
    try:
        path = build_tiny_model(folder, name, seed=seed, warmup_steps=warmup_steps, overwrite=overwrite)
    except FileExistsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"Built {path}")
    typer.echo(name)
