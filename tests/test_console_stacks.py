"""The stacks panel of the run view: ``d`` on a real hung 4-rank Open MPI + gloo
job (rank 2 stuck in its data step, the others in ``all_reduce``, as in
``tests/test_hang_e2e.py``), the console attached to it; and a snapshot of the
panel over a fixed report (real dumps carry times and paths of the moment)."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from ezpz_core.hang.groups import Report, build_report, render_text
from ezpz_core.hang.stacks import Frame, RankStack, ThreadStack
from ezpz_tui.app import EzpzApp
from ezpz_tui.form import LaunchForm
from ezpz_tui.screens.run import RunScreen
from ezpz_tui.screens.stacks import StacksScreen, moved_text
from tests.console_fixtures import laptop
from tests.test_hang_e2e import ready, start, stop
from tests.test_run_view import console, start_from_launch_view

pytestmark = pytest.mark.timeout(240)
SnapCompare = Callable[..., bool]


async def until(pilot: Pilot[None], done: Callable[[], object], what: str, s: float = 90) -> None:
    deadline = time.monotonic() + s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.1)


def panel_text(app: EzpzApp) -> str:
    screen = app.screen
    assert isinstance(screen, StacksScreen)
    return screen.text


async def test_d_shows_every_ranks_stack_and_names_the_stuck_rank(tmp_path: Path) -> None:
    proc, run_dir = start(tmp_path, ["--launcher", "mpirun"])
    try:
        deadline = time.monotonic() + 120
        while not ready(run_dir):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        app = console(tmp_path, attach=run_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run view")
            # the ranks reach all_reduce on their own: dump until they are there
            for _ in range(20):
                await pilot.press("d")
                await until(pilot, lambda: isinstance(app.screen, StacksScreen), "the panel")
                if "suspect: rank 2" in panel_text(app):
                    break
                await pilot.press("escape")
                await pilot.pause(0.5)
            text = panel_text(app)
            assert "suspect: rank 2: next_batch ← data_step" in text
            assert "ranks 0-1,3 (3, py-spy): all_reduce" in text
            await pilot.press("d")  # again: all four are stuck, none moved
            await until(
                pilot,
                lambda: (
                    isinstance(app.screen, StacksScreen)
                    and "no rank moved" in str(app.screen.query_one("#stacks-moved").render())
                ),
                "the second dump",
            )
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run view again")
        assert len(list((run_dir / "stacks").glob("*.json"))) >= 2
    finally:
        code = stop(proc) if proc.poll() is None else proc.returncode
    assert code == 130


def _frames(*names: str) -> tuple[Frame, ...]:
    """Innermost first, as py-spy gives them."""
    files = {"all_reduce": "distributed_c10d.py"}
    return tuple(
        Frame(n, f"/home/user/project/{files.get(n, 'train.py')}", 10 + i)
        for i, n in enumerate(names)
    )


def fixed_report() -> tuple[Report, str]:
    waiting = _frames("all_reduce", "train_step", "main", "<module>")
    stuck = _frames("next_batch", "data_step", "main", "<module>")
    stacks = [
        RankStack(r, "py-spy", (ThreadStack(1, "MainThread", stuck if r == 2 else waiting),),
                  "x1000c0s0b0n0", 4000 + r, "", 12.0 if r != 2 else 95.0)
        for r in range(4)
    ]  # fmt: skip
    report = build_report(stacks, 1796324400.0)
    return report, moved_text(None, report)


def test_the_stacks_panel_matches_its_snapshot(
    snap_compare: SnapCompare, tmp_path: Path, utc: None
) -> None:
    app = EzpzApp(laptop(tmp_path / "config"))
    report, compared = fixed_report()

    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.pause()
        app.push_screen(StacksScreen(report, compared, "outputs/ezpz-tui/run/stacks/x.txt"))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)


def test_the_fixed_report_names_rank_2() -> None:
    report, _ = fixed_report()
    assert (
        render_text(report)
        .splitlines()[1]
        .startswith("suspect: rank 2: next_batch ← data_step ← main")
    )


SPIN_JOB = """\
import os, time
rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))


def next_batch():
    time.sleep(600)


def spin():
    for i in range(1200):
        print(f"tick {i}", flush=True)
        time.sleep(0.1)


print("ready", flush=True)
next_batch() if rank == 2 else spin()
"""


async def test_ranks_going_silent_are_dumped_once_without_asking(tmp_path: Path) -> None:
    """Ranks 0, 1 and 3 keep printing, rank 2 stops: once the rank table flags it
    silent, one dump is saved and the notification names rank 2."""
    job = tmp_path / "spin.py"
    job.write_text(SPIN_JOB)
    app = console(tmp_path)
    form = LaunchForm(np="4", command=f"{sys.executable} {job}")
    app.surroundings = dataclasses.replace(app.surroundings, form=form)
    async with app.run_test(size=(120, 40)) as pilot:
        await start_from_launch_view(app, pilot)
        await until(
            pilot,
            lambda: any("went silent" in n.message for n in app._notifications),
            "the automatic dump",
            s=120,
        )
        (said,) = [n.message for n in app._notifications if "went silent" in n.message]
        assert "1 rank(s) went silent" in said and "rank 2: next_batch" in said
        run_dir = app.run_watch.path  # type: ignore[union-attr]
        (saved,) = (run_dir / "stacks").glob("*.json")
        report = json.loads(saved.read_text())
        assert report["reason"] == "silent" and report["suspect"]["ranks"] == [2]
        await pilot.press("ctrl+k")
        await until(pilot, lambda: (run_dir / "summary.json").exists(), "the stopped run")
