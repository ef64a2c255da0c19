"""The processes `make demo` starts, each logging to its own file; all stopped together."""

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
from rich.console import Console

from shared.processes import die_with_parent

LOG_DIR = Path("var/demo")


@dataclass
class Stack:
    """The long-running processes the demo started (`attune <args>` each), with their log files."""

    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with (LOG_DIR / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # Ctrl-C reaches the demo, which stops them in order
                preexec_fn=_stop_with_the_demo,  # noqa: PLW1509 - one prctl call after fork, nothing else
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


def _stop_with_the_demo() -> None:
    """In the child: a SIGTERM when the demo dies, even killed outright, so nothing is left running."""
    die_with_parent(signal.SIGTERM)


@contextlib.contextmanager
def running_stack(console: Console, env: dict[str, str]) -> Iterator[Stack]:
    stack = Stack(env)
    try:
        yield stack
    finally:
        console.print("[bold]Stopping every process the demo started...[/bold]")
        stack.stop()


def wait_until_ready(stack: Stack, url: str, timeout: float = 90.0) -> dict[str, object]:
    """The JSON body of `url` once it answers 200 (the processes are checked while waiting)."""
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
