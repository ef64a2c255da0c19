"""The job's results CSV (OpenAI's `fine-tune-results` file), built from its metrics events."""

from __future__ import annotations

import csv
import io
import os

from services.trainer.store import Store, new_id, now

COLUMNS = (
    "step",
    "train_loss",
    "train_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)
SOURCE_KEYS = {"train_accuracy": "train_mean_token_accuracy"}


def results_csv(store: Store, job_id: str) -> str:
    """One CSV row per step, empty cells where a metric was not measured."""
    rows = store.all("SELECT data FROM events WHERE job_id = ? AND type = 'metrics' ORDER BY step", job_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        data = row["data"] or {}
        writer.writerow([data.get(SOURCE_KEYS.get(column, column), "") for column in COLUMNS])
    return buffer.getvalue()


def write_results_file(store: Store, job_id: str) -> str:
    """Store the results CSV as a file with purpose `fine-tune-results`; return its id."""
    file_id = new_id("file-")
    folder = store.state_dir / "files"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{file_id}.csv"
    content = results_csv(store, job_id).encode()
    path.with_suffix(".tmp").write_bytes(content)
    os.replace(path.with_suffix(".tmp"), path)
    record = {
        "id": file_id,
        "created_at": now(),
        "filename": "step_metrics.csv",
        "purpose": "fine-tune-results",
    }
    store.insert("files", record | {"bytes": len(content), "path": str(path)})
    return file_id
