"""The metrics model (pure): aggregate names, loss/throughput choice, running stats,
bounded chart points and one-rank series, on vectors of rows and values."""

from __future__ import annotations

import json
import math

import pytest

from ezpz_core.metrics import (
    MAX_POINTS,
    MetricRow,
    MetricSeries,
    Points,
    Stats,
    derived_throughput,
    numeric_items,
    pick_loss,
    pick_throughput,
    split_aggregate,
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("loss/mean", ("loss", "mean")),
        ("loss/max", ("loss", "max")),
        ("loss/min", ("loss", "min")),
        ("loss/std", ("loss", "std")),
        ("a/avg", ("a", "avg")),
        ("train/loss/std", ("train/loss", "std")),
        ("train/loss", ("train/loss", None)),
        ("loss", ("loss", None)),
        ("mean", ("mean", None)),
        ("/mean", ("/mean", None)),
        ("loss/median", ("loss/median", None)),
        ("loss/mean/x", ("loss/mean/x", None)),
    ],
)
def test_split_aggregate(key: str, expected: tuple[str, str | None]) -> None:
    assert split_aggregate(key) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"a": 1, "b": 2.5}, {"a": 1.0, "b": 2.5}),
        ({"a": True, "b": False, "c": "x", "d": [1], "e": None}, {}),
        ({"train": {"loss": 0.5, "tag": "x"}}, {"train/loss": 0.5}),
        ({"a": {"b": {"c": 1}}}, {}),
    ],
    ids=["numbers", "non-numbers", "one-level-group", "two-levels-ignored"],
)
def test_numeric_items(data: dict, expected: dict[str, float]) -> None:
    assert numeric_items(data) == expected


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["loss", "loss/mean", "loss/std"], "loss"),
        (["train/loss", "train/loss/mean"], "train/loss"),
        (["loss/mean", "train/loss"], "train/loss"),
        (["train/loss", "loss"], "loss"),
        (["loss/mean", "loss/std", "loss/min"], None),
        (["train/loss/mean"], None),
        (["accuracy", "val_loss", "lossy"], None),
        ([], None),
    ],
)
def test_pick_loss(names: list[str], expected: str | None) -> None:
    assert pick_loss(names) == expected


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["throughput", "tflops", "tokens_per_s", "samples_per_s"], "samples_per_s"),
        (["throughput", "tflops", "tokens_per_s"], "tokens_per_s"),
        (["throughput", "tflops"], "tflops"),
        (["throughput", "loss"], "throughput"),
        (["loss", "dt"], None),
        ([], None),
    ],
)
def test_pick_throughput_order(names: list[str], expected: str | None) -> None:
    assert pick_throughput(names) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"dt": 0.5}, 2.0),
        ({"dtf": 0.1, "dtb": 0.15}, 4.0),
        ({"dt": 0.25, "dtf": 1.0, "dtb": 1.0}, 4.0),
        ({"dt": 0.0}, None),
        ({"dt": -1.0}, None),
        ({"dt": math.nan}, None),
        ({"dt": math.inf}, None),
        ({"dtf": 0.0, "dtb": 0.0}, None),
        ({"dtf": math.nan, "dtb": 0.1}, None),
        ({"dtf": 0.1}, None),
        ({"loss": 1.0}, None),
        ({"dt": 0.5, "samples_per_s": 10.0}, None),
        ({"dt": 0.5, "tokens_per_s": 10.0}, None),
        ({"dtf": 0.1, "dtb": 0.1, "tflops": 1.0}, None),
    ],
)
def test_derived_throughput(values: dict[str, float], expected: float | None) -> None:
    got = derived_throughput(values)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert got[0] == "throughput"
        assert got[1] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"step": 1, "iter": 9, "epoch": 3}, 1.0),
        ({"iter": 9, "epoch": 3, "batch": 4}, 9.0),
        ({"epoch": 3, "batch": 4, "idx": 5}, 3.0),
        ({"batch": 4, "idx": 5}, 4.0),
        ({"idx": 5}, 5.0),
        ({"loss": 0.5}, None),
    ],
)
def test_row_step_is_first_counter(values: dict[str, float], expected: float | None) -> None:
    assert MetricRow(values={k: float(v) for k, v in values.items()}).step == expected


# --- Stats ---------------------------------------------------------------------------


def test_stats_summarise_finite_values() -> None:
    stats = Stats()
    for value in (3.0, 1.0, 2.0):
        stats.add(value)
    assert stats.to_json() == {
        "count": 3,
        "first": 3.0,
        "last": 2.0,
        "min": 1.0,
        "max": 3.0,
        "mean": 2.0,
    }


def test_stats_count_nonfinite_and_fold_only_finite() -> None:
    stats = Stats()
    for value in (math.nan, 1.0, math.inf, 3.0, -math.inf):
        stats.add(value)
    assert stats.count == 5
    assert stats.nonfinite == 3
    summary = stats.to_json()
    assert (summary["min"], summary["max"], summary["mean"]) == (1.0, 3.0, 2.0)
    assert summary["nonfinite"] == 3


def test_stats_json_has_null_for_nonfinite_first_and_last() -> None:
    stats = Stats()
    for value in (math.nan, 1.0, math.inf):
        stats.add(value)
    summary = stats.to_json()
    assert summary["first"] is None
    assert summary["last"] is None
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


def test_stats_of_only_nonfinite_values_is_strict_json() -> None:
    stats = Stats()
    for value in (math.nan, -math.inf):
        stats.add(value)
    summary = stats.to_json()
    assert summary == {
        "count": 2,
        "first": None,
        "last": None,
        "min": None,
        "max": None,
        "mean": None,
        "nonfinite": 2,
    }
    json.dumps(summary, allow_nan=False)


