"""Snapshots of the run view and the runs browser over fixed run directories.

The run directories come from ``tests/rundir_fixtures.py``: a finished run, a
failed one (rank 1 raises and exits 3), a running one with a silent rank and a
Slurm job of 20,000 ranks. Everything a screen shows is fixed: the clock is
frozen at the fixture's ``now``, the running run's owner is on another host (so
its heartbeat, not this machine's process table, says it runs), the run
directories live at fixed paths (their names show in the run bar, the runs
browser shows its folder) and times are shown in UTC.

Before each snapshot the test waits until the watcher has read every file and
the app has drawn it (``app.runs.settled()``), with a deadline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from ezpz_tui.app import EzpzApp
from ezpz_tui.surroundings import Surroundings
from tests.console_fixtures import laptop
from tests.rundir_fixtures import (
    NOW,
    PLAN_HOST,
    SESSION_PID,
    RunFixture,
    failed_run,
    finished_run,
    gone_run,
    many_ranks_run,
    running_run,
)

SnapCompare = Callable[..., bool]  # pytest-textual-snapshot's snap_compare fixture
SIZES = ((80, 24), (160, 48))
BIG = (160, 48)
ROOT = Path("/tmp/ezpz-tui-run-fixtures")  # fixed: the runs browser shows the folder
SHM = Path("/dev/shm")
SETTLE_S = 60.0  # 20,000 ranks on a slow disk, with other tests running beside


def running_elsewhere(root: Path) -> RunFixture:
    """The running run, its owner on the plan's first host (not this one)."""
    return running_run(root, host=PLAN_HOST, pid=SESSION_PID)


BUILDERS: dict[str, Callable[[Path], RunFixture]] = {
    "finished": finished_run,
    "failed": failed_run,
    "running": running_elsewhere,
}


def fresh(name: str) -> Path:
    """``ROOT/name``, empty. On tmpfs when there is one (the 20,000 ranks' files
    are written much faster there); the path is the same either way."""
    path = ROOT / name
    if path.is_symlink():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    ROOT.mkdir(parents=True, exist_ok=True)
    if SHM.is_dir() and os.access(SHM, os.W_OK):
        target = SHM / f"ezpz-tui-run-fixtures-{name}"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        path.symlink_to(target)
    else:
        path.mkdir()
    return path


