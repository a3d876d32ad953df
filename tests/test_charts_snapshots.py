"""Snapshots of the charts view: one metric, a min/max band, smoothing, two runs
overlaid, and a file with non-finite values.

The files charted live at fixed paths under ``ROOT`` (the title shows where the
rows come from, the overlay legend shows each run directory's name), their rows
carry fixed timestamps and every value comes from a seeded ``random.Random``,
so a snapshot is the same on every machine. The app is the laptop of the
console's snapshots with its clock stopped.

Before each snapshot the test waits until the charts poller has read every file
and the app has taken its last message (``read_and_shown``: every run's data
version moved, then ``app.charts.settled()``), with a deadline, then pauses once
more so the screen has redrawn. Each test also asserts which layers every chart
drew (``roles_drawn``), so a snapshot of an empty chart cannot be frozen.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import math
import random
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from ezpz_core.history import HistoryWriter, history_row
from ezpz_tui.app import EzpzApp
from ezpz_tui.screens.charts import ChartsScreen
from ezpz_tui.surroundings import Surroundings
from ezpz_tui.widgets.metric_chart import MetricChart
from tests.console_fixtures import laptop
from tests.rundir_fixtures import NOW

SnapCompare = Callable[..., bool]  # pytest-textual-snapshot's snap_compare fixture
SIZES = ((80, 24), (160, 48))
SMALL = (80, 24)
ROOT = Path("/tmp/ezpz-tui-chart-fixtures")  # fixed: the title shows the file's path
SAMPLE = Path(__file__).parent / "data" / "ezpz-test-2ranks" / "metrics.jsonl"
SETTLE_S = 30.0
ROWS = 300
NONFINITE_STEPS = {40: math.nan, 41: math.nan, 120: math.inf, 200: -math.inf, 201: math.nan}
SMOOTH_PRESSES = 3
SMOOTHED_WEIGHT = 0.8  # WEIGHTS (0, 0.3, 0.6, 0.8, ...): three steps up from off


def size_id(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


@pytest.fixture(scope="module", autouse=True)
def fixture_root() -> Iterator[None]:
    """The fixed paths are shared by every checkout on this machine: one test
    session at a time writes them (another waits); they go when it is done."""
    ROOT.mkdir(parents=True, exist_ok=True)
    with open(ROOT.with_name(f"{ROOT.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
        shutil.rmtree(ROOT, ignore_errors=True)


def fresh(name: str) -> Path:
    """``ROOT/name``, gone: a test writes it anew."""
    path = ROOT / name
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    ROOT.mkdir(parents=True, exist_ok=True)
    return path


def loss_curve(
    seed: int, rows: int = ROWS, start: float = 2.4, rate: float = 0.015, floor: float = 0.3
) -> list[float]:
    """A loss that decays toward ``floor`` with seeded noise: a training run's shape."""
    rng = random.Random(seed)
    return [
        floor + (start - floor) * math.exp(-rate * step) + rng.gauss(0.0, 0.04)
        for step in range(1, rows + 1)
    ]


def write_history(
    path: Path, losses: list[float], seed: int, nonfinite: dict[int, float] | None = None
) -> Path:
    """A history file of our format: ``step``, ``loss`` and ``dt`` (no rate: the
    charts derive the throughput), one row a step, timestamps a fixed clock's.
    ``nonfinite`` replaces the loss at those steps (json writes NaN/Infinity)."""
    rng = random.Random(seed)
    with HistoryWriter(path) as writer:
        for step, loss in enumerate(losses, start=1):
            value = (nonfinite or {}).get(step, loss)
            dt = 0.05 + rng.uniform(0.0, 0.01)
            writer.write(
                history_row(
                    {"step": step, "loss": value, "dt": dt}, timestamp=NOW - ROWS + step * 0.06
                )
            )
    return path


def run_directory(name: str, losses: list[float], seed: int) -> Path:
    """A run directory the charts read: ``plan.json`` naming the metrics rank, no
    events yet, and its ``history.jsonl``."""
    path = fresh(name)
    path.mkdir()
    (path / "plan.json").write_text(json.dumps({"metrics_rank": 0}) + "\n")
    (path / "events.jsonl").write_text("")
    write_history(path / "history.jsonl", losses, seed)
    return path


def one_metric() -> Path:
    return write_history(fresh("loss.jsonl"), loss_curve(19_001), 19_001)


def with_nonfinite() -> Path:
    return write_history(fresh("nonfinite.jsonl"), loss_curve(19_003), 19_003, NONFINITE_STEPS)


def ezpz_sample() -> Path:
    """The real 2-rank ezpz history (loss/min, loss/max, loss/mean), at a fixed path."""
    path = fresh("metrics.jsonl")
    shutil.copyfile(SAMPLE, path)
    return path


def surroundings(config: Path) -> Surroundings:
    """The laptop of the console's snapshots, its clock stopped at ``NOW``."""
    return dataclasses.replace(laptop(config), clock=lambda: NOW)


