"""What one chart draws of one run: the layers of one metric, from its buckets.

A metric with ezpz's aggregated keys (``loss/min``, ``loss/max``, ``loss/mean``)
is drawn as the min-max band across ranks with the mean line over it; any other
as its own line. With smoothing on, the raw line stays, faint, behind the
smoothed one (as TensorBoard draws it). Pure: the widget maps roles to colours.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ezpz_core.metrics import MetricSeries, split_aggregate
from ezpz_tui.charts.buckets import Buckets
from ezpz_tui.charts.canvas import Band, Series
from ezpz_tui.charts.smooth import ema_buckets

Layer = Series | Band


@dataclass(frozen=True)
class Drawn:
    """One run's layers of one metric, and what the chart says about them."""

    layers: list[Layer]
    banded: bool  # min/max across ranks shown
    nonfinite: int  # NaN/inf values of the metric: gaps, counted
    points: int  # values of the metric
    x_span: tuple[float, float] | None


def band_keys(names: Iterable[str], metric: str) -> tuple[str, str, str] | None:
    """``(min, max, line)`` keys when ``metric`` has a band across ranks: the line is
    ``metric/mean`` where the rows carry it, else ``metric`` itself."""
    names = set(names)
    low, high, mean = f"{metric}/min", f"{metric}/max", f"{metric}/mean"
    if low in names and high in names:
        return low, high, mean if mean in names else metric
    return None


def chart_names(names: Iterable[str]) -> list[str]:
    """The metrics a user picks from: loss and throughput first, then the rest by
    name; an aggregate (``x/min``) only where its base is not listed (it is drawn
    as the base's band)."""
    names = list(names)
    present = set(names)
    out = [
        n for n in names if split_aggregate(n)[1] is None or split_aggregate(n)[0] not in present
    ]
    first = [n for n in ("loss", "throughput") if n in out]
    return first + sorted(n for n in out if n not in first)


def _mids(buckets: Buckets) -> list[float]:
    return [(a + b) / 2 for a, b in zip(buckets.x0, buckets.x1, strict=True)]


def metric_layers(series: MetricSeries, metric: str, slot: int, weight: float) -> Drawn:
    """The layers of ``metric`` for the run in colour ``slot`` (read under the run's lock)."""
    points = series.points
    band = band_keys(points, metric)
    line_key = band[2] if band else metric
    line = points.get(line_key)
    layers: list[Layer] = []
    if band is not None:
        low, high = points[band[0]], points[band[1]]
        n = min(len(low.lo), len(high.hi))
        if n:
            layers.append(
                Band(_mids(low)[:n], list(low.lo[:n]), list(high.hi[:n]), f"s{slot}-band")
            )
    if not isinstance(line, Buckets) or not line.x0:
        return Drawn(layers, band is not None, 0, 0, _span(layers))
    xs = _mids(line)
    lo, hi, mean, gaps = list(line.lo), list(line.hi), list(line.mean), list(line.gap)
    if weight > 0:
        layers.append(Series(xs, lo, hi, mean, gaps, f"s{slot}-raw"))
        smooth = ema_buckets(mean, weight, line.per)
        layers.append(Series(xs, smooth, smooth, smooth, gaps, f"s{slot}"))
    else:
        layers.append(Series(xs, lo, hi, mean, gaps, f"s{slot}"))
    return Drawn(layers, band is not None, line.nonfinite, line.count, _span(layers))


def _span(layers: list[Layer]) -> tuple[float, float] | None:
    xs = [x for layer in layers for x in (*layer.xs[:1], *layer.xs[-1:])]
    finite = [x for x in xs if math.isfinite(x)]
    return (min(finite), max(finite)) if finite else None


def joint_span(spans: Iterable[tuple[float, float] | None]) -> tuple[float, float] | None:
    spans = [s for s in spans if s is not None]
    if not spans:
        return None
    return min(s[0] for s in spans), max(s[1] for s in spans)
