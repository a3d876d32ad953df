"""The charts view, driven through Pilot: the real ezpz history sample charted, a
chart that grows during a real two-rank Open MPI run, keys (smoothing, log y,
zoom, pan, metric choice) asserted in the widgets' state, a history file
truncated or replaced while shown, runs overlaid from the runs browser, and the
resource figures of every rank (label mode: sampled by the console with psutil,
for real; wrapper mode: stats files as the wrapper writes them)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from textual.pilot import Pilot

from ezpz_core.history import HistoryWriter, history_row
from ezpz_tui.app import EzpzApp
from ezpz_tui.charts.smooth import WEIGHTS
from ezpz_tui.screens.charts import ChartsScreen
from ezpz_tui.screens.dialogs import SearchPicker
from ezpz_tui.widgets.heatmap_view import HeatmapView
from ezpz_tui.widgets.hosts_usage import HostsUsage
from ezpz_tui.widgets.metric_chart import MetricChart
from ezpz_tui.widgets.rank_table import RankTable

from .test_run_view import (
    console,
    exit_code,
    finished,
    no_job_outlives_its_test,  # noqa: F401  (a fixture)
    start_from_launch_view,
    until,
    write_job,
)

pytestmark = pytest.mark.timeout(90)

SAMPLE = Path(__file__).parent / "data" / "ezpz-test-2ranks" / "metrics.jsonl"
SIZE = (120, 40)


def charts_app(tmp_path: Path, history: Path | None = None) -> EzpzApp:
    app = console(tmp_path)
    app._history_first = history
    return app


def screen_of(app: EzpzApp) -> ChartsScreen:
    screen = app.screen
    assert isinstance(screen, ChartsScreen)
    return screen


def chart(app: EzpzApp, index: int = 0) -> MetricChart:
    return screen_of(app).charts[index]


def points(c: MetricChart) -> int:
    return sum(d.points for d in c.drawn)


async def settled(app: EzpzApp, pilot: Pilot[None]) -> None:
    await until(pilot, app.charts.settled, "the charts to read everything")
    await pilot.pause(0.1)


def sample_rank0() -> list[dict]:
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    return [r["metrics"] for r in rows if r["rank"] == 0]


async def test_the_real_ezpz_history_is_charted_with_axes_spanning_its_data(
    tmp_path: Path,
) -> None:
    app = charts_app(tmp_path, SAMPLE)
    rows = sample_rank0()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ChartsScreen), "the charts view")
        await settled(app, pilot)
        loss = chart(app, 0)
        assert loss.resolved(screen_of(app).runs()) == "loss"
        iters = [r["iter"] for r in rows]
        assert loss.x_range == (min(iters), max(iters))
        low = min(r["loss/min"] for r in rows)
        high = max(r["loss/max"] for r in rows)
        y0, y1 = loss.y_range
        assert y0 <= low and y1 >= high  # the band across ranks is inside the axis
        assert (y1 - y0) <= 1.5 * (high - low) + 0.5  # and the axis hugs it
        assert loss.drawn[0].banded and loss.drawn[0].points == len(rows)
        assert "band" in str(loss.border_subtitle)
        title = str(app.screen.query_one("#charts-title").render())
        assert f"{len(rows)} rows in {SAMPLE}" in title


async def test_keys_smooth_log_zoom_pan_and_pick_a_metric(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with HistoryWriter(path) as writer:
        for step in range(200):
            values = {"step": step, "loss": 2.0 / (1 + step), "dt": 0.01, "accuracy": step / 200}
            writer.write(history_row(values, timestamp=step))
    app = charts_app(tmp_path, path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ChartsScreen), "the charts view")
        await settled(app, pilot)
        screen = screen_of(app)
        first, second = chart(app, 0), chart(app, 1)
        assert first.x_range == (0, 199)
        await pilot.press("s", "s")
        assert screen.weight == WEIGHTS[2]
        assert [layer.role for layer in first.drawn[0].layers] == ["s0-raw", "s0"]
        await pilot.press("S")
        assert screen.weight == WEIGHTS[1]
        # log y on the focused chart only: the other one is not redrawn for it
        before = second.renders
        await pilot.press("l")
        await pilot.pause(0.05)
        assert first.log_y and not second.log_y
        assert second.renders == before
        assert first.y_range[0] > 0
        await pilot.press("plus")
        await pilot.pause(0.05)
        assert screen.viewport.follow and screen.viewport.span == pytest.approx(99.5)
        assert first.x_range[1] == 199  # the right edge stays on the newest step
        await pilot.press("left")
        await pilot.pause(0.05)
        assert not screen.viewport.follow and first.x_range[1] < 199
        await pilot.press("0")
        await pilot.pause(0.05)
        assert screen.viewport.span is None and first.x_range == (0, 199)
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, SearchPicker), "the metric picker")
        await pilot.press(*"accu", "enter")
        await until(pilot, lambda: isinstance(app.screen, ChartsScreen), "the charts again")
        await pilot.pause(0.05)
        assert first.metric == "accuracy"
        assert first.y_range[1] >= 199 / 200
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, SearchPicker), "the metric picker")
        await pilot.press(*"dt", "enter")
        await until(pilot, lambda: len(screen_of(app).charts) == 3, "a third chart")
        await pilot.press("x")
        await until(pilot, lambda: len(screen_of(app).charts) == 2, "the chart removed")


def write_rows(path: Path, steps: range, scale: float = 1.0) -> None:
    with HistoryWriter(path) as writer:
        for step in steps:
            writer.write(history_row({"step": step, "loss": scale / (1 + step)}, timestamp=step))


async def test_a_history_truncated_or_replaced_while_shown_keeps_the_view_alive(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.jsonl"
    write_rows(path, range(40))
    app = charts_app(tmp_path, path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ChartsScreen), "the charts view")
        await until(pilot, lambda: points(chart(app)) == 40, "40 points")
        path.write_text("")
        write_rows(path, range(5))
        app.charts.kick()
        await until(pilot, lambda: points(chart(app)) == 5, "the truncated file's 5 points")
        new = tmp_path / "new.jsonl"
        write_rows(new, range(100, 130), scale=3.0)
        os.replace(new, path)
        app.charts.kick()
        await until(pilot, lambda: chart(app).x_range == (100, 129), "the replacement's steps")
        await pilot.press("s")  # still answering keys
        assert screen_of(app).weight == WEIGHTS[1]


JOB_WITH_HISTORY = """
from ezpz_core.history import HistoryWriter, history_row
print(f"rank {rank} up", flush=True)
if rank == 0:
    writer = HistoryWriter(os.environ["EZPZ_HISTORY"])
    for step in range(5):
        writer.write(history_row({"step": step, "loss": 1.0 / (1 + step), "dt": 0.01}))
    gate("more")
    for step in range(5, 12):
        writer.write(history_row({"step": step, "loss": 1.0 / (1 + step), "dt": 0.01}))
