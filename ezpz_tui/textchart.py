"""The small loss and throughput charts ``ezpz-tui --run`` prints at the end.

plotext draws them as text; plotext keeps global figure state, so each chart is
drawn from a cleared figure, and colour codes are stripped when the output is not
a terminal (plotext leaves reset codes even with its ``clear`` theme).
"""

from __future__ import annotations

import math

from ezpz_core.logmetrics import strip_ansi
from ezpz_core.metrics import MetricSeries

CHART_HEIGHT = 10
MAX_WIDTH = 100


def render_charts(series: MetricSeries, width: int, color: bool) -> str:
    """Loss and throughput against the step, one chart each; "" when neither exists."""
    charts = []
    for key in (series.loss_key(), series.throughput_key()):
        if key is None:
            continue
        points = series.points[key]
        if not points.xs:
            continue
        charts.append(_chart(key, points.xs, points.ys, min(width, MAX_WIDTH), color))
    return "\n".join(charts)


def _chart(title: str, xs: list[float], ys: list[float], width: int, color: bool) -> str:
    import plotext as plt  # only when there is something to draw

    finite = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
    plt.clf()
    plt.plotsize(max(30, width), CHART_HEIGHT)
    plt.theme("pro" if color else "clear")
    if finite:
        plt.plot([x for x, _ in finite], [y for _, y in finite])
    plt.title(title)
    plt.xlabel("step")
    text = plt.build()
    plt.clf()
    return text if color else strip_ansi(text)
