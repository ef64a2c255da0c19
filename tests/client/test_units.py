"""The CLI's pure parts: the loss chart, the SSE parser, the watch state and its plain and live output."""

from __future__ import annotations

import io
import math

import pytest
from rich.console import Console

from services.client.chart import BLOCKS, loss_chart, resample, sparkline
from services.client.render import job_detail
from services.client.sse import SseEvent, parse, sequence
from services.client.watch import PlainReport, WatchState, live_view


def test_chart_is_height_lines_of_one_column_per_point() -> None:
    lines = loss_chart([3.0, 2.0, 1.0, 0.5], width=60, height=4)
    assert len(lines) == 4 and all(len(line) == 4 for line in lines)
    # The highest point fills every row, the lowest keeps one eighth of the bottom row.
    assert [line[0] for line in lines] == ["█"] * 4
    assert [line[-1] for line in lines] == [" ", " ", " ", "▁"]


def test_chart_columns_fall_as_the_loss_falls() -> None:
    values = [2.0 - 0.1 * step for step in range(20)]
    lines = loss_chart(values, width=20, height=8)
    heights = [sum(BLOCKS.index(line[column]) for line in lines) for column in range(20)]
    assert heights == sorted(heights, reverse=True) and heights[0] == 64 and heights[-1] == 1


def test_long_series_are_averaged_into_the_width() -> None:
    values = [float(step % 2) for step in range(600)]
    assert resample(values, 60) == [0.5] * 60
    lines = loss_chart(list(range(1000)), width=60, height=8)
    assert all(len(line) == 60 for line in lines)


def test_flat_empty_and_non_finite_series() -> None:
    assert loss_chart([]) == [] and sparkline([]) == ""
    assert loss_chart([math.nan, math.inf]) == []
    flat = loss_chart([1.0, 1.0, 1.0], height=2)
    assert flat == ["   ", "███"]  # half height: the bottom row of two
    assert loss_chart([2.0, math.nan, 1.0], height=1) == ["█▁"]
    with pytest.raises(ValueError):
        loss_chart([1.0], width=0)


def test_sparkline() -> None:
    assert sparkline([4.0, 3.0, 2.0, 1.0]) == "█▆▃▁"
    assert len(sparkline([float(v) for v in range(500)], width=30)) == 30


def test_sse_parser_reads_frames_and_skips_pings() -> None:
    lines = [
        "retry: 3000", "", ": ping", "", "id: evt_7", 'data: {"id": "evt_7",', 'data: "type": "x"}', "",
        "id: evt_8", "data:{}", "", "id: evt_9", "data: {}",  # the last frame is cut off: no blank line
    ]  # fmt: skip
    assert list(parse(lines)) == [SseEvent("evt_7", '{"id": "evt_7",\n"type": "x"}'), SseEvent("evt_8", "{}")]
    assert sequence("evt_42") == 42 and sequence("nope") is None and sequence(None) is None


def _metrics(*steps: tuple[int, float], total: int = 10) -> dict[str, object]:
    rows = [{"step": step, "total_steps": total, "train_loss": loss} for step, loss in steps]
    return {"id": "evt_1", "type": "fine_tuning.job.metrics", "data": {"status": "running", "metrics": rows}}


def test_watch_state_tracks_status_steps_and_best_loss() -> None:
    state = WatchState("ftjob_1")
    assert state.apply({"type": "fine_tuning.job.status_changed", "data": {"status": "running"}})
    assert not state.apply(_metrics((1, 2.0), (2, 1.5)))
    state.apply(_metrics((3, 1.7)))
    state.apply({"type": "fine_tuning.job.metrics", "data": {"metrics": [{"step": 3, "valid_loss": 1.9}]}})
    assert (state.step, state.total_steps, state.train_loss) == (3, 10, 1.7)
    assert (state.best_train_loss, state.best_step, state.valid_loss) == (1.5, 2, 1.9)
    assert state.series() == [2.0, 1.5, 1.7]
    final = {"status": "succeeded", "fine_tuned_model": "ft:tiny:x"}
    assert state.apply({"type": "fine_tuning.job.succeeded", "data": final}) and state.finished


def test_plain_report_prints_about_ten_lines_and_the_last_step() -> None:
    out = io.StringIO()
    report = PlainReport(Console(file=out, width=200))
    state = WatchState("ftjob_1")
    for step in range(1, 106):
        state.apply(_metrics((step, 1.0 / step), total=105))
        report.metrics(state)
    lines = out.getvalue().splitlines()
    assert len(lines) == 11  # step 1, every 11th step (11, 22, ... 99), then the last
    assert lines[0].startswith("step 1/105 (0%)") and lines[-1].startswith("step 105/105 (100%)")


def test_live_view_shows_progress_losses_and_the_chart() -> None:
    state = WatchState("ftjob_1", status="running")
    state.apply(_metrics(*[(step, 3.0 - 0.1 * step) for step in range(1, 6)], total=20))
    console = Console(file=io.StringIO(), width=100, force_terminal=True, color_system=None, record=True)
    console.print(live_view(state))
    text = console.export_text()
    assert "ftjob_1: running" in text and "step 5/20 (25%)" in text
    assert "train loss 2.5000  best 2.5000 (step 5)" in text
    assert "2.900 │█" in text and "2.500 │" in text


def test_job_detail_shows_costs_error_and_the_evaluation_when_there_is_one() -> None:
    job = {
        "id": "ftjob_1", "status": "failed", "model": "tiny-base", "estimated_cost": 0.0, "actual_cost": None,
        "cost_currency": "USD", "error": {"code": "training_failed", "message": "NaN loss"},
    }  # fmt: skip
    evaluation = {"status": "succeeded", "base_model": "tiny-base", "segment_count": 12, "summary": {
        "base": {"chrf_pp": 41.2, "bleu": 18.0, "ter": 70.5, "placeholder_errors": 3},
        "fine_tuned": {"chrf_pp": 55.0, "bleu": 30.25, "ter": 52.0, "placeholder_errors": 1}}}  # fmt: skip
    console = Console(file=io.StringIO(), width=120, record=True)
    console.print(job_detail(job, evaluation))
    text = console.export_text()
    assert "0.0 USD" in text and "training_failed: NaN loss" in text
    assert "chrF++" in text and "41.20" in text and "55.00" in text and "+13.80" in text and "-18.50" in text
    assert "12 validation segments" in text and "placeholder errors" in text and "-2" in text
