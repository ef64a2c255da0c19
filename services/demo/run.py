"""`make demo`: the stack up on this machine, then a real fine-tuning job on it from the sample TMX to
an evaluated model, through the CLI and the HTTP API only. Ctrl-C stops everything it started."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from services.demo.stack import LOG_DIR, Stack, running_stack, wait_until_ready
from shared.config import Settings, get_settings
from shared.queue import QUEUES

console = Console()
SAMPLES = Path(__file__).parent / "samples"
SMOLLM2 = "SmolLM2-135M-Instruct"
TINY = "tiny-llama"
SYSTEM_PROMPT = (
    "You translate software user interface strings from {source_language} to {target_language}. "
    "Keep placeholders such as {{0}}, {{name}} and %s exactly as they are. Answer with the translation only."
)


def child_env(settings: Settings, key: str | None = None) -> dict[str, str]:
    """The demo's processes: quick polls for a live chart, time for a CPU model's first answer."""
    running = {"validating_files": 2.0, "queued": 2.0, "running": 2.0, "cancelling": 2.0}
    env = os.environ | {
        "ATTUNE_PROVIDERS__POLL_INTERVAL_SECONDS": json.dumps(running),
        "ATTUNE_PROVIDERS__REQUEST_TIMEOUT_SECONDS": "300",
        "ATTUNE_API_URL": f"http://{settings.api.host}:{settings.api.port}",
        "COLUMNS": os.environ.get("COLUMNS", "120"),
    }
    return env | ({"ATTUNE_API_KEY": key} if key else {})


def attune(env: dict[str, str], *args: str, capture: bool = False) -> Any:
    """Run one `attune` client command as a user would; with `capture`, its `--json` output parsed."""
    finished = subprocess.run(
        [sys.executable, "-m", "services.cli", *args, *(["--json"] if capture else [])],
        env=env,
        stdout=subprocess.PIPE if capture else None,
        text=True,
        check=False,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"`attune {' '.join(args)}` exited with {finished.returncode}")
    return json.loads(finished.stdout) if capture else None


def step(title: str) -> None:
    console.rule(f"[bold cyan]{title}", align="left")


def fresh_trainer_state(settings: Settings) -> None:
    """A trainer state of its own for this run, keeping only the converted-model cache (a slow step)."""
    state = settings.trainer.state_dir
    if state.is_dir():
        for entry in state.iterdir():
            if entry.name != "model_cache":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def create_org_key(env: dict[str, str]) -> str:
    created = subprocess.run(
        [sys.executable, "-m", "services.cli", "orgs", "create", "Demo Localization", "--quiet"],
        env=env, check=False, capture_output=True, text=True,
    )  # fmt: skip
    if created.returncode != 0:
        raise RuntimeError(
            f"`attune orgs create` failed (is the schema migrated?):\n{created.stderr[-2000:]}"
        )
    return created.stdout.strip()


def wait_for_evaluation(http: httpx.Client, job_id: str, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = http.get(f"/v1/fine_tuning/jobs/{job_id}/evaluation")
        if response.status_code == 200 and response.json()["status"] in ("succeeded", "failed"):
            evaluation: dict[str, Any] = response.json()
            return evaluation
        time.sleep(2)
    raise RuntimeError(f"the evaluation of {job_id} did not finish within {timeout:.0f} s")


def segments_table(evaluation: dict[str, Any], count: int = 6) -> Table:
    table = Table(title="Some validation segments, side by side", show_lines=True)
    for column in ("source", "reference", "base model", "fine-tuned model"):
        table.add_column(column, ratio=1)
    for segment in evaluation["segments"][:count]:
        texts = (segment[key] for key in ("source", "reference", "base_output", "fine_tuned_output"))
        table.add_row(*(text if len(text) <= 90 else text[:89] + "…" for text in texts))
    return table


def services_table(stack: Stack, settings: Settings, key: str, job: dict[str, Any]) -> Table:
    api_url = f"http://{settings.api.host}:{settings.api.port}"
    table = Table(title="Attune is running", show_lines=False)
    table.add_column("what")
    table.add_column("where")
    for label, path in (
        ("API", ""),
        ("API docs", "/docs"),
        ("OpenAPI", "/openapi.json"),
        ("metrics", "/metrics"),
    ):
        table.add_row(label, api_url + path)
    table.add_row("built-in trainer", settings.trainer.url)
    for queue in QUEUES:
        table.add_row(
            f"worker {queue}", f"pid {stack.processes['worker-' + queue].pid}, queue attune:queue:{queue}"
        )
    table.add_row("logs", str(LOG_DIR.resolve()))
    table.add_row("API key", key)
    table.add_row("job", f"{api_url}/v1/fine_tuning/jobs/{job['id']}")
    table.add_row("job stream (SSE)", f"{api_url}/v1/fine_tuning/jobs/{job['id']}/stream")
    table.add_row("fine-tuned model", str(job.get("fine_tuned_model")))
    return table


def main(
    keep_running: bool = typer.Option(
        True, "--keep-running/--exit", help="Stay up until Ctrl-C (default) or stop at the end."
    ),
    model: str = typer.Option(SMOLLM2, help=f"Base model: {SMOLLM2}, or `tiny` (built here in seconds)."),
    epochs: int = typer.Option(2, min=1, help="Training epochs."),
) -> None:
    """From nothing to an evaluated fine-tuned translation model, on this machine."""
    settings = get_settings()
    started = time.monotonic()
    console.rule("[bold]Attune demo")
    console.print(
        f"The stack comes up (API, the {', '.join(QUEUES)} workers, the built-in trainer), "
        f"then the sample translation memory becomes a dataset and a LoRA fine-tuning job on {model}, "
        "followed live and evaluated against the base model. On 2 CPU cores this takes about 10 "
        "minutes (at most 15). Ctrl-C stops everything."
    )
    env = child_env(settings)
    fresh_trainer_state(settings)
    if model == "tiny":
        command = ["trainer", "make-tiny-model", "--name", TINY, "--overwrite"]
        subprocess.run(
            [sys.executable, "-m", "services.cli", *command], env=env, check=True, capture_output=True
        )
        model = TINY
    with running_stack(console, env) as stack:
        stack.start("api", "api")
        for queue in QUEUES:
            stack.start(f"worker-{queue}", "worker", queue)
        stack.start(
            "trainer", "trainer", "--host", settings.trainer.host, "--port", str(settings.trainer.port)
        )
        wait_until_ready(stack, f"{env['ATTUNE_API_URL']}/readyz")
        wait_until_ready(stack, f"http://{settings.trainer.host}:{settings.trainer.port}/healthz")
        key = create_org_key(env)
        env = child_env(settings, key)
        console.print(
            f"Up in {time.monotonic() - started:.0f} s; organization 'Demo Localization' and its key made."
        )
        with httpx.Client(
            base_url=env["ATTUNE_API_URL"], headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as http:
            job = run_job(http, env, stack, model, epochs)
            evaluation = wait_for_evaluation(http, job["id"])
            job = http.get(f"/v1/fine_tuning/jobs/{job['id']}").json()
        step("The training, step by step")
        attune(env, "jobs", "metrics", job["id"])
        step("Base against fine-tuned model on the held-out validation set")
        attune(env, "jobs", "show", job["id"])
        if evaluation["status"] == "succeeded":
            console.print(segments_table(evaluation))
            verdict(evaluation)
        else:
            console.print(f"[red]The evaluation failed: {evaluation.get('error')}")
        console.print(services_table(stack, settings, key, job))
        console.print(f"[bold]Done in {(time.monotonic() - started) / 60:.1f} minutes.[/bold]")
        if keep_running:
            console.print("[bold]Running. Press Ctrl-C to stop every process.[/bold]")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    stack.check_alive()
                    time.sleep(1)


def run_job(http: httpx.Client, env: dict[str, str], stack: Stack, model: str, epochs: int) -> dict[str, Any]:
    """Import, prompt, dataset, job (confirmed after its estimate), followed to its end; the job."""
    step("1. Import the sample translation memories (TMX)")
    training_tm = http.post("/v1/translation_memories", json={"name": "Software UI, approved"}).json()
    validation_tm = http.post("/v1/translation_memories", json={"name": "Software UI, held out"}).json()
    attune(env, "import", str(SAMPLES / "software-ui.en-de.tmx"), "--translation-memory", training_tm["id"])
    attune(
        env,
        "import",
        str(SAMPLES / "software-ui.en-de.validation.tmx"),
        "--translation-memory",
        validation_tm["id"],
    )

    step("2. The pre-translate prompt the model is tuned for")
    prompt = http.post(
        "/v1/prompts", json={"name": "UI strings", "system": SYSTEM_PROMPT, "user_template": "{source_text}"}
    ).json()
    console.print(f"system: {prompt['system']}\nuser:   {prompt['user_template']}")

    step("3. Build the dataset: filters, dedupe, token counts, the cost estimate")
    recipe = {
        "sources": {"translation_memory_ids": [training_tm["id"]]},
        "validation": {"sources": {"translation_memory_ids": [validation_tm["id"]]}},
        "prompt_id": prompt["id"], "provider": "local", "model": model, "seed": 7,
    }  # fmt: skip
    recipe_path = LOG_DIR / "recipe.json"
    recipe_path.write_text(json.dumps(recipe, indent=2))
    dataset = attune(env, "datasets", "create", "--recipe", str(recipe_path), capture=True)
    attune(env, "datasets", "show", dataset["id"])
    if dataset["status"] != "ready":
        raise RuntimeError(f"the dataset failed: {dataset.get('error')}")
    console.print(f"The estimate for the {epochs} epoch(s) this job trains:")
    attune(env, "datasets", "show", dataset["id"], "--epochs", str(epochs))

    step(f"4. A LoRA job on {model}, held for confirmation, then started")
    job = attune(
        env, "jobs", "create", "--dataset", dataset["id"], "--model", model, "--provider", "local",
        "--epochs", str(epochs), "--batch-size", "8", "--seed", "7", "--suffix", "ui-de", "--no-auto-start",
        capture=True,
    )  # fmt: skip
    attune(env, "jobs", "show", job["id"])
    attune(env, "jobs", "start", job["id"])

    step("5. Follow the training live (attune jobs watch)")
    stack.check_alive()
    try:
        attune(env, "jobs", "watch", job["id"])
    except RuntimeError as failed:
        raise RuntimeError(f"the job did not succeed; see {LOG_DIR.resolve()}/trainer.log") from failed
    console.print("Waiting for the evaluation (base and fine-tuned model translate the validation set)...")
    created: dict[str, Any] = job
    return created


def verdict(evaluation: dict[str, Any]) -> None:
    base, tuned = evaluation["summary"]["base"], evaluation["summary"]["fine_tuned"]
    better = tuned["chrf_pp"] > base["chrf_pp"]
    colour = "green" if better else "yellow"
    console.print(
        f"[bold {colour}]chrF++ {base['chrf_pp']:.2f} → {tuned['chrf_pp']:.2f}, "
        f"BLEU {base['bleu']:.2f} → {tuned['bleu']:.2f}: the fine-tuned model is "
        f"{'better' if better else 'not better'} than its base on the held-out set.[/]"
    )
