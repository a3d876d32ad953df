"""One chart: one metric against the step, for every charted run, in braille.

The chart draws only when what it shows changed: ``sync`` computes a key from
the runs' data versions, the metric, smoothing, zoom and log scale, and refreshes
the widget only when the key moved; the picture itself is made once per key and
size (``renders`` counts them, for tests and benchmarks). Colours: one per run
slot, the raw line and the band faint in the same hue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.strip import Strip
from textual.widget import Widget

from ezpz_tui.charts.canvas import Picture, render
from ezpz_tui.charts.layers import Drawn, joint_span, metric_layers
from ezpz_tui.charts.viewport import Viewport
from ezpz_tui.widgets.styles import css_beside

PALETTE = ("#4EA8DE", "#E5A04B", "#6CC08B", "#D36CC0", "#E06C75", "#C8C86A")
FAINT = 0.62  # how far a raw line or a band fades toward the background


@dataclass(frozen=True)
class RunInput:
    """One charted run, as the chart reads it."""

    slot: int
    metrics: Any  # RunMetrics (its lock, version and current series)


class MetricChart(Widget, can_focus=True):
    DEFAULT_CSS = css_beside(__file__)
    COMPONENT_CLASSES: ClassVar[set[str]] = {"chart--tick", "chart--axis"}

    def __init__(self, metric: str | None = None, auto: str | None = None, id: str | None = None):
        super().__init__(id=id)
        self.metric = metric  # None: the run's loss (auto="loss") or throughput
        self.auto = auto
        self.log_y = False
        self.renders = 0  # pictures made
        self.drawn: list[Drawn] = []
        self.x_range: tuple[float, float] | None = None
        self.y_range: tuple[float, float] | None = None
        self.dropped = 0
        self._key: tuple[Any, ...] | None = None
        self._inputs: tuple[Sequence[RunInput], float, Viewport] = ((), 0.0, Viewport())
        self._picture: Picture | None = None
        self._picture_key: tuple[Any, ...] | None = None
        self._strips: list[Strip] = []

    # -- what to draw ---------------------------------------------------------------
    def resolved(self, runs: Sequence[RunInput]) -> str | None:
        """The metric drawn: the chosen one, else the first run's loss/throughput."""
        if self.metric is not None:
            return self.metric
        for run in runs:
            with run.metrics.lock:
                _source, series = run.metrics.current()
                if series is not None:
                    key = series.loss_key() if self.auto == "loss" else series.throughput_key()
                    if key is not None:
                        return key
        return None

    def sync(self, runs: Sequence[RunInput], weight: float, viewport: Viewport) -> bool:
        """Take the current inputs; refresh only if the chart would look different."""
        versions = tuple((r.slot, id(r.metrics), r.metrics.version) for r in runs)
        key = (self.resolved(runs), versions, weight, viewport, self.log_y)
        self._inputs = (tuple(runs), weight, viewport)
        if key == self._key:
            return False
        self._key = key
        self.refresh()
        return True

    def set_log(self, on: bool) -> None:
        self.log_y = on
        self._key = None
        runs, weight, viewport = self._inputs
        self.sync(runs, weight, viewport)

    # -- drawing --------------------------------------------------------------------
    def _make_picture(self, width: int, height: int) -> Picture:
        runs, weight, viewport = self._inputs
        metric = self.resolved(runs)
        drawn: list[Drawn] = []
        if metric is not None:
            for run in runs:
                with run.metrics.lock:
                    _source, series = run.metrics.current()
                    if series is not None and (
                        metric in series.points or f"{metric}/min" in series.points
                    ):
                        drawn.append(metric_layers(series, metric, run.slot, weight))
        self.drawn = drawn
        span = joint_span(d.x_span for d in drawn)
        layers = [layer for d in drawn for layer in d.layers]
        x_range = viewport.window(*span) if span is not None else (0.0, 1.0)
        self.renders += 1
        picture = render(layers, width, height, x_range, None, self.log_y)
        self.x_range, self.y_range, self.dropped = picture.x_range, picture.y_range, picture.dropped
        return picture

    def _style_of(self, role: str | None) -> Style:
        base = self.rich_style
        if role is None:
            return base
        if role == "tick":
            return base + self.get_component_rich_style("chart--tick")
        if role == "axis":
            return base + self.get_component_rich_style("chart--axis")
        name, _, kind = role.partition("-")
        slot = int(name[1:]) if name[1:].isdigit() else 0
        colour = Color.parse(PALETTE[slot % len(PALETTE)])
        if kind in ("raw", "band"):
            background = Color.from_rich_color(base.bgcolor) if base.bgcolor else Color(0, 0, 0)
            colour = colour.blend(background, FAINT)
        return base + Style(color=colour.rich_color)

    def _ensure(self) -> None:
        width, height = self.size.width, self.size.height
        key = (self._key, width, height)
        if key == self._picture_key and self._strips:
            return
        self._picture_key = key
        picture = self._picture = self._make_picture(width, height)
        styles: dict[str | None, Style] = {}
        strips = []
        for row in picture.rows:
            segments = []
            for text, role in row:
                style = styles.get(role)
                if style is None:
                    style = styles[role] = self._style_of(role)
                segments.append(Segment(text, style))
            strips.append(Strip(segments, width))
        self._strips = strips
        notes = []
        if any(d.banded for d in self.drawn):
            notes.append("band: min-max across ranks, line: mean")
        gaps = sum(d.nonfinite for d in self.drawn)
        if gaps:
            notes.append(f"{gaps:,} non-finite: gaps")
        if picture.dropped:
            notes.append(f"{picture.dropped:,} values <= 0 left out")
        subtitle = " · ".join(notes)
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if width < 1:
            return Strip.blank(0)
        self._ensure()
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.rich_style)

    def on_resize(self) -> None:
        self._picture_key = None

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._picture_key = None  # a theme change: new colours