def read_and_shown(app: EzpzApp) -> bool:
    """Every charted run has been read at least once (each fixture has rows) and the
    keeper is settled. The first half matters for a run added while the poller is
    idle: ``settled()`` can still say True from before the kick until the poller
    wakes, but a run's ``version`` moves only inside a poll, after the poller
    cleared its idle flag, so once every version moved ``settled()`` is current."""
    charted = app.charts.charted()
    return bool(charted) and all(c.metrics.version > 0 for c in charted) and app.charts.settled()


async def settled(app: EzpzApp, pilot: Pilot[None], deadline_s: float = SETTLE_S) -> None:
    """Wait until the charts poller has read everything and the app has shown it."""
    deadline = time.monotonic() + deadline_s
    while not read_and_shown(app):
        if time.monotonic() > deadline:
            raise AssertionError(f"the charts did not settle in {deadline_s:.0f} s")
        await pilot.pause(0.05)
    await pilot.pause()


def charts_screen(app: EzpzApp) -> ChartsScreen:
    screen = app.screen
    assert isinstance(screen, ChartsScreen), f"the app shows {type(screen).__name__}"
    return screen


def roles_drawn(app: EzpzApp) -> dict[str, set[str]]:
    """Each chart's metric and the roles of the layers it drew (``s0``, ``s0-raw``,
    ``s1-band``...): what a snapshot must show, so an empty chart is never frozen."""
    drawn: dict[str, set[str]] = {}
    for chart in charts_screen(app).query(MetricChart):
        assert chart.id is not None
        drawn[chart.id] = {
            layer.role for d in chart.drawn if d.points for layer in d.layers if layer.xs
        }
    return drawn


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "config"


# --- one run ------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_one_metric_matches_its_snapshot(
    snap_compare: SnapCompare, config: Path, size: tuple[int, int]
) -> None:
    """Loss and the throughput derived from ``dt``, of a 300-row history file."""
    app = EzpzApp(surroundings(config), history=one_metric())

    async def run_before(pilot: Pilot[None]) -> None:
        await settled(app, pilot)
        assert roles_drawn(app) == {"chart-0": {"s0"}, "chart-1": {"s0"}}

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_min_max_band_of_an_ezpz_history_matches_its_snapshot(
    snap_compare: SnapCompare, config: Path, size: tuple[int, int]
) -> None:
    """The loss chart of a 2-rank ezpz job: a min-max band around the mean line."""
    app = EzpzApp(surroundings(config), history=ezpz_sample())

    async def run_before(pilot: Pilot[None]) -> None:
        await settled(app, pilot)
        assert roles_drawn(app)["chart-0"] == {"s0-band", "s0"}

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_smoothed_charts_match_their_snapshot(
    snap_compare: SnapCompare, config: Path, size: tuple[int, int]
) -> None:
    """Three presses of s: the smoothed line over the faint raw one."""
    app = EzpzApp(surroundings(config), history=one_metric())

    async def run_before(pilot: Pilot[None]) -> None:
        await settled(app, pilot)
        await pilot.press(*"s" * SMOOTH_PRESSES)
        await settled(app, pilot)
        assert charts_screen(app).weight == SMOOTHED_WEIGHT
        assert roles_drawn(app) == {"chart-0": {"s0-raw", "s0"}, "chart-1": {"s0-raw", "s0"}}

    assert snap_compare(app, terminal_size=size, run_before=run_before)


# --- two runs -----------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_two_runs_overlaid_match_their_snapshot(
    snap_compare: SnapCompare, config: Path, size: tuple[int, int]
) -> None:
    """The attached run and one overlaid from the runs browser, each its colour."""
    first = run_directory("run-baseline", loss_curve(19_011), 19_011)
    second = run_directory(
        "run-lower-lr", loss_curve(19_012, start=2.0, rate=0.006, floor=0.8), 19_012
    )
    app = EzpzApp(surroundings(config))

    async def run_before(pilot: Pilot[None]) -> None:
        app.charts.show_run(first)
        await app.switch_mode("charts")
        assert app.charts.toggle_overlay(second) is True
        await settled(app, pilot)
        assert roles_drawn(app) == {"chart-0": {"s0", "s1"}, "chart-1": {"s0", "s1"}}

    assert snap_compare(app, terminal_size=size, run_before=run_before)


# --- non-finite values --------------------------------------------------------------


def test_nonfinite_values_match_their_snapshot(snap_compare: SnapCompare, config: Path) -> None:
    """NaN and ±inf losses: gaps in the line, counted in the chart and status line."""
    app = EzpzApp(surroundings(config), history=with_nonfinite())

    async def run_before(pilot: Pilot[None]) -> None:
        await settled(app, pilot)
        assert roles_drawn(app) == {"chart-0": {"s0"}, "chart-1": {"s0"}}

    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


async def test_status_line_counts_the_nonfinite_values(config: Path) -> None:
    app = EzpzApp(surroundings(config), history=with_nonfinite())
    async with app.run_test(size=SMALL) as pilot:
        await settled(app, pilot)
        status = str(charts_screen(app).query_one("#charts-status").render())
    assert f"{len(NONFINITE_STEPS)} non-finite values shown as gaps" in status
