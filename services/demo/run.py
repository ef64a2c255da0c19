"""`make demo`: the whole stack on one machine, checked end to end; Ctrl-C stops everything it started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.table import Table

from shared.config import get_settings

console = Console()
LOG_DIR = Path("var/demo")


@dataclass
class Stack:
    """The processes the demo started, each with its own log file."""

    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = (LOG_DIR / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = (LOG_DIR / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {process.returncode}; its log ends:\n{tail}")

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_stack() -> Iterator[Stack]:
    stack = Stack()
    try:
        yield stack
    finally:
        console.print("[bold]Stopping every process the demo started...[/bold]")
        stack.stop()


def wait_until_ready(stack: Stack, url: str, timeout: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check_alive()
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                body: dict[str, object] = response.json()
                return body
        time.sleep(0.3)
    raise RuntimeError(f"{url} was not ready after {timeout:.0f} s")


def create_org_key() -> str:
    created = subprocess.run(
        [sys.executable, "-m", "services.cli", "orgs", "create", "Demo Localization", "--quiet"],
        check=True,
        capture_output=True,
        text=True,
    )
    return created.stdout.strip()


def main(
    keep_running: bool = typer.Option(
        True, "--keep-running/--exit", help="Stay up until Ctrl-C (default) or stop after the checks."
    ),
) -> None:
    """Bring up the API and one worker per queue, prove they work, and show where they listen."""
    settings = get_settings()
    api_url = f"http://{settings.api.host}:{settings.api.port}"
    started = time.monotonic()
    console.rule("[bold]Attune demo")
    console.print("Brings up the API and the datasets, providers and webhooks workers; takes under a minute.")
    with running_stack() as stack:
        stack.start("api", "api")
        for queue in ("datasets", "providers", "webhooks"):
            stack.start(f"worker-{queue}", "worker", queue)
        readiness = wait_until_ready(stack, f"{api_url}/readyz")
        key = create_org_key()
        organization = httpx.get(
            f"{api_url}/v1/organization", headers={"Authorization": f"Bearer {key}"}
        ).json()
        time.sleep(1.0)
        stack.check_alive()

        table = Table(title="Attune is up", show_lines=False)
        table.add_column("what")
        table.add_column("where")
        table.add_row("API", api_url)
        table.add_row("API docs", f"{api_url}/docs")
        table.add_row("OpenAPI", f"{api_url}/openapi.json")
        table.add_row("readiness", f"{api_url}/readyz → {readiness['status']}")
        table.add_row("metrics", f"{api_url}/metrics")
        for queue in ("datasets", "providers", "webhooks"):
            table.add_row(
                f"worker {queue}", f"pid {stack.processes['worker-' + queue].pid}, queue attune:queue:{queue}"
            )
        table.add_row("logs", str(LOG_DIR.resolve()))
        table.add_row("organization", f"{organization['id']} ({organization['name']})")
        table.add_row("API key", key)
        console.print(table)
        console.print(f"Try: curl -H 'Authorization: Bearer {key}' {api_url}/v1/api_keys")
        console.print(f"Up in {time.monotonic() - started:.1f} s.")
        if keep_running:
            console.print("[bold]Running. Press Ctrl-C to stop every process.[/bold]")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    stack.check_alive()
                    time.sleep(1)
