"""The charts' sources: history files (ours, ezpz's real sample), a run directory's
sources in ``--run``'s order, big files opened on a sample, files that are
truncated or replaced while followed. Real files on disk throughout."""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import pytest

from ezpz_core.history import HistoryWriter, history_row, parse_line
from ezpz_core.metrics import MetricSeries
from ezpz_tui.charts import sources
from ezpz_tui.charts.buckets import Buckets
from ezpz_tui.charts.sources import RunMetrics, add_rows, chart_series, other_rank

SAMPLE = Path(__file__).parent / "data" / "ezpz-test-2ranks" / "metrics.jsonl"


def sample_rank0() -> list[dict]:
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("rank") == 0]


def test_real_ezpz_history_is_charted_from_rank_0_rows() -> None:
    metrics = RunMetrics.for_history(SAMPLE)
    assert metrics.poll()
    source, series = metrics.current()
    assert source == f"history:{SAMPLE}"
    assert series is not None
    mine = sample_rank0()
    assert series.rows == len(mine)
    loss = series.points["loss"]
    assert isinstance(loss, Buckets)
    values = [r["metrics"]["loss"] for r in mine]
    iters = [r["metrics"]["iter"] for r in mine]
    assert min(loss.lo) == pytest.approx(min(values))
    assert max(loss.hi) == pytest.approx(max(values))
    assert loss.x_span == (min(iters), max(iters))
    # the aggregates make a band: min and max across ranks, per step
    low = series.points["loss/min"]
    assert min(low.lo) == pytest.approx(min(r["metrics"]["loss/min"] for r in mine))


def test_other_rank_is_told_from_the_first_bytes() -> None:
    lines = SAMPLE.read_bytes().splitlines()
    for line in lines:
        rank = json.loads(line)["rank"]
        assert other_rank(line, 0) is (rank != 0)
        assert other_rank(line, None) is False
    assert other_rank(b'{"step": 1, "loss": 2}', 0) is False  # a flat row: decoded


def rows_of(n: int, seed: int, keys: tuple[str, ...] = ("loss", "dt")) -> list:
    rng = random.Random(seed)
    out = []
    for step in range(n):
        values = {"step": float(step)}
        for key in keys:
            v = rng.random()
            values[key] = math.nan if rng.random() < 0.02 else v
        line = json.dumps(history_row(values, rank=0 if rng.random() < 0.8 else 1, timestamp=step))
        out.append(parse_line(line.encode()))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_columnar_add_equals_row_by_row(seed: int) -> None:
    rows = rows_of(500, seed)
    rows[100:103] = rows_of(3, seed + 10, ("loss",))  # a short stretch of another shape
    by_rows, by_columns = chart_series(0), chart_series(0)
    by_rows.add(rows)
    add_rows(by_columns, rows)
    assert by_columns.rows == by_rows.rows and by_columns.skipped == by_rows.skipped
    assert by_columns.stats.keys() == by_rows.stats.keys()
    for name in by_rows.stats:
        a, b = by_rows.points[name], by_columns.points[name]
        for field in ("x0", "x1", "lo", "hi", "gap"):
            assert str(getattr(a, field)) == str(getattr(b, field)), (name, field)
        sa, sb = by_rows.stats[name], by_columns.stats[name]
        assert (sa.count, sa.nonfinite, sa.low, sa.high) == (
            sb.count,
            sb.nonfinite,
            sb.low,
            sb.high,
        )
    assert by_columns.last_t == by_rows.last_t


def write_history(path: Path, n: int, start: int = 0, rank_count: int = 1) -> None:
    with HistoryWriter(path) as writer:
        for step in range(start, start + n):
            for rank in range(rank_count):
                loss = 1.0 / (1 + step) + (5.0 if step == 7_777 else 0.0)
                writer.write(history_row({"step": step, "loss": loss}, rank=rank, timestamp=step))


def test_a_big_history_opens_on_a_sample_then_reads_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "PREVIEW_BYTES", 256 << 10)
    monkeypatch.setattr(sources, "STEP_BYTES", 64 << 10)
    monkeypatch.setattr(sources, "PREVIEW_TAIL", 16 << 10)
    path = tmp_path / "big.jsonl"
    write_history(path, 20_000, rank_count=2)
    metrics = RunMetrics.for_history(path)
    assert metrics.poll(budget_s=0.0)  # the preview first, at once
    _source, preview = metrics.current()
    assert preview is not None and 0 < preview.rows < 20_000
    assert metrics.behind > 0
    assert preview.points["step"].x_span[1] == 19_999  # the newest steps are exact
    while metrics.behind:
        metrics.poll(budget_s=0.05)
    _source, whole = metrics.current()
    assert whole is not None and whole.rows == 20_000
    assert max(whole.points["loss"].hi) > 5.0  # the one spike survives the buckets