def test_stats_json_omits_nonfinite_when_none_seen() -> None:
    stats = Stats()
    stats.add(1.0)
    assert "nonfinite" not in stats.to_json()


# --- Points --------------------------------------------------------------------------


def test_points_keep_every_point_below_the_limit() -> None:
    points = Points()
    for i in range(100):
        points.add(float(i), float(i) * 2)
    assert points.xs == [float(i) for i in range(100)]
    assert points.ys == [float(i) * 2 for i in range(100)]


@pytest.mark.parametrize("count", [MAX_POINTS - 1, MAX_POINTS, MAX_POINTS + 1, MAX_POINTS * 10 + 7])
def test_points_stay_bounded_and_ordered(count: int) -> None:
    points = Points()
    for i in range(count):
        points.add(float(i), -float(i))
    assert len(points.xs) == len(points.ys) <= MAX_POINTS
    assert points.xs[0] == 0.0
    assert all(a < b for a, b in zip(points.xs, points.xs[1:], strict=False))
    assert points.ys == [-x for x in points.xs]


def test_points_still_cover_the_whole_run_after_decimation() -> None:
    points = Points()
    count = MAX_POINTS * 10 + 7
    for i in range(count):
        points.add(float(i), 0.0)
    assert len(points.xs) >= MAX_POINTS // 2
    assert points.xs[-1] >= count - 1 - points.stride


# --- MetricSeries ----------------------------------------------------------------------


def rows_of(*values: dict[str, float], rank: int | None = None) -> list[MetricRow]:
    return [MetricRow(values=dict(v), rank=rank) for v in values]


def test_series_uses_row_position_without_a_step_key() -> None:
    series = MetricSeries()
    series.add(rows_of({"loss": 3.0}, {"loss": 2.0}, {"loss": 1.0}))
    assert series.points["loss"].xs == [0.0, 1.0, 2.0]
    assert series.points["loss"].ys == [3.0, 2.0, 1.0]


def test_series_row_position_continues_across_adds() -> None:
    series = MetricSeries()
    series.add(rows_of({"loss": 3.0}))
    series.add(rows_of({"loss": 2.0}, {"loss": 1.0}))
    assert series.points["loss"].xs == [0.0, 1.0, 2.0]


def test_series_counts_unknown_rank_as_rank0() -> None:
    rows = rows_of({"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.4})
    rank0, rank1 = MetricSeries(rank=0), MetricSeries(rank=1)
    assert rank0.add(rows) == 2
    assert rank1.add(rows) == 0
    assert rank1.skipped == 2
    assert rank0.points["loss"].xs == [1.0, 2.0]


def test_series_without_rank_takes_every_row() -> None:
    rows = [
        MetricRow(values={"step": 1.0, "loss": 0.5}, rank=0),
        MetricRow(values={"step": 1.0, "loss": 0.6}, rank=1),
        MetricRow(values={"step": 2.0, "loss": 0.4}, rank=None),
    ]
    series = MetricSeries(rank=None)
    assert series.add(rows) == 3
    assert series.skipped == 0
    assert series.stats["loss"].count == 3


def test_series_derives_throughput_from_dt() -> None:
    series = MetricSeries()
    series.add(rows_of({"step": 1, "dt": 0.5}, {"step": 2, "dt": 0.25}))
    assert series.throughput_key() == "throughput"
    assert series.points["throughput"].xs == [1.0, 2.0]
    assert series.points["throughput"].ys == pytest.approx([2.0, 4.0])


def test_series_derives_throughput_from_dtf_plus_dtb() -> None:
    series = MetricSeries()
    series.add(rows_of({"iter": 1, "dtf": 0.1, "dtb": 0.15}))
    assert series.points["throughput"].ys == pytest.approx([4.0])


def test_series_prefers_reported_rate_over_derived() -> None:
    series = MetricSeries()
    series.add(rows_of({"step": 1, "dt": 0.5, "samples_per_s": 640.0}))
    assert "throughput" not in series.stats
    assert series.throughput_key() == "samples_per_s"


def test_series_keeps_a_reported_throughput_key() -> None:
    series = MetricSeries()
    series.add(rows_of({"step": 1, "dt": 0.5, "throughput": 9.0}))
    assert series.points["throughput"].ys == [9.0]
    assert series.stats["throughput"].count == 1


def test_series_skips_derived_throughput_for_bad_dt() -> None:
    series = MetricSeries()
    series.add(rows_of({"step": 1, "dt": 0.0}, {"step": 2, "dt": math.nan}))
    assert "throughput" not in series.stats
    assert series.throughput_key() is None


def test_series_picks_loss_not_aggregate() -> None:
    series = MetricSeries()
    series.add(rows_of({"step": 1, "train/loss": 0.5, "train/loss/mean": 0.6}))
    assert series.loss_key() == "train/loss"


def test_series_tracks_first_and_last_time() -> None:
    series = MetricSeries()
    series.add(
        [
            MetricRow(values={"loss": 1.0}, rank=0, t=10.0),
            MetricRow(values={"loss": 1.0}, rank=1, t=11.0),
            MetricRow(values={"loss": 1.0}, rank=0, t=12.0),
        ]
    )
    assert (series.first_t, series.last_t) == (10.0, 12.0)


def test_series_summary_with_nonfinite_values_is_strict_json() -> None:
    series = MetricSeries()
    series.add(rows_of({"step": 1, "loss": math.nan}, {"step": 2, "loss": 0.5, "gn": math.inf}))
    summary = series.summary_json()
    json.dumps(summary, allow_nan=False)
    assert summary["loss"]["first"] is None
    assert summary["loss"]["last"] == 0.5
    assert summary["gn"]["nonfinite"] == 1