@pytest.fixture(scope="module", autouse=True)
def fixture_root() -> Iterator[None]:
    """The fixed paths are shared by every checkout on this machine: one test
    session at a time writes them (another waits), and the run directories go
    when it is done (20,000 ranks hold 90 MB of tmpfs)."""
    ROOT.mkdir(parents=True, exist_ok=True)
    with open(ROOT.with_name(f"{ROOT.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
        for name in os.listdir(ROOT):
            path = ROOT / name
            if path.is_symlink():
                shutil.rmtree(path.resolve(), ignore_errors=True)
                path.unlink()
            else:
                shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _utc(utc: None) -> None:
    """The runs browser shows start times in local time: UTC here (conftest's ``utc``)."""


@pytest.fixture(scope="module")
def many(fixture_root: None) -> RunFixture:
    """The 20,000-rank run, built once for the tests that show it."""
    return many_ranks_run(fresh("many"))


def surroundings(config: Path, now: float, outdir: Path | None = None) -> Surroundings:
    """The laptop of the console's snapshots, its clock stopped at ``now``."""
    place = laptop(config)
    return dataclasses.replace(
        place, clock=lambda: now, outdir=str(outdir) if outdir else place.outdir
    )


async def settled(app: EzpzApp, pilot: Pilot[None], deadline_s: float = SETTLE_S) -> None:
    """Wait until the watcher has read everything and the app has shown it."""
    deadline = time.monotonic() + deadline_s
    while not app.runs.settled():
        if time.monotonic() > deadline:
            raise AssertionError(f"the run view did not settle in {deadline_s:.0f} s")
        await asyncio.sleep(0.05)
    await pilot.pause()
    await pilot.pause()


def attached(config: Path, run: RunFixture) -> EzpzApp:
    return EzpzApp(surroundings(config, run.now), attach=run.path)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "config"


# --- the run view -----------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_run_view_matches_its_snapshot(
    snap_compare: SnapCompare, config: Path, kind: str, size: tuple[int, int]
) -> None:
    run = BUILDERS[kind](fresh(kind))
    app = attached(config, run)

    async def run_before(pilot: Pilot[None]) -> None:
        await settled(app, pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_run_view_of_20000_ranks_matches_its_snapshot(
    snap_compare: SnapCompare, config: Path, many: RunFixture, size: tuple[int, int]
) -> None:
    app = attached(config, many)

    async def run_before(pilot: Pilot[None]) -> None:
        await settled(app, pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_first_lines_of_20000_ranks_collapse_into_one_row_each(
    snap_compare: SnapCompare, config: Path, many: RunFixture
) -> None:
    """Home on the merged pane: srun's lines, then one banner row for every rank."""
    app = attached(config, many)

    async def run_before(pilot: Pilot[None]) -> None:
        await settled(app, pilot)
        await pilot.press("home")
        await pilot.pause()

    assert snap_compare(app, terminal_size=BIG, run_before=run_before)


def test_activity_heatmap_of_a_running_run_matches_its_snapshot(
    snap_compare: SnapCompare, config: Path
) -> None:
    app = attached(config, running_elsewhere(fresh("running")))

    async def run_before(pilot: Pilot[None]) -> None:
        await settled(app, pilot)
        await pilot.press("a")
        await settled(app, pilot)

    assert snap_compare(app, terminal_size=BIG, run_before=run_before)


def test_rank_table_sorted_by_silence_matches_its_snapshot(
    snap_compare: SnapCompare, config: Path
) -> None:
    app = attached(config, running_elsewhere(fresh("running")))

    async def run_before(pilot: Pilot[None]) -> None:
        await settled(app, pilot)
        await pilot.press("t", "s")
        await settled(app, pilot)
        app.clear_notifications()  # "ranks sorted by silence" would fade mid-snapshot
        await pilot.pause()

    assert snap_compare(app, terminal_size=BIG, run_before=run_before)


# --- the runs browser -------------------------------------------------------------------


def test_runs_browser_matches_its_snapshot(
    snap_compare: SnapCompare, config: Path, many: RunFixture
) -> None:
    outdir = fresh("runs")
    for build in (*BUILDERS.values(), gone_run):
        build(outdir)
    (outdir / many.path.name).symlink_to(many.path)  # a run directory, without a rebuild
    app = EzpzApp(surroundings(config, NOW, outdir))

    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.press("f6")
        deadline = time.monotonic() + SETTLE_S
        while any(w.group == "runs" and not w.is_finished for w in app.workers):
            if time.monotonic() > deadline:
                raise AssertionError("the runs browser did not list the runs in time")
            await asyncio.sleep(0.05)
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(app, terminal_size=BIG, run_before=run_before)


# --- resource use -----------------------------------------------------------------------


def with_stats(run: RunFixture) -> RunFixture:
    """The running run with three samples a rank in ``stats/``, as the rank wrapper
    writes them (GPU figures included: emulated, there is no GPU here); the silent
    rank sits idle."""
    stats = run.path / "stats"
    stats.mkdir()
    for rank in range(4):
        idle = rank == 1
        lines = [
            json.dumps(
                {
                    "t": run.now - 5.0 + 2 * k,
                    "rank": rank,
                    "host": PLAN_HOST,
                    "pid": 4000 + rank,
                    "cpu": 0.5 if idle else 97.0 + rank,
                    "rss": (3 << 30) + rank * (100 << 20),
                    "threads": 14,
                    "procs": 2,
                    "gpu": 0.0 if idle else 88.0 + k,
                    "gpu_mem": 41 << 30,
                    "gpu_src": "nvml",
                    "gpu_dev": str(rank),
                }
            )
            for k in range(3)
        ]
        (stats / f"rank-{rank}.jsonl").write_text("".join(line + "\n" for line in lines))
    return run


@pytest.mark.parametrize("keys", [(), ("H",), ("u",)], ids=["ranks", "hosts", "cpu-heatmap"])
def test_resource_use_matches_its_snapshot(
    snap_compare: SnapCompare, config: Path, keys: tuple[str, ...]
) -> None:
    """The rank table's cpu/rss/gpu columns, the hosts view, the heatmap shaded by CPU."""
    app = attached(config, with_stats(running_elsewhere(fresh("running"))))

    async def run_before(pilot: Pilot[None]) -> None:
        await settled(app, pilot)
        watch = app.run_watch
        assert watch is not None and len(watch.usage.latest) == 4
        await pilot.press(*keys)
        await settled(app, pilot)

    assert snap_compare(app, terminal_size=BIG, run_before=run_before)
