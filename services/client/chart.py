"""Loss charts for a terminal: block columns in eighths of a cell, and a one-line sparkline."""

from __future__ import annotations

import math
from collections.abc import Sequence

# Index n fills n eighths of a cell from the bottom.
BLOCKS = " ▁▂▃▄▅▆▇█"


def resample(values: Sequence[float], width: int) -> list[float]:
    """At most `width` points: the mean of each of `width` equal runs of steps (finite values only)."""
    finite = [value for value in values if math.isfinite(value)]
    if len(finite) <= width:
        return finite
    columns = []
    for column in range(width):
        start = column * len(finite) // width
        end = (column + 1) * len(finite) // width
        run = finite[start:end]
        columns.append(sum(run) / len(run))
    return columns


def _levels(points: Sequence[float], steps: int) -> list[int]:
    """Each point as 1..steps eighths between the lowest (1) and the highest (steps) point."""
    low, high = min(points), max(points)
    if high == low:
        return [max(1, steps // 2)] * len(points)
    return [1 + round((point - low) / (high - low) * (steps - 1)) for point in points]


def loss_chart(values: Sequence[float], width: int = 60, height: int = 8) -> list[str]:
    """`values` as a block chart: `height` lines (top first), one column per point, at most `width` wide.

    Non-finite values are left out, longer series are averaged into `width` columns, the lowest point
    keeps one eighth of a cell so it stays visible, and a flat series sits at half height.
    """
    if width < 1 or height < 1:
        raise ValueError("width and height must be at least 1")
    points = resample(values, width)
    if not points:
        return []
    levels = _levels(points, height * 8)
    lines = []
    for row in range(height):
        floor = (height - 1 - row) * 8  # eighths below this row
        lines.append("".join(BLOCKS[min(8, max(0, level - floor))] for level in levels))
    return lines


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """`values` as one line of block characters (a one-row `loss_chart`)."""
    points = resample(values, width)
    if not points:
        return ""
    return "".join(BLOCKS[level] for level in _levels(points, 8))
