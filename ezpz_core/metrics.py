"""Metric rows from any source (history files, log lines) and what charts need of them.

History files and log lines both become ``MetricRow`` values; a ``MetricSeries``
keeps one rank's rows (rank 0 by default: ezpz writes a row per rank per step, and
charting every rank's row would double-count), with the step axis, bounded point
lists for charts and running summaries. Pure: no files, no clocks.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import compress
from typing import Any

# The step axis: the first of these a row carries (ezpz's own examples use ``iter``).
STEP_KEYS = ("step", "iter", "epoch", "batch", "idx")
# ``loss/mean``: an aggregate over ranks of ``loss`` (split on the last ``/`` only).
AGGREGATE_SUFFIXES = ("mean", "max", "min", "std", "avg")
# Throughput, in order of preference; else 1/dt, else 1/(dtf+dtb).
THROUGHPUT_KEYS = ("samples_per_s", "tokens_per_s", "tflops")
MAX_POINTS = 4096  # per metric; past it, every other point is dropped (stride doubles)


@dataclass(frozen=True)
class MetricRow:
    """One logged step of one rank: numeric values only."""

    values: dict[str, float]
    rank: int | None = None  # None: the source does not say (flat rows, unlabelled logs)
    t: float | None = None  # Unix seconds, when the source has it

    @property
    def step(self) -> float | None:
        for key in STEP_KEYS:
            value = self.values.get(key)
            if value is not None:
                return value
        return None


def split_aggregate(key: str) -> tuple[str, str | None]:
    """``train/loss/mean`` -> (``train/loss``, ``mean``); ``train/loss`` -> (it, None)."""
    base, sep, tail = key.rpartition("/")
    if sep and base and tail in AGGREGATE_SUFFIXES:
        return base, tail
    return key, None


def numeric_items(data: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numbers in ``data`` (one level of nesting flattened as ``group/key``);
    booleans, strings and lists are not metrics."""
    if not prefix:  # a history row: numbers only, nearly always (checked in C)
        kinds = set(map(type, data.values()))
        if kinds <= {float}:
            return dict(data)
        if kinds <= {float, int}:
            try:
                return {key: float(value) for key, value in data.items()}
            except OverflowError:  # an integer beyond float range: the slow way skips it
                pass
    out: dict[str, float] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            try:
                out[name] = float(value)
            except OverflowError:  # an integer beyond float range: not chartable
                continue
        elif isinstance(value, Mapping) and not prefix:
            out.update(numeric_items(value, f"{name}/"))
    return out


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass
class Stats:
    """Running summary of one metric; non-finite values are counted, not folded in."""

    count: int = 0
    first: float | None = None
    last: float | None = None
    low: float | None = None
    high: float | None = None
    total: float = 0.0
    finite: int = 0
    nonfinite: int = 0

    def add(self, value: float) -> None:
        self.count += 1
        if self.first is None:
            self.first = value
        self.last = value
        if not math.isfinite(value):
            self.nonfinite += 1
            return
        self.finite += 1
        self.total += value
        self.low = value if self.low is None else min(self.low, value)
        self.high = value if self.high is None else max(self.high, value)

    def extend(self, values: list[float]) -> None:
        """``add`` for each of ``values``, in C where they are all finite."""
        if not values:
            return
        total = sum(values, self.total)
        if not math.isfinite(total):  # a non-finite value (or an overflow): one by one
            for value in values:
                self.add(value)
            return
        self.count += len(values)
        self.finite += len(values)
        if self.first is None:
            self.first = values[0]
        self.last = values[-1]
        self.total = total
        low, high = min(values), max(values)
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)

    def to_json(self) -> dict[str, Any]:
        """JSON has no NaN: non-finite first/last become null, counted in ``nonfinite``."""
        out: dict[str, Any] = {
            "count": self.count,
            "first": _finite(self.first),
            "last": _finite(self.last),
            "min": self.low,
            "max": self.high,
            "mean": self.total / self.finite if self.finite else None,
        }
        if self.nonfinite:
            out["nonfinite"] = self.nonfinite
        return out


@dataclass
class Points:
    """(step, value) pairs for a chart, at most ``MAX_POINTS``: when full, every
    other point is dropped and only every ``stride``-th new point is kept."""

    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    stride: int = 1
    _seen: int = 0

    def add(self, x: float, y: float) -> None:
        self._seen += 1
        if (self._seen - 1) % self.stride:
            return
        self.xs.append(x)
        self.ys.append(y)
        if len(self.xs) >= MAX_POINTS:
            del self.xs[1::2], self.ys[1::2]
            self.stride *= 2

    def extend(self, xs: list[float], ys: list[float]) -> None:
        """``add`` for each pair, by slices: the points kept are the same."""
        i, n = 0, len(xs)
        while i < n:
            start = i + (-self._seen) % self.stride  # the next pair that is kept
            if start >= n:
                self._seen += n - i
                return
            room = MAX_POINTS - len(self.xs)  # kept pairs until the next thinning
            stop = min(n, start + (room - 1) * self.stride + 1)
            self.xs.extend(xs[start : stop : self.stride])
            self.ys.extend(ys[start : stop : self.stride])
            self._seen += stop - i
            i = stop
            if len(self.xs) >= MAX_POINTS:
                del self.xs[1::2], self.ys[1::2]
                self.stride *= 2


