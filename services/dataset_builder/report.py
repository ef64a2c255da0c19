"""The build report: what each filter dropped, and counts, tokens, bytes and lengths per file."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

# Token-length buckets of the histogram: [0, 16), [16, 32), ... [65536, inf).
HISTOGRAM_EDGES = [0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]


def split_summary(tokens: npt.NDArray[np.int64], nbytes: npt.NDArray[np.int64]) -> dict[str, Any]:
    """Examples, tokens (total and spread), bytes and the length histogram of one file."""
    count = len(tokens)
    histogram: Any = np.histogram(tokens, bins=[*HISTOGRAM_EDGES, np.iinfo(np.int64).max])[0] if count else []
    summary: dict[str, Any] = {
        "examples": count,
        "tokens": int(tokens.sum()) if count else 0,
        "bytes": int(nbytes.sum()) if count else 0,
        "length_histogram": [int(value) for value in histogram] if count else [0] * len(HISTOGRAM_EDGES),
    }
    if count:
        summary["tokens_per_example"] = {
            "min": int(tokens.min()),
            "mean": round(float(tokens.mean()), 2),
            "p50": int(np.percentile(tokens, 50, method="lower")),
            "p95": int(np.percentile(tokens, 95, method="lower")),
            "max": int(tokens.max()),
        }
    return summary


def rejected_summary(rejected: dict[str, int]) -> dict[str, int]:
    """Counts per reason, in a stable order, zero counts left out."""
    return {reason: count for reason, count in sorted(rejected.items()) if count}


def too_small_detail(examples: int, minimum: int, rows_read: int, rejected: dict[str, int]) -> str:
    """The problem detail of a dataset that ended below its minimum: what each filter dropped."""
    dropped = ", ".join(f"{reason}: {count}" for reason, count in rejected_summary(rejected).items())
    return (
        f"The recipe yields {examples} training example(s); at least {minimum} are needed. "
        f"{rows_read} row(s) matched the sources" + (f"; dropped: {dropped}." if dropped else ".")
    )