def test_a_history_truncated_or_replaced_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    write_history(path, 50)
    metrics = RunMetrics.for_history(path)
    metrics.poll()
    assert metrics.current()[1].rows == 50
    path.write_text("")  # truncated: a job restarted without resume
    write_history(path, 10, start=0)
    metrics.poll()
    assert metrics.current()[1].rows == 10
    replacement = tmp_path / "new.jsonl"
    write_history(replacement, 30, start=100)
    os.replace(replacement, path)  # replaced: a new inode
    assert metrics.poll()
    series = metrics.current()[1]
    assert series.rows == 30 and series.points["step"].x_span == (100.0, 129.0)
    assert metrics.restarts == 2
    path.unlink()  # gone: the view keeps what it had
    assert not metrics.poll()
    assert metrics.current()[1].rows == 30


def make_run(tmp_path: Path, rank_lines: list[str] | None = None) -> Path:
    run = tmp_path / "run"
    (run / "ranks").mkdir(parents=True)
    (run / "plan.json").write_text(json.dumps({"metrics_rank": 0, "world_size": 2}))
    (run / "events.jsonl").write_text("")
    if rank_lines is not None:
        (run / "ranks" / "rank-0.log").write_text("".join(line + "\n" for line in rank_lines))
    return run


def add_event(run: Path, event: dict) -> None:
    with open(run / "events.jsonl", "a") as handle:
        handle.write(json.dumps(event) + "\n")


def test_a_run_is_charted_from_its_sources_in_the_order_of_run(tmp_path: Path) -> None:
    run = make_run(tmp_path, [f"step={i} loss={1 / (i + 1):.4f} dt=0.01" for i in range(20)])
    metrics = RunMetrics.for_run(run)
    metrics.poll()
    source, series = metrics.current()
    assert source == "log" and series.rows == 20
    found = tmp_path / "outputs" / "history" / "h.jsonl"
    write_history(found, 5)
    add_event(run, {"event": "metrics", "t": 1.0, "source": f"history:{found}", "rank": 0})
    metrics.poll()
    assert metrics.current()[0] == f"history:{found}"
    write_history(run / "history.jsonl", 3)
    metrics.poll()
    source, series = metrics.current()
    assert source == f"history:{run / 'history.jsonl'}" and series.rows == 3


def test_an_older_run_names_its_history_in_a_notice(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    found = tmp_path / "elsewhere.jsonl"
    write_history(found, 4)
    add_event(
        run, {"event": "notice", "t": 1.0, "level": "info", "text": f"metrics from history {found}"}
    )
    metrics = RunMetrics.for_run(run)
    metrics.poll()
    assert metrics.current()[0] == f"history:{found}"


def test_log_lines_of_a_second_attempt_continue_the_series(tmp_path: Path) -> None:
    run = make_run(tmp_path, [f"step={i} loss=1.0" for i in range(5)])
    metrics = RunMetrics.for_run(run)
    metrics.poll()
    second = run / "attempt-2"
    (second / "ranks").mkdir(parents=True)
    (second / "ranks" / "rank-0.log").write_text(
        "".join(f"step={i} loss=0.5\n" for i in range(5, 9))
    )
    add_event(run, {"event": "attempt", "t": 2.0, "attempt": 2, "directory": str(second)})
    metrics.poll()
    assert metrics.current()[1].rows == 9


def test_series_for_charts_keep_min_max_buckets() -> None:
    series = chart_series(0)
    assert isinstance(series, MetricSeries)
    add_rows(series, rows_of(10, 5))
    assert all(isinstance(p, Buckets) for p in series.points.values())


def test_a_log_line_longer_than_a_read_step_does_not_stop_the_log_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "STEP_BYTES", 64)
    run = make_run(tmp_path, ["x" * 500, "step=1 loss=0.5", "step=2 loss=0.25"])
    metrics = RunMetrics.for_run(run)
    while metrics.poll() or metrics.behind:
        pass
    source, series = metrics.current()
    assert source == "log" and series.rows == 2


def test_the_metrics_rank_the_run_announces_is_charted(tmp_path: Path) -> None:
    """A console that attached before ``plan.json`` existed learns the rank from the
    session's ``metrics`` event (``--metrics-rank 1``)."""
    run = make_run(tmp_path)
    (run / "plan.json").unlink()
    with HistoryWriter(run / "history.jsonl") as writer:
        for step in range(6):
            for rank in (0, 1):
                writer.write(history_row({"step": step, "loss": 1.0 + rank}, rank=rank))
    metrics = RunMetrics.for_run(run)
    metrics.poll()
    assert metrics.current()[1].points["loss"].hi[0] == 1.0  # rank 0 by default
    history = f"history:{run / 'history.jsonl'}"
    add_event(run, {"event": "metrics", "t": 1.0, "source": history, "rank": 1})
    metrics.poll()
    series = metrics.current()[1]
    assert series.rows == 6 and series.points["loss"].hi[0] == 2.0
