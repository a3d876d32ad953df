"""The charts view: loss, throughput and any metric against the step, live.

It draws what the app's ``ChartKeeper`` reads (the attached run, or a history
file opened with ``--history``, and the runs overlaid from the runs browser),
redrawn when the keeper says a run's data moved, about once a second while a
job runs. Smoothing and the step window are shared by every chart (one step
axis); the log scale belongs to each chart. Only charts on screen are synced,
and a chart redraws only when its own data changed.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.widgets import Static

from ezpz_core.run.rankstats import bytes_text
from ezpz_tui.charts.layers import chart_names, joint_span
from ezpz_tui.charts.smooth import step_weight
from ezpz_tui.charts.viewport import Viewport
from ezpz_tui.screens.base import ConsoleScreen
from ezpz_tui.widgets.keybar import KeyBar
from ezpz_tui.widgets.metric_chart import PALETTE, MetricChart, RunInput

MAX_CHARTS = 4
ZOOM = 0.5  # each + halves the steps shown
PAN = 0.25  # each arrow moves a quarter of them


class ChartsScreen(ConsoleScreen):
    CSS_PATH = "charts.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "pick_metric", "Metric", tooltip="Choose the focused chart's metric"),
        Binding("a", "add_chart", "Add", tooltip="Add a chart (up to four)"),
        Binding("x", "remove_chart", "Remove", tooltip="Remove the focused chart"),
        Binding("s", "smooth(1)", "Smooth", tooltip="More smoothing (S: less; raw stays faint)"),
        Binding("S", "smooth(-1)", "Less smooth", show=False),
        Binding("l", "log", "Log y", tooltip="Log scale on the focused chart"),
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom in", tooltip="Fewer steps (minus: more)"),
        Binding("minus", "zoom(2.0)", "Zoom out", show=False),
        Binding("left", "pan(-0.25)", "Earlier", show=False),
        Binding("right", "pan(0.25)", "Later", show=False),
        Binding("0", "all_steps", "All", tooltip="Every step, following the newest"),
        Binding("end", "follow", "Follow", show=False, tooltip="Pin the right edge to the newest"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.weight = 0.0
        self.viewport = Viewport()

    def compose(self) -> ComposeResult:
        yield Static("", id="charts-title")
        with Grid(id="charts"):
            yield MetricChart(auto="loss", id="chart-0")
            yield MetricChart(auto="throughput", id="chart-1")
        yield Static("", id="charts-status", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.watch(self.console, "charts_generation", self._changed, init=False)
        self.query_one("#chart-0", MetricChart).focus()
        self._sync()

    def on_screen_resume(self) -> None:
        self._sync()

    # -- state --------------------------------------------------------------------
    @property
    def charts(self) -> list[MetricChart]:
        return list(self.query(MetricChart))

    def focused_chart(self) -> MetricChart:
        focused = self.focused
        return focused if isinstance(focused, MetricChart) else self.charts[0]

    def runs(self) -> list[RunInput]:
        return [RunInput(c.slot, c.metrics) for c in self.console.charts.charted()]

    def _changed(self, _generation: int) -> None:
        if self.is_current:
            self._sync()

    def _sync(self) -> None:
        runs = self.runs()
        for chart in self.charts:
            chart.sync(runs, self.weight, self.viewport)
            chart.border_title = self._chart_title(chart, runs)
        self._show_title(runs)
        self._show_status()

    def _chart_title(self, chart: MetricChart, runs: list[RunInput]) -> str:
        metric = chart.resolved(runs)
        if metric is None:
            return f"{chart.auto or 'metric'}: none yet"
        return metric + (" · log" if chart.log_y else "")

    def _show_title(self, runs: list[RunInput]) -> None:
        """One line: each run's colour, name, rows and source; the sources' full paths
        where they fit, their file names where they do not."""
        title = self.query_one("#charts-title", Static)
        if not runs:
            text = Text(" charts ", style="bold")
            text.append("· nothing charted: attach a run (F6) or open ezpz-tui --history FILE")
            title.update(text)
            return
        full = self._title_text(runs, short=False)
        fits = full.cell_len <= max(1, title.size.width)
        title.update(full if fits else self._title_text(runs, short=True))

    def _title_text(self, runs: list[RunInput], short: bool) -> Text:
        text = Text(" charts ", style="bold")
        for i, run in enumerate(runs):
            if i:
                text.append(" │ ", style="dim")
            metrics = run.metrics
            with metrics.lock:
                source, series = metrics.current()
                rows = series.rows if series is not None else 0
            text.append("■ ", style=PALETTE[run.slot % len(PALETTE)])
            text.append(metrics.label)
            if source is None:
                text.append(" (no metrics yet)", style="dim")
            elif source == "log":
                text.append(f" {rows:,} rows from log lines", style="dim")
            else:
                where = source.removeprefix("history:")
                name = where.rpartition("/")[2]
                if name == metrics.label:  # a file charted alone: its name is the label
                    text.append(f" {rows:,} rows" + ("" if short else f" in {where}"), style="dim")
                else:
                    text.append(f" {rows:,} rows from {name if short else where}", style="dim")
            if metrics.behind:
                text.append(f" · reading, {bytes_text(metrics.behind)} to go", style="dim")
            if metrics.corrupt:
                text.append(f" · {metrics.corrupt:,} bad lines skipped", style="dim")
        return text

    def on_resize(self) -> None:
        self._show_title(self.runs())

    def _show_status(self) -> None:
        parts = [
            f"smoothing {self.weight:g}" if self.weight else "no smoothing",
            self.viewport.describe() + (" (following)" if self.viewport.follow else ""),
        ]
        gaps = sum(d.nonfinite for chart in self.charts for d in chart.drawn)
        if gaps:
            parts.append(f"{gaps:,} non-finite values shown as gaps")
        dropped = sum(chart.dropped for chart in self.charts)
        if dropped:
            parts.append(f"{dropped:,} values ≤ 0 not on a log scale")
        self.query_one("#charts-status", Static).update(" " + " · ".join(parts))

    def _span(self) -> tuple[float, float] | None:
        return joint_span(d.x_span for chart in self.charts for d in chart.drawn)

    # -- actions ------------------------------------------------------------------
    def action_smooth(self, direction: int) -> None:
        self.weight = step_weight(self.weight, direction)
        self._sync()

    def action_log(self) -> None:
        chart = self.focused_chart()
        chart.set_log(not chart.log_y)
        self._sync()

    def action_zoom(self, factor: float) -> None:
        span = self._span()
        if span is not None:
            self.viewport = self.viewport.zoom(factor, *span)
            self._sync()

    def action_pan(self, fraction: float) -> None:
        span = self._span()
        if span is not None:
            self.viewport = self.viewport.pan(fraction, *span)
            self._sync()

    def action_all_steps(self) -> None:
        self.viewport = self.viewport.reset()
        self._sync()

    def action_follow(self) -> None:
        span = self._span()
        if span is not None and self.viewport.span is not None:
            self.viewport = Viewport(follow=True, span=self.viewport.span)
            self._sync()

    def names(self) -> list[str]:
        names: dict[str, None] = {}
        for run in self.runs():
            with run.metrics.lock:
                _source, series = run.metrics.current()
                if series is not None:
                    names.update(dict.fromkeys(series.stats))
        return chart_names(names)

    def action_pick_metric(self) -> None:
        from ezpz_tui.screens.dialogs import SearchPicker

        chart = self.focused_chart()

        def chosen(name: str | None) -> None:
            if name is not None:
                chart.metric = name
                self._sync()

        picker = SearchPicker("chart which metric?", self.names(), "no metrics yet")
        self.app.push_screen(picker, chosen)

    def action_add_chart(self) -> None:
        from ezpz_tui.screens.dialogs import SearchPicker

        if len(self.charts) >= MAX_CHARTS:
            self.notify(f"{MAX_CHARTS} charts at most: m changes one", timeout=4)
            return

        def chosen(name: str | None) -> None:
            if name is None:
                return
            used = {c.id for c in self.charts}
            new_id = next(f"chart-{i}" for i in range(MAX_CHARTS + 1) if f"chart-{i}" not in used)
            chart = MetricChart(metric=name, id=new_id)
            self.query_one("#charts", Grid).mount(chart)
            self.call_after_refresh(self._sync)
            chart.focus()

        picker = SearchPicker("add a chart of which metric?", self.names(), "no metrics yet")
        self.app.push_screen(picker, chosen)

    def action_remove_chart(self) -> None:
        if len(self.charts) <= 1:
            return
        chart = self.focused_chart()
        chart.remove()
        self.call_after_refresh(self._after_remove)

    def _after_remove(self) -> None:
        self.charts[0].focus()
        self._sync()