gate("end")
"""


async def test_a_chart_grows_during_a_real_two_rank_run(tmp_path: Path) -> None:
    app = console(tmp_path, write_job(tmp_path, JOB_WITH_HISTORY))
    async with app.run_test(size=SIZE) as pilot:
        await start_from_launch_view(app, pilot)
        # label mode: the console samples this host's ranks itself (psutil), for real
        watch = app.run_watch
        assert watch is not None
        await until(pilot, lambda: len(watch.usage.latest) == 2, "both ranks sampled")
        assert watch.usage.source == "local" and "--rank-io wrapper" in watch.usage.note
        table = app.screen.query_one(RankTable)
        assert table.usage is not None and set(table.usage) == {0, 1}
        assert all(u.rss and u.rss > 0 for u in table.usage.values())
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, ChartsScreen), "the charts view")
        await until(pilot, lambda: points(chart(app)) == 5, "the first 5 steps charted")
        assert chart(app).x_range == (0, 4)
        renders = chart(app).renders
        (tmp_path / "more").touch()
        await until(pilot, lambda: points(chart(app)) == 12, "all 12 steps charted, live")
        assert chart(app).x_range == (0, 11)  # following the newest step
        assert chart(app).renders > renders
        (tmp_path / "end").touch()
        await pilot.press("f4")
        await until(pilot, lambda: finished(app), "the run to finish")
        assert exit_code(app.run_watch.path) == 0


def minimal_run(root: Path, name: str, scale: float) -> Path:
    run = root / "runs" / name
    run.mkdir(parents=True)
    (run / "plan.json").write_text(json.dumps({"metrics_rank": 0, "world_size": 1}))
    (run / "events.jsonl").write_text(json.dumps({"event": "started", "t": time.time()}) + "\n")
    (run / "summary.json").write_text(json.dumps({"exit_code": 0, "reason": "exited"}))
    write_rows(run / "history.jsonl", range(20), scale)
    return run


async def test_runs_overlaid_from_the_runs_browser_keep_their_colours(tmp_path: Path) -> None:
    first = minimal_run(tmp_path, "20261201-100000-local", 1.0)
    second = minimal_run(tmp_path, "20261201-110000-local", 2.0)
    app = console(tmp_path, attach=first)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.charts.primary is not None, "the attached run charted")
        await pilot.press("f6")
        await until(pilot, lambda: len(getattr(app.screen, "infos", [])) == 2, "both runs listed")
        infos = app.screen.infos
        index = [i.path for i in infos].index(second)
        table = app.screen.query_one("#runs-table")
        table.move_cursor(row=index)
        await pilot.press("o")
        assert [(c.path, c.slot) for c in app.charts.charted()] == [(first, 0), (second, 1)]
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, ChartsScreen), "the charts view")
        await until(pilot, lambda: len(chart(app).drawn) == 2, "both runs on the chart")
        roles = {layer.role for d in chart(app).drawn for layer in d.layers}
        assert roles == {"s0", "s1"}
        await pilot.press("f6")
        await pilot.press("o")  # off again
        assert [c.path for c in app.charts.charted()] == [first]


def write_stats(run: Path, rank: int, host: str, cpu: float, gpu: float | None) -> None:
    sample = {
        "t": time.time(),
        "rank": rank,
        "host": host,
        "pid": 100 + rank,
        "cpu": cpu,
        "rss": (rank + 1) << 30,
        "threads": 8,
        "procs": 2,
    }
    if gpu is not None:
        sample.update(gpu=gpu, gpu_mem=20 << 30, gpu_src="nvml", gpu_dev=str(rank % 2))
    stats = run / "stats"
    stats.mkdir(exist_ok=True)
    with open(stats / f"rank-{rank}.jsonl", "a") as handle:
        handle.write(json.dumps(sample) + "\n")


async def test_wrapper_stats_fill_the_rank_table_the_hosts_view_and_the_heatmap(
    tmp_path: Path,
) -> None:
    run = minimal_run(tmp_path, "20261201-120000-local", 1.0)
    plan = {"metrics_rank": 0, "world_size": 4, "rank_io": "wrapper", "hosts": ["a", "b"], "ppn": 2}
    (run / "plan.json").write_text(json.dumps(plan))
    for rank in range(4):
        write_stats(
            run,
            rank,
            "a" if rank < 2 else "b",
            cpu=100.0 if rank != 3 else 5.0,
            gpu=90.0 if rank != 3 else 1.0,
        )
    app = console(tmp_path, attach=run)
    async with app.run_test(size=SIZE) as pilot:
        watch = app.run_watch
        await until(pilot, lambda: len(watch.usage.latest) == 4, "every rank's sample")
        table = app.screen.query_one(RankTable)
        await until(pilot, lambda: table.usage is not None, "the usage columns")
        assert "cpu" in table.render_line(0).text and "100%" in table.render_line(1).text
        await pilot.press("H")
        hosts = app.screen.query_one(HostsUsage)
        cells = hosts.query_one("#hosts-table")
        assert cells.row_count == 2
        assert [cells.get_row_at(i)[:3] for i in range(2)] == [
            ["a", "2", "200%"],
            ["b", "2", "105%"],
        ]
        await pilot.press("u")
        heatmap = app.screen.query_one(HeatmapView)
        assert heatmap.metric == "cpu" and heatmap.grid is not None and heatmap.grid.rows == 4
        await pilot.press("u")
        assert heatmap.metric == "gpu"
        await pilot.press("u")
        assert heatmap.metric == "lines"