@dataclass
class MetricSeries:
    """One rank's rows: summaries and chart points per metric.

    Rows whose rank is unknown count as rank 0 (a flat history or an unlabelled log
    has one writer). ``rank=None`` takes every row (a source known to hold one).
    """

    rank: int | None = 0
    rows: int = 0
    skipped: int = 0  # other ranks' rows
    stats: dict[str, Stats] = field(default_factory=dict)
    points: dict[str, Points] = field(default_factory=dict)
    first_t: float | None = None
    last_t: float | None = None
    # what keeps a metric's chart points: ``Points`` (every other point dropped when
    # full) for the end-of-run chart; the console passes min/max buckets
    make_points: Callable[[], Any] = Points

    def add(self, rows: Iterable[MetricRow]) -> int:
        """Fold in ``rows``; returns how many were this series' rank."""
        taken = 0
        for row in rows:
            if self.rank is not None and (row.rank if row.rank is not None else 0) != self.rank:
                self.skipped += 1
                continue
            taken += 1
            self.rows += 1
            step = row.step
            x = float(self.rows - 1) if step is None else step
            for name, value in row.values.items():
                stats, points = self._metric(name)
                stats.add(value)
                points.add(x, value)
            throughput = derived_throughput(row.values)
            if throughput is not None and "throughput" not in row.values:
                stats, points = self._metric("throughput")
                stats.add(throughput[1])
                points.add(x, throughput[1])
            if row.t is not None:
                self.first_t = row.t if self.first_t is None else self.first_t
                self.last_t = row.t
        return taken

    def add_columns(
        self, columns: dict[str, tuple[list[bool] | None, list[float]]], rows: int
    ) -> None:
        """``rows`` rows given by column, as ``add`` would take them one by one.

        ``columns[key]`` is ``(mask, values)``: ``mask`` None when every row has
        the key, else which rows do (``values`` then holds only theirs). Rows
        carry no time and are all this series' rank (one log source)."""
        if rows <= 0:
            return
        base = float(self.rows)
        self.rows += rows
        step_key = next((k for k in STEP_KEYS if k in columns and columns[k][0] is None), None)
        xs = columns[step_key][1] if step_key else [base + i for i in range(rows)]
        for name, (mask, values) in columns.items():
            stats, points = self._metric(name)
            stats.extend(values)
            points.extend(list(compress(xs, mask)) if mask else xs, values)
        if any(k in columns for k in THROUGHPUT_KEYS) or "throughput" in columns:
            return
        if "dt" in columns and columns["dt"][0] is None:
            dts = columns["dt"][1]
        elif all(k in columns and columns[k][0] is None for k in ("dtf", "dtb")):
            dts = list(map(operator.add, columns["dtf"][1], columns["dtb"][1]))
        else:  # no timing on every row (masks are only ever on ``/std`` keys)
            return
        if dts and min(dts) > 0 and math.isfinite(sum(dts)):
            self._throughput(xs, [1.0 / dt for dt in dts])
        else:
            pairs = [
                (x, 1.0 / dt) for x, dt in zip(xs, dts, strict=True) if dt > 0 and math.isfinite(dt)
            ]
            self._throughput([p[0] for p in pairs], [p[1] for p in pairs])

    def _throughput(self, xs: list[float], rates: list[float]) -> None:
        if rates:
            stats, points = self._metric("throughput")
            stats.extend(rates)
            points.extend(xs, rates)

    def _metric(self, name: str) -> tuple[Stats, Points]:
        """The summary and chart points of ``name``, made on first use."""
        stats = self.stats.get(name)
        if stats is None:
            stats = self.stats[name] = Stats()
            self.points[name] = self.make_points()
        return stats, self.points[name]

    def loss_key(self) -> str | None:
        return pick_loss(self.stats)

    def throughput_key(self) -> str | None:
        return pick_throughput(self.stats)

    def summary_json(self) -> dict[str, dict[str, Any]]:
        return {name: stats.to_json() for name, stats in self.stats.items()}


def pick_loss(names: Iterable[str]) -> str | None:
    """``loss``, else a grouped loss (``train/loss``), never an aggregate."""
    names = list(names)
    if "loss" in names:
        return "loss"
    for name in names:
        base, stat = split_aggregate(name)
        if stat is None and base.rpartition("/")[2] == "loss":
            return name
    return None


def pick_throughput(names: Iterable[str]) -> str | None:
    """The metric a throughput chart shows: a rate the job reports, else ours
    (``throughput``, derived from 1/dt or 1/(dtf+dtb))."""
    names = set(names)
    for key in (*THROUGHPUT_KEYS, "throughput"):
        if key in names:
            return key
    return None


def derived_throughput(values: Mapping[str, float]) -> tuple[str, float] | None:
    """Steps per second from ``dt``, else from ``dtf + dtb``; None when a rate is
    reported already or no timing is present."""
    if any(key in values for key in THROUGHPUT_KEYS):
        return None
    dt = values.get("dt")
    if dt is None and "dtf" in values and "dtb" in values:
        dt = values["dtf"] + values["dtb"]
    if dt is None or not math.isfinite(dt) or dt <= 0:
        return None
    return "throughput", 1.0 / dt
