"""Rich tables of what the API answers: import and dataset reports, jobs, metrics, evaluations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

MAX_REJECTED_ROWS = 10
REPORT_COUNTS = ("rows", "inserted", "updated", "unchanged", "rejected", "skipped")
METRIC_COLUMNS = (
    ("train_loss", "train loss"),
    ("train_mean_token_accuracy", "train acc"),
    ("valid_loss", "valid loss"),
    ("valid_mean_token_accuracy", "valid acc"),
    ("full_valid_loss", "full valid loss"),
)


def number(value: Any, digits: int = 4) -> str:
    """A count with thousands separators, a float to `digits` places, `-` for nothing."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return escape(str(value))


def when(unix_seconds: Any) -> str:
    if not isinstance(unix_seconds, int | float):
        return "-"
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def fields(rows: list[tuple[str, Any]], title: str | None = None) -> Table:
    """A two-column table of label and value, for one object."""
    table = Table(title=title, show_header=False, box=None, pad_edge=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows:
        table.add_row(label, value if isinstance(value, Text) else number(value))
    return table


def import_report(imported: dict[str, Any]) -> RenderableType:
    """An import: where it went, its counts, and the first rejected rows with their reasons."""
    target = imported.get("project_id") or imported.get("translation_memory_id")
    parts: list[RenderableType] = [
        fields(
            [
                ("import", imported["id"]),
                ("into", target),
                ("file", imported.get("file_name")),
                ("format", imported.get("format")),
                ("status", imported["status"]),
            ]
        )
    ]
    report = imported.get("report")
    if report:
        counts = Table(title="Report", title_justify="left")
        for name in REPORT_COUNTS:
            counts.add_column(name, justify="right")
        counts.add_row(*(number(report.get(name)) for name in REPORT_COUNTS))
        parts.append(counts)
        rejections = report.get("rejections") or []
        if rejections:
            shown = rejections[:MAX_REJECTED_ROWS]
            table = Table(title=f"Rejected rows (first {len(shown)})", title_justify="left")
            table.add_column("line", justify="right")
            table.add_column("unit")
            table.add_column("reason")
            for row in shown:
                table.add_row(
                    number(row.get("line")), number(row.get("unit")), escape(str(row.get("reason")))
                )
            parts.append(table)
            if report.get("rejections_truncated") or len(rejections) > len(shown):
                parts.append(Text("(more rows were rejected than are listed)", style="dim"))
    if imported.get("error"):
        error = imported["error"]
        where = ", ".join(f"{k} {error[k]}" for k in ("line", "column") if error.get(k))
        parts.append(
            Text(f"failed: {error.get('code')}: {error.get('detail')}" + (f" ({where})" if where else ""))
        )
    return Group(*parts)


def estimate_table(estimate: dict[str, Any]) -> Table:
    """A cost (hosted providers) or duration (the built-in trainer) estimate."""
    rows: list[tuple[str, Any]] = [
        ("provider / model", f"{estimate.get('provider')} / {estimate.get('model')}"),
        ("epochs", f"{estimate.get('n_epochs')} ({estimate.get('n_epochs_source')})"),
        ("trained tokens", estimate.get("trained_tokens")),
    ]
    cost = estimate.get("cost")
    rows.append(("cost", f"{cost} {estimate.get('currency', '')}".strip() if cost is not None else "unknown"))
    if estimate.get("duration_seconds") is not None:
        rows.append(("duration", f"~{float(estimate['duration_seconds']):.0f} s"))
    for note in estimate.get("notes") or []:
        rows.append(("note", note))
    return fields(rows, title="Estimate")


def dataset_report(dataset: dict[str, Any]) -> RenderableType:
    """A dataset: status, files, examples and tokens per split, rejects by reason, the estimate."""
    stats = dataset.get("stats") or {}
    tokenizer = stats.get("tokenizer") or {}
    parts: list[RenderableType] = [
        fields(
            [
                ("dataset", dataset["id"]),
                ("status", dataset["status"]),
                ("training file", dataset.get("training_file")),
                ("validation file", dataset.get("validation_file")),
                ("content hash", dataset.get("content_hash")),
                ("rows read", stats.get("rows_read")),
                ("rejected", stats.get("rejected_total")),
                (
                    "tokenizer",
                    f"{tokenizer['name']}{'' if tokenizer.get('exact') else ' (estimated)'}"
                    if tokenizer
                    else None,
                ),
            ]
        )
    ]
    if stats:
        splits = Table(title="Files", title_justify="left")
        for name in ("split", "examples", "tokens", "bytes"):
            splits.add_column(name, justify="left" if name == "split" else "right")
        for split in ("training", "validation"):
            summary = stats.get(split) or {}
            splits.add_row(split, *(number(summary.get(key)) for key in ("examples", "tokens", "bytes")))
        parts.append(splits)
    rejected = stats.get("rejected") or {}
    if rejected:
        reasons = Table(title="Rejected rows by reason", title_justify="left")
        reasons.add_column("reason")
        reasons.add_column("rows", justify="right")
        for reason, count in sorted(rejected.items(), key=lambda item: -item[1]):
            reasons.add_row(escape(reason), number(count))
        parts.append(reasons)
    if dataset.get("estimate"):
        parts.append(estimate_table(dataset["estimate"]))
    if dataset.get("error"):
        error = dataset["error"]
        parts.append(Text(f"failed: {error.get('title') or error.get('code')}: {error.get('detail')}"))
    return Group(*parts)


def jobs_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table()
    for name in ("id", "status", "model", "provider", "created", "output model"):
        table.add_column(name)
    for job in jobs:
        table.add_row(
            job["id"],
            job["status"],
            escape(job["model"]),
            escape(job.get("provider") or "-"),
            when(job.get("created_at")),
            escape(job.get("fine_tuned_model") or "-"),
        )
    return table


def job_detail(job: dict[str, Any], evaluation: dict[str, Any] | None = None) -> RenderableType:
    """One job: status beside the provider's, model, tokens, costs, output model, error, evaluation."""
    currency = job.get("cost_currency") or ""
    cost = [
        f"{job[key]} {currency}".strip() if job.get(key) is not None else "-"
        for key in ("estimated_cost", "actual_cost")
    ]
    error = job.get("error")
    rows: list[tuple[str, Any]] = [
        ("job", job["id"]),
        ("status", job["status"]),
        ("provider", job.get("provider")),
        ("provider status", job.get("provider_status")),
        ("provider job", job.get("provider_job_id")),
        ("model", job.get("model")),
        ("training file", job.get("training_file")),
        ("validation file", job.get("validation_file")),
        ("dataset", job.get("dataset_id")),
        ("trained tokens", job.get("trained_tokens")),
        ("estimated cost", cost[0]),
        ("actual cost", cost[1]),
        ("output model", job.get("fine_tuned_model")),
        ("created", when(job.get("created_at"))),
        ("finished", when(job.get("finished_at"))),
    ]
    if error:
        rows.append(("error", f"{error.get('code')}: {error.get('message')}"))
    parts: list[RenderableType] = [fields(rows)]
    if evaluation is not None:
        parts.append(evaluation_table(evaluation))
    return Group(*parts)


EVALUATION_ROWS = (
    ("chrF++", "chrf_pp"),
    ("BLEU", "bleu"),
    ("TER (lower is better)", "ter"),
    ("placeholder errors", "placeholder_errors"),
)


def evaluation_table(evaluation: dict[str, Any]) -> RenderableType:
    """Base against fine-tuned model: the summary of `GET /v1/fine_tuning/jobs/{id}/evaluation`."""
    summary = evaluation.get("summary") or {}
    base, tuned = summary.get("base") or {}, summary.get("fine_tuned") or {}
    status = evaluation.get("status")
    segments = evaluation.get("segment_count")
    title = f"Evaluation ({status}" + (f", {segments} validation segments)" if segments else ")")
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column(str(evaluation.get("base_model") or "base"), justify="right")
    table.add_column("fine-tuned", justify="right")
    table.add_column("change", justify="right")
    for label, name in EVALUATION_ROWS:
        before, after = base.get(name), tuned.get(name)
        change = (
            (after - before) if isinstance(before, int | float) and isinstance(after, int | float) else None
        )
        digits = 0 if name == "placeholder_errors" else 2
        table.add_row(
            label,
            number(before, digits),
            number(after, digits),
            f"{change:+.{digits}f}" if change is not None else "-",
        )
    if error := evaluation.get("error"):
        table.caption = f"{error.get('code')}: {error.get('message')}"
    return table


def metrics_table(rows: list[dict[str, Any]]) -> Table:
    table = Table()
    table.add_column("step", justify="right")
    for _, label in METRIC_COLUMNS:
        table.add_column(label, justify="right")
    for row in rows:
        step = f"{row['step']}/{row['total_steps']}" if row.get("total_steps") else str(row["step"])
        table.add_row(step, *(number(row.get(name)) for name, _ in METRIC_COLUMNS))
    return table
