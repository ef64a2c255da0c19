"""Memory of a process tree for the benchmarks: RSS double-counts the pages that forked workers share
with their parent; PSS counts a page shared by n processes 1/n times in each, so their sum is honest."""

from __future__ import annotations

import threading
from pathlib import Path


def tree_memory(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MB of a process and all its descendants, now."""
    rss = pss = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                name, _, value = line.partition(":")
                if name == "Rss":
                    rss += float(value.split()[0]) / 1024
                elif name == "Pss":
                    pss += float(value.split()[0]) / 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return rss, pss


class PeakTreeMemory:
    """Samples a process tree every `interval` seconds in a thread, while in the `with` block."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval = pid, interval
        self.rss = self.pss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss, pss = tree_memory(self.pid)
            self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakTreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
