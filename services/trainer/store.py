"""The trainer's state: files, jobs, events and checkpoints in one SQLite database (WAL, crash-safe)."""

from __future__ import annotations

import json
import secrets
import sqlite3
import string
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL,
    filename TEXT NOT NULL, purpose TEXT NOT NULL, bytes INTEGER NOT NULL, path TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL,
    model TEXT NOT NULL, base_model TEXT NOT NULL, init_adapter TEXT,
    training_file TEXT NOT NULL, validation_file TEXT, hyperparameters TEXT NOT NULL, resolved TEXT,
    seed INTEGER NOT NULL, suffix TEXT, metadata TEXT, integrations TEXT, status TEXT NOT NULL,
    error TEXT, fine_tuned_model TEXT, started_at INTEGER, finished_at INTEGER, trained_tokens INTEGER,
    result_files TEXT NOT NULL DEFAULT '[]', estimated_finish INTEGER, output_dir TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
CREATE INDEX IF NOT EXISTS jobs_fine_tuned_model ON jobs (fine_tuned_model);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, job_id TEXT NOT NULL,
    created_at INTEGER NOT NULL, level TEXT NOT NULL, type TEXT NOT NULL, message TEXT NOT NULL,
    data TEXT, step INTEGER
);
CREATE INDEX IF NOT EXISTS events_job ON events (job_id, seq);
CREATE UNIQUE INDEX IF NOT EXISTS events_metrics_step ON events (job_id, step) WHERE type = 'metrics';
CREATE TABLE IF NOT EXISTS checkpoints (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, job_id TEXT NOT NULL,
    created_at INTEGER NOT NULL, step_number INTEGER NOT NULL, metrics TEXT NOT NULL,
    fine_tuned_model_checkpoint TEXT NOT NULL, path TEXT NOT NULL, UNIQUE (job_id, step_number)
);
CREATE INDEX IF NOT EXISTS checkpoints_model ON checkpoints (fine_tuned_model_checkpoint);
"""
JSON_COLUMNS = {"hyperparameters", "resolved", "metadata", "integrations", "error", "result_files", "data"}
JSON_COLUMNS |= {"metrics"}
ACTIVE_STATUSES = ("validating_files", "queued", "running")
_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """A random object id such as `ftjob-3xYz...` (24 alphanumerics after the prefix)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def now() -> int:
    """The current Unix time in whole seconds."""
    return int(time.time())


def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    """A database row as a dict with its JSON columns decoded."""
    if row is None:
        return None
    record = dict(row)
    for key in JSON_COLUMNS & record.keys():
        if record[key] is not None:
            record[key] = json.loads(record[key])
    return record


def _encode(value: Any) -> Any:
    """Python values as SQLite parameters (dicts and lists as JSON)."""
    return json.dumps(value) if isinstance(value, dict | list) else value


class Store:
    """SQLite-backed state shared by the server and its training processes (one connection per thread)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / "trainer.db"
        self._local = threading.local()
        state_dir.mkdir(parents=True, exist_ok=True)
        self.connection().executescript(SCHEMA)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, committed on success and rolled back on error."""
        db = self.connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def one(self, sql: str, *params: Any) -> dict[str, Any] | None:
        """The first row of a query, or None."""
        return _row(self.connection().execute(sql, params).fetchone())

    def all(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Every row of a query."""
        rows = self.connection().execute(sql, params).fetchall()
        return [record for record in map(_row, rows) if record is not None]

    def insert(self, table: str, values: dict[str, Any], db: sqlite3.Connection | None = None) -> None:
        """Insert one row (ignored when it breaks a uniqueness rule, e.g. a repeated metrics step)."""
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        sql = f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608 - fixed names
        (db or self.connection()).execute(sql, [_encode(value) for value in values.values()])

    def update_job(self, job_id: str, only_if_status: tuple[str, ...] = (), **values: Any) -> bool:
        """Update a job's columns, optionally only while it is in one of `only_if_status`; True if it did."""
        assignments = ", ".join(f"{column} = ?" for column in values)
        sql = f"UPDATE jobs SET {assignments} WHERE id = ?"  # noqa: S608 - column names are ours
        params: list[Any] = [_encode(value) for value in values.values()] + [job_id]
        if only_if_status:
            sql += f" AND status IN ({', '.join('?' for _ in only_if_status)})"
            params += list(only_if_status)
        return self.connection().execute(sql, params).rowcount > 0

    def get(self, table: str, object_id: str) -> dict[str, Any] | None:
        """One row by id."""
        return self.one(f"SELECT * FROM {table} WHERE id = ?", object_id)  # noqa: S608 - fixed names

    def add_event(
        self,
        job_id: str,
        message: str,
        *,
        level: str = "info",
        type: str = "message",
        data: dict[str, Any] | None = None,
        db: sqlite3.Connection | None = None,
    ) -> None:
        """Append a `fine_tuning.job.event` (a metrics event per step at most)."""
        step = data.get("step") if type == "metrics" and data else None
        event = {"id": new_id("ftevent-"), "job_id": job_id, "created_at": now(), "level": level}
        event |= {"type": type, "message": message, "data": data, "step": step}
        self.insert("events", event, db)

    def page(
        self,
        table: str,
        where: str,
        params: list[Any],
        *,
        after: str | None,
        limit: int,
        newest_first: bool = True,
    ) -> tuple[list[dict[str, Any]], bool]:
        """A cursor page of rows (`after` = id of the last row seen) and whether more follow."""
        if after is not None:
            cursor = self.one(f"SELECT seq FROM {table} WHERE id = ?", after)  # noqa: S608
            where += f" AND seq {'<' if newest_first else '>'} ?"
            params = [*params, cursor["seq"] if cursor else (0 if newest_first else 2**62)]
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT * FROM {table} WHERE {where} ORDER BY seq {order} LIMIT ?"  # noqa: S608
        rows = self.all(sql, *params, limit + 1)
        return rows[:limit], len(rows) > limit
