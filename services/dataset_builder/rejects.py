"""Rejected rows, written as COPY-ready CSV to a temporary file while the build runs.

A build may drop most of a million rows (a small `max_examples`); keeping them on disk keeps memory
flat, and writing them to Postgres only at the end keeps the source connection free for the cursor.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO

# Columns: shared.datasets.repository.REJECT_COLUMNS.
_FLUSH_ROWS = 5000


def _field(value: str | None) -> str:
    """CSV as Postgres reads it: NULL is an unquoted empty field, every text is quoted."""
    return "" if value is None else '"' + value.replace('"', '""') + '"'


class RejectLog:
    def __init__(self, dataset_id: str, spill_dir: Path | None, *, path: Path | None = None) -> None:
        """A temporary file in `spill_dir`, or the file `path` (a build's worker process hands it on)."""
        self.dataset_id = _field(dataset_id)
        self.file: IO[bytes] = (  # closed by close()
            tempfile.TemporaryFile(dir=spill_dir) if path is None else path.open("w+b")  # noqa: SIM115
        )
        self.count = 0
        self._lines: list[str] = []

    def add(
        self,
        row_id: str,
        source_id: str,
        reason: str,
        detail: str | None,
        excerpts: tuple[str, str] | None = None,
    ) -> None:
        source, target = excerpts if excerpts is not None else (None, None)
        self._lines.append(
            ",".join((self.dataset_id, _field(row_id), _field(source_id), _field(reason), _field(detail),
                      _field(source), _field(target))) + "\n"
        )  # fmt: skip
        self.count += 1
        if len(self._lines) >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            self.file.write("".join(self._lines).encode())
            self._lines = []

    def finish(self) -> IO[bytes]:
        """The CSV file, from its start."""
        self.flush()
        self.file.seek(0)
        return self.file

    def close(self) -> None:
        self.file.close()
