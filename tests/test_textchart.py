"""The end-of-run text charts: loss and throughput against the step (real plotext)."""

from __future__ import annotations

import math

from ezpz_core.metrics import MetricRow, MetricSeries
from ezpz_tui.textchart import render_charts


def series_of(rows: list[dict[str, float]]) -> MetricSeries:
    series = MetricSeries()
    series.add(MetricRow(values=row) for row in rows)
    return series


TRAINING = [{"step": s, "loss": 2.0 / s, "samples_per_s": 100.0 * s} for s in range(1, 21)]


def test_a_loss_chart_and_a_throughput_chart_titled_by_metric() -> None:
    text = render_charts(series_of(TRAINING), 80, color=False)
    titles = [
        line.strip() for line in text.splitlines() if line.strip() in ("loss", "samples_per_s")
    ]
    assert titles == ["loss", "samples_per_s"]
    assert "step" in text


def test_piped_charts_have_no_colour_codes_and_terminal_charts_do() -> None:
    assert "\x1b[" not in render_charts(series_of(TRAINING), 80, color=False)
    assert "\x1b[" in render_charts(series_of(TRAINING), 80, color=True)


def test_width_is_capped_for_wide_terminals() -> None:
    text = render_charts(series_of(TRAINING), 400, color=False)
    assert max(len(line) for line in text.splitlines()) <= 100


def test_derived_throughput_is_charted_when_the_job_reports_only_dt() -> None:
    text = render_charts(
        series_of([{"step": s, "loss": 1.0, "dt": 0.1 * s} for s in (1, 2)]), 80, False
    )
    assert "throughput" in text


def test_non_finite_values_do_not_break_the_chart() -> None:
    rows = [{"step": 1, "loss": math.nan}, {"step": 2, "loss": math.inf}]
    assert "loss" in render_charts(series_of(rows), 80, color=False)


def test_nothing_to_chart_gives_no_text() -> None:
    assert render_charts(series_of([{"step": 1, "accuracy": 0.5}]), 80, color=False) == ""
