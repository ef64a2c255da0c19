"""`attune jobs ...`: create, start, list, show, cancel, metrics and watch fine-tuning jobs."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from services.client.connection import (
    DEFAULT_API_URL,
    ApiKey,
    ApiUrl,
    JsonOutput,
    connect,
    fail,
    print_json,
)
from services.client.render import job_detail, jobs_table, metrics_table
from services.client.watch import watch_job

app = typer.Typer(help="Fine-tuning jobs: create, follow and inspect them.", no_args_is_help=True)
JobId = Annotated[str, typer.Argument(help="The job (ftjob_...).")]
METRICS_PAGE = 10_000


def parse_metadata(pairs: list[str]) -> dict[str, str]:
    """`k=v` options as a dict (the value may itself hold `=`)."""
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--metadata takes key=value, not {pair!r}.", 2)
        metadata[key] = value
    return metadata


def _show(console: Console, job: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(job)
    else:
        console.print(job_detail(job))


@app.command("create")
def create(
    *,
    model: Annotated[str, typer.Option(help="Base model, or an earlier job's output model.")],
    provider: Annotated[
        str | None, typer.Option(help="`local` (built-in trainer) or a credential id.")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Train on this dataset's files (waits for it).")] = None,
    training_file: Annotated[str | None, typer.Option(help="Id of an uploaded fine-tune file.")] = None,
    validation_file: Annotated[str | None, typer.Option(help="Id of a validation file.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (default: auto).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Examples per step (default: auto).")] = None,
    learning_rate_multiplier: Annotated[float | None, typer.Option(help="Default: auto.")] = None,
    seed: Annotated[int | None, typer.Option(help="Makes training reproducible.")] = None,
    suffix: Annotated[str | None, typer.Option(help="Part of the output model's name.")] = None,
    auto_start: Annotated[
        bool, typer.Option("--auto-start/--no-auto-start", help="--no-auto-start: stop for confirmation.")
    ] = True,
    metadata: Annotated[list[str] | None, typer.Option(help="key=value (repeatable).")] = None,
    json_output: JsonOutput = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
) -> None:
    """Create a fine-tuning job on a dataset or on uploaded files."""
    console = Console()
    with connect(api_url, api_key) as api:
        if (dataset is None) == (training_file is None):
            fail("Name exactly one of --dataset or --training-file.", 2)
        if dataset is not None and validation_file is not None:
            fail("--validation-file goes with --training-file; a dataset brings its own.", 2)
        hyperparameters = {
            "n_epochs": epochs,
            "batch_size": batch_size,
            "learning_rate_multiplier": learning_rate_multiplier,
        }
        body: dict[str, Any] = {
            "model": model,
            "training_file": training_file,
            "validation_file": validation_file,
            "seed": seed,
            "suffix": suffix,
            "provider": provider,
            "metadata": parse_metadata(metadata or []) or None,
            "hyperparameters": {k: v for k, v in hyperparameters.items() if v is not None} or None,
        }
        body = {key: value for key, value in body.items() if value is not None} | {"auto_start": auto_start}
        if dataset is not None:
            body["dataset_id"] = dataset  # a building dataset: the job waits in building_dataset
        job = api.post("/v1/fine_tuning/jobs", body)
        _show(console, job, json_output)


@app.command("start")
def start(
    job_id: JobId, json_output: JsonOutput = False, api_url: ApiUrl = DEFAULT_API_URL, api_key: ApiKey = None
) -> None:
    """Confirm a job waiting in `awaiting_confirmation` (created with --no-auto-start)."""
    with connect(api_url, api_key) as api:
        _show(Console(), api.post(f"/v1/fine_tuning/jobs/{job_id}/start"), json_output)


@app.command("list")
def list_jobs(
    status: Annotated[list[str] | None, typer.Option(help="Only jobs in this status (repeatable).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    json_output: JsonOutput = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
) -> None:
    """The organization's jobs, newest first."""
    with connect(api_url, api_key) as api:
        page = api.get("/v1/fine_tuning/jobs", {"limit": limit, "status": status or []})
        if json_output:
            print_json(page)
            return
        console = Console()
        console.print(jobs_table(page["data"]))
        if page.get("has_more"):
            console.print(f"(more: --limit above {limit})", style="dim")


@app.command("show")
def show(
    job_id: JobId, json_output: JsonOutput = False, api_url: ApiUrl = DEFAULT_API_URL, api_key: ApiKey = None
) -> None:
    """One job: status, provider status, model, tokens, costs, output model, error and evaluation."""
    with connect(api_url, api_key) as api:
        job = api.get(f"/v1/fine_tuning/jobs/{job_id}")
        evaluation = api.get_optional(f"/v1/fine_tuning/jobs/{job_id}/evaluation")
        if json_output:
            print_json(job | ({"evaluation": evaluation} if evaluation is not None else {}))
            return
        Console().print(job_detail(job, evaluation))


@app.command("cancel")
def cancel(
    job_id: JobId, json_output: JsonOutput = False, api_url: ApiUrl = DEFAULT_API_URL, api_key: ApiKey = None
) -> None:
    """Cancel a job (also at its provider)."""
    with connect(api_url, api_key) as api:
        _show(Console(), api.post(f"/v1/fine_tuning/jobs/{job_id}/cancel"), json_output)


@app.command("metrics")
def metrics(
    job_id: JobId, json_output: JsonOutput = False, api_url: ApiUrl = DEFAULT_API_URL, api_key: ApiKey = None
) -> None:
    """The job's per-step metrics: losses and token accuracies."""
    with connect(api_url, api_key) as api:
        rows: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": METRICS_PAGE}
        while True:
            page = api.get(f"/v1/fine_tuning/jobs/{job_id}/metrics", params)
            rows.extend(page["data"])
            if not page.get("has_more") or page.get("last_step") is None:
                break
            params["after"] = page["last_step"]
        if json_output:
            print_json(rows)
        else:
            Console().print(metrics_table(rows))


@app.command("watch")
def watch(job_id: JobId, api_url: ApiUrl = DEFAULT_API_URL, api_key: ApiKey = None) -> None:
    """Follow a job live (progress, losses, a loss chart) until it ends; exit 1 unless it succeeded."""
    console = Console()
    with connect(api_url, api_key) as api:
        try:
            code = watch_job(api, job_id, console)
        except KeyboardInterrupt:
            Console(stderr=True).print("Stopped watching; the job goes on.")
            code = 130
    raise typer.Exit(code)
