"""`attune jobs watch`: a job's event stream as a live display, or as plain lines when not a terminal."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from services.client.chart import loss_chart, sparkline
from services.client.connection import Api
from services.client.sse import Follower

METRICS_EVENT = "fine_tuning.job.metrics"
FINAL_SUFFIXES = (".succeeded", ".failed", ".cancelled")
CHART_WIDTH, CHART_HEIGHT = 60, 8
# Plain output: about this many progress lines per job, or one per this many steps when the total is unknown.
PLAIN_LINES_PER_JOB = 10
PLAIN_STEPS_UNKNOWN_TOTAL = 50


def is_final(event_type: str) -> bool:
    return event_type.endswith(FINAL_SUFFIXES)


@dataclass
class WatchState:
    """What the events have told so far about one job."""

    job_id: str
    status: str = "unknown"
    provider_status: str | None = None
    model: str | None = None
    fine_tuned_model: str | None = None
    error: dict[str, Any] | None = None
    step: int = 0
    total_steps: int | None = None
    train_loss: float | None = None
    best_train_loss: float | None = None
    best_step: int | None = None
    valid_loss: float | None = None
    losses: dict[int, float] = field(default_factory=dict)
    finished: bool = False

    @classmethod
    def of_job(cls, job: dict[str, Any]) -> WatchState:
        """The job as fetched; its status comes from the stream, which replays it from the start."""
        return cls(job["id"], model=job.get("model"))

    def _summary(self, data: dict[str, Any]) -> None:
        for name in ("status", "provider_status", "model", "fine_tuned_model", "error"):
            if name in data:
                setattr(self, name, data[name])

    def _step(self, row: dict[str, Any]) -> None:
        step = row.get("step")
        if not isinstance(step, int):
            return
        self.step = max(self.step, step)
        if isinstance(row.get("total_steps"), int):
            self.total_steps = row["total_steps"]
        loss = row.get("train_loss")
        if isinstance(loss, int | float) and math.isfinite(loss):
            self.losses[step] = float(loss)
            if step >= self.step:
                self.train_loss = float(loss)
            if self.best_train_loss is None or loss < self.best_train_loss:
                self.best_train_loss, self.best_step = float(loss), step
        for name in ("full_valid_loss", "valid_loss"):
            if isinstance(row.get(name), int | float):
                self.valid_loss = float(row[name])
                break

    def apply(self, envelope: dict[str, Any]) -> bool:
        """Take one event in; returns whether the job's status changed."""
        before = (self.status, self.provider_status)
        data = envelope.get("data") or {}
        if envelope.get("type") == METRICS_EVENT:
            for row in data.get("metrics") or []:
                if isinstance(row, dict):
                    self._step(row)
            if "status" in data:
                self.status = data["status"]
        else:
            self._summary(data)
        if is_final(str(envelope.get("type", ""))):
            self.finished = True
        return (self.status, self.provider_status) != before

    def series(self) -> list[float]:
        return [self.losses[step] for step in sorted(self.losses)]

    def progress(self) -> str:
        if self.total_steps:
            return f"step {self.step}/{self.total_steps} ({100 * self.step // self.total_steps}%)"
        return f"step {self.step}"

    def losses_line(self) -> str:
        parts = [f"train loss {_loss(self.train_loss)}"]
        if self.best_train_loss is not None:
            parts.append(f"best {_loss(self.best_train_loss)} (step {self.best_step})")
        if self.valid_loss is not None:
            parts.append(f"valid loss {_loss(self.valid_loss)}")
        return "  ".join(parts)

    def status_line(self) -> str:
        provider = f" (provider: {self.provider_status})" if self.provider_status else ""
        return f"{self.job_id}: {self.status}{provider}"


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def chart_view(values: list[float]) -> RenderableType:
    """The loss chart with its highest and lowest value beside the top and bottom rows."""
    lines = loss_chart(values, CHART_WIDTH, CHART_HEIGHT)
    if not lines:
        return Text("(no loss reported yet)", style="dim")
    high, low = f"{max(values):.3f}", f"{min(values):.3f}"
    pad = max(len(high), len(low))
    labels = (
        [high.rjust(pad)] + [" " * pad] * (len(lines) - 2) + [low.rjust(pad)] if len(lines) > 1 else [low]
    )
    return Text("\n".join(f"{label} │{line}" for label, line in zip(labels, lines, strict=True)))


def live_view(state: WatchState) -> RenderableType:
    """Status, a progress bar over steps, current/best/valid loss and the train loss chart."""
    bar = Table.grid(padding=(0, 1))
    bar.add_row(ProgressBar(total=state.total_steps, completed=state.step, width=40), state.progress())
    return Group(
        Text(state.status_line(), style="bold"),
        bar,
        Text(state.losses_line()),
        Panel(chart_view(state.series()), title="train loss", expand=False),
    )


@dataclass
class PlainReport:
    """Lines for logs: every status change, and progress about every tenth of the job."""

    console: Console
    next_step: int = 0
    printed_step: int | None = None

    def status(self, state: WatchState) -> None:
        self.console.print(escape(state.status_line()), highlight=False)

    def metrics(self, state: WatchState) -> None:
        every = math.ceil(state.total_steps / PLAIN_LINES_PER_JOB) if state.total_steps else 0
        every = every or PLAIN_STEPS_UNKNOWN_TOTAL
        last = state.total_steps is not None and state.step >= state.total_steps
        if state.step == self.printed_step or not (state.step >= self.next_step or last):
            return
        self.console.print(f"{state.progress()}  {state.losses_line()}", highlight=False)
        self.printed_step, self.next_step = state.step, (state.step // every + 1) * every


def _finish(console: Console, state: WatchState, plain: bool) -> int:
    if plain and state.losses:
        values = state.series()
        console.print(
            f"train loss {sparkline(values)} ({values[0]:.4f} -> {values[-1]:.4f})", highlight=False
        )
    line = f"Job {state.job_id} {state.status}."
    if state.fine_tuned_model:
        line += f" Output model: {state.fine_tuned_model}"
    console.print(escape(line), highlight=False)
    if state.error:
        console.print(
            escape(f"Error: {state.error.get('code')}: {state.error.get('message')}"), highlight=False
        )
    return 0 if state.status == "succeeded" else 1


def watch_job(api: Api, job_id: str, console: Console, *, backoff: float = 0.5) -> int:
    """Follow the job to its end; 0 when it succeeded, 1 when it failed or was cancelled."""
    errors = Console(stderr=True)
    state = WatchState.of_job(api.get(f"/v1/fine_tuning/jobs/{job_id}"))
    follower = Follower(
        api,
        path=f"/v1/fine_tuning/jobs/{job_id}/stream",
        is_final=is_final,
        on_retry=lambda reason, delay: errors.print(
            escape(f"{reason}; resuming after {follower.last_event_id or 'the start'} in {delay:.1f} s"),
            highlight=False,
        ),
        backoff=backoff,
    )
    if console.is_terminal:
        with Live(live_view(state), console=console, refresh_per_second=8) as live:
            for envelope in follower.events():
                state.apply(envelope)
                live.update(live_view(state))
        return _finish(console, state, plain=False)
    report = PlainReport(console)
    for envelope in follower.events():
        if state.apply(envelope):
            report.status(state)
        if envelope.get("type") == METRICS_EVENT:
            report.metrics(state)
    return _finish(console, state, plain=True)
