"""`attune datasets create|show`: build a dataset from a recipe and read its report and estimate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from services.client.connection import (
    DEFAULT_API_URL,
    Api,
    ApiKey,
    ApiUrl,
    JsonOutput,
    connect,
    fail,
    poll_until,
    print_json,
)
from services.client.render import dataset_report, estimate_table

app = typer.Typer(help="Datasets: training files built from approved translations.", no_args_is_help=True)


def recipe_from_options(
    *,
    projects: list[str],
    translation_memories: list[str],
    prompt: str | None,
    provider: str | None,
    model: str | None,
    validation_fraction: float | None,
    seed: int | None,
    min_examples: int | None,
    max_examples: int | None,
) -> dict[str, Any]:
    """The recipe the options describe; what is not given is left to the server's defaults."""
    if not projects and not translation_memories:
        fail("Name a source: --project or --translation-memory (or give --recipe FILE.json).", 2)
    recipe: dict[str, Any] = {
        "sources": {"project_ids": projects, "translation_memory_ids": translation_memories}
    }
    optional = {"prompt_id": prompt, "provider": provider, "model": model, "seed": seed}
    recipe |= {key: value for key, value in optional.items() if value is not None}
    if validation_fraction is not None:
        recipe["validation"] = {"fraction": validation_fraction}
    limits = {"min_examples": min_examples, "max_examples": max_examples}
    if any(value is not None for value in limits.values()):
        recipe["limits"] = {key: value for key, value in limits.items() if value is not None}
    return recipe


def wait_for_dataset(api: Api, console: Console, dataset_id: str) -> dict[str, Any]:
    """Poll the dataset until it is `ready` or `failed`."""
    return poll_until(
        console,
        f"Building dataset {dataset_id}...",
        lambda: api.get(f"/v1/datasets/{dataset_id}"),
        lambda current: current["status"] != "building",
    )


def _finish(console: Console, dataset: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(dataset)
    else:
        console.print(dataset_report(dataset))
    if dataset["status"] == "failed":
        raise typer.Exit(1)


@app.command("create")
def create(
    *,
    recipe_file: Annotated[
        Path | None,
        typer.Option("--recipe", exists=True, dir_okay=False, help="The recipe as JSON (docs/datasets.md)."),
    ] = None,
    project: Annotated[list[str] | None, typer.Option(help="A project to read (repeatable).")] = None,
    translation_memory: Annotated[
        list[str] | None, typer.Option(help="A translation memory to read (repeatable).")
    ] = None,
    prompt: Annotated[str | None, typer.Option(help="Prompt id to render rows with.")] = None,
    provider: Annotated[str | None, typer.Option(help="Provider kind or credential id.")] = None,
    model: Annotated[str | None, typer.Option(help="Base model (tokenizer, context, price).")] = None,
    validation_fraction: Annotated[
        float | None, typer.Option(help="Share of rows held out for validation.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Decides the split and sampling.")] = None,
    min_examples: Annotated[int | None, typer.Option(help="Fail below this many examples.")] = None,
    max_examples: Annotated[int | None, typer.Option(help="Sample down to this many examples.")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until ready or failed.")] = True,
    json_output: JsonOutput = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
) -> None:
    """Build a dataset from a recipe file or options, and print its report."""
    console = Console()
    with connect(api_url, api_key) as api:
        options_given = any(
            value is not None
            for value in (prompt, provider, model, validation_fraction, seed, min_examples, max_examples)
        ) or bool(project or translation_memory)
        if recipe_file is not None:
            if options_given:
                fail("Give either --recipe or recipe options, not both.", 2)
            try:
                recipe = json.loads(recipe_file.read_text(encoding="utf-8"))
            except (ValueError, OSError) as error:
                fail(f"{recipe_file} is not a JSON recipe: {error}", 2)
        else:
            recipe = recipe_from_options(
                projects=project or [],
                translation_memories=translation_memory or [],
                prompt=prompt,
                provider=provider,
                model=model,
                validation_fraction=validation_fraction,
                seed=seed,
                min_examples=min_examples,
                max_examples=max_examples,
            )
        dataset: dict[str, Any] = api.post("/v1/datasets", recipe)
        if wait:
            dataset = wait_for_dataset(api, console, dataset["id"])
        _finish(console, dataset, json_output)


@app.command("show")
def show(
    dataset_id: Annotated[str, typer.Argument(help="The dataset (ds_...).")],
    *,
    provider: Annotated[str | None, typer.Option(help="Estimate for this provider instead.")] = None,
    model: Annotated[str | None, typer.Option(help="Estimate for this model instead.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Estimate for this many epochs.")] = None,
    json_output: JsonOutput = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
) -> None:
    """Print a dataset's report: counts, tokens, rejects by reason and the cost estimate."""
    console = Console()
    with connect(api_url, api_key) as api:
        dataset: dict[str, Any] = api.get(f"/v1/datasets/{dataset_id}")
        if provider is None and model is None and epochs is None:
            _finish(console, dataset, json_output)
            return
        params = {"provider": provider, "model": model, "n_epochs": epochs}
        estimate = api.get(
            f"/v1/datasets/{dataset_id}/estimate", {k: v for k, v in params.items() if v is not None}
        )
        if json_output:
            print_json(estimate)
        else:
            console.print(estimate_table(estimate))
