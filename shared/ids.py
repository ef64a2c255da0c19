"""Time-ordered, prefixed ids: `ftjob_0192f3...`; newer ids sort after older ones."""

from __future__ import annotations

import os
import time


def new_id(prefix: str) -> str:
    """A prefixed id whose 48-bit millisecond timestamp makes ids sort by creation time."""
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{millis:012x}{os.urandom(10).hex()}"
