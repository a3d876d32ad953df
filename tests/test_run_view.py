"""The run view on real two-rank Open MPI runs, driven through Pilot.

Each test writes a small job into ``tmp_path`` and runs it for real: the console
spawns ``ezpz-tui --run`` in its own session, the session runs ``mpirun -np 2``
and the console follows the run directory under ``tmp_path/runs``. Jobs that
must be seen mid-run wait on gate files the test creates, so "while it runs" is
a state the test makes, not a race it hopes to win. Every wait polls a condition
against a deadline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from textual.pilot import Pilot

from ezpz_tui.app import EzpzApp
from ezpz_tui.config import ConsoleConfig
from ezpz_tui.form import LaunchForm
from ezpz_tui.screens.dialogs import ChooseDialog
from ezpz_tui.screens.launch import LaunchScreen
from ezpz_tui.screens.run import RunScreen
from ezpz_tui.surroundings import real_surroundings
from ezpz_tui.watch.panes import MergedSource, RankSource
from ezpz_tui.watch.run import PaneLine, RunWatch
from ezpz_tui.widgets.log_pane import LogPane
from ezpz_tui.widgets.rank_table import RankTable
from ezpz_tui.widgets.runbar import RunBar

pytestmark = pytest.mark.timeout(60)

SIZE = (120, 40)
DEADLINE_S = 30.0

# What every job starts with: its rank, and gates the test opens by creating files.
PRELUDE = """\
import os, sys, time, pathlib
rank = int(os.environ.get("OMPI_COMM_WORLD_RANK") or os.environ.get("RANK") or 0)
here = pathlib.Path(__file__).parent
(here / "pids").mkdir(exist_ok=True)
(here / "pids" / str(rank)).write_text(f"{os.getpid()} {os.environ.get('EZPZ_RUN_ID', '')}")

def gate(name):
    deadline = time.monotonic() + 60
    while not (here / name).exists():
        if time.monotonic() > deadline:
            sys.exit(9)
        time.sleep(0.02)
"""


# --- building and waiting ---------------------------------------------------------------


def write_job(tmp_path: Path, body: str) -> str:
    """The job's command line (this Python running a script in ``tmp_path``)."""
    script = tmp_path / "job.py"
    script.write_text(PRELUDE + body)
    return shlex.join([sys.executable, str(script)])


def console(tmp_path: Path, command: str = "", attach: Path | None = None) -> EzpzApp:
    """The real console, its runs and config under ``tmp_path``."""
    form = LaunchForm(np="2", command=command)
    surroundings = real_surroundings(form, None, None, outdir=str(tmp_path / "runs"))
    surroundings = dataclasses.replace(
        surroundings, cwd=str(tmp_path), config=ConsoleConfig(tmp_path / "config")
    )
    return EzpzApp(surroundings, attach=attach)


async def until(pilot: Pilot[None], done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def watch_of(app: EzpzApp) -> RunWatch:
    watch = app.run_watch
    assert watch is not None
    return watch


def run_screen(app: EzpzApp) -> RunScreen:
    screen = app.screen
    assert isinstance(screen, RunScreen)
    return screen


def panes(app: EzpzApp) -> list[LogPane]:
    """The log panes shown, left to right (not those being removed)."""
    return [shown for shown in run_screen(app).query(LogPane) if shown.display]


def pane(app: EzpzApp, index: int = 0) -> LogPane:
    return panes(app)[index]


def pane_lines(app: EzpzApp, index: int = 0) -> list[PaneLine]:
    """The rows the pane shows (its source's rows, as many as the pane knows of)."""
    shown = pane(app, index)
    with shown.source.lock:
        return [shown.source.line(row) for row in range(shown.rows)]


def bar_text(app: EzpzApp) -> str:
    return str(run_screen(app).query_one(RunBar).render())


def rank_rows(app: EzpzApp) -> list[Any]:
    table = run_screen(app).query_one(RankTable)
    return table.fetch(0, table.total)


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def exit_code(run_dir: Path) -> int:
    """What the run's ``summary.json`` says it ended with."""
    code = json.loads((run_dir / "summary.json").read_text())["exit_code"]
    assert isinstance(code, int)
    return code


def finished(app: EzpzApp) -> bool:
    """The run ended, the console read all of it and the run bar says so."""
    watch = app.run_watch
    return (
        watch is not None
        and watch.summary is not None
        and app.runs.settled()
        and "finished" in bar_text(app)
    )


def job_pids(tmp_path: Path) -> dict[int, tuple[int, str]]:
    """rank -> (pid, EZPZ_RUN_ID) as each rank wrote them when it started."""
    out = {}
    for path in (tmp_path / "pids").iterdir():
        pid, _, marker = path.read_text().partition(" ")
        out[int(path.name)] = (int(pid), marker)
    return out


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def marked_processes(marker: str) -> list[int]:
    """Processes whose environment carries ``EZPZ_RUN_ID=marker``."""
    needle = f"EZPZ_RUN_ID={marker}".encode()
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(proc.pid)
    return found


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


@pytest.fixture(autouse=True)
def no_job_outlives_its_test(tmp_path: Path) -> Iterator[None]:
    """A failed test must not leave its job waiting on a gate: end what is left of it
    (the session and the ranks, each known by a command line naming ``tmp_path``)."""
    yield
    pids = [pid for pid, _ in job_pids(tmp_path).values()] if (tmp_path / "pids").is_dir() else []
    pids += [json.loads(o.read_text())["pid"] for o in (tmp_path / "runs").glob("*/owner.json")]
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            if str(tmp_path) in " ".join(proc.cmdline()):
                proc.kill()


async def start_from_launch_view(app: EzpzApp, pilot: Pilot[None]) -> None:
    """ctrl+g once the preview of the form is ready; then the run view follows the run."""

    def preview_ready() -> bool:
        preview = app.preview
        screen = app.screen
        return (
            isinstance(screen, LaunchScreen)
            and preview is not None
            and preview.plan is not None
            and preview.form == screen.read_form()
        )

    await until(pilot, preview_ready, "the launch preview")
    await pilot.press("ctrl+g")
    await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run view")


# --- tests --------------------------------------------------------------------------------


async def test_a_run_started_from_the_launch_view_shows_every_rank_and_ends_exit_0(
    tmp_path: Path,
) -> None:
    command = write_job(
        tmp_path,
        'for i in range(3):\n    print(f"step {i} rank {rank}", flush=True)\n'
        'gate("go")\nprint(f"bye rank {rank}", flush=True)\n',
    )
    app = console(tmp_path, command)
    async with app.run_test(size=SIZE) as pilot:
        await start_from_launch_view(app, pilot)
        watch = watch_of(app)
        assert watch.path.parent == tmp_path / "runs"
        steps = {(r, f"step {i} rank {r}") for r in (0, 1) for i in range(3)}
        await until(
            pilot,
            lambda: {(ln.rank, ln.text) for ln in pane_lines(app)} == steps,
            "both ranks' step lines in the merged pane",
        )
        await until(pilot, lambda: "running" in bar_text(app), "the run bar to say running")
        assert watch.running
        assert [(row.rank, row.code) for row in rank_rows(app)] == [(0, None), (1, None)]

        table = run_screen(app).query_one(RankTable)
        table.focus()
        await pilot.press("down", "enter")
        await until(pilot, lambda: isinstance(pane(app).source, RankSource), "rank 1's pane")
        assert pane(app).source.title == "rank 1"
        rank_1 = [f"step {i} rank 1" for i in range(3)]
        await until(pilot, lambda: len(pane_lines(app)) == 3, "rank 1's step lines")
        assert [(ln.rank, ln.text) for ln in pane_lines(app)] == [(1, t) for t in rank_1]

        (tmp_path / "go").touch()
        await until(pilot, lambda: len(pane_lines(app)) == 4, "rank 1's last line, live")
        assert [ln.text for ln in pane_lines(app)] == [*rank_1, "bye rank 1"]
        await until(pilot, lambda: finished(app), "the run to finish")
        assert "finished: exit 0" in bar_text(app)
        assert [(row.rank, row.code, row.status) for row in rank_rows(app)] == [
            (0, 0, "exit 0"),
            (1, 0, "exit 0"),
        ]

        run_screen(app).open_rank(0)
        await until(pilot, lambda: pane(app).source.title == "rank 0", "rank 0's pane")
        assert [(ln.rank, ln.text) for ln in pane_lines(app)] == [
            *((0, f"step {i} rank 0") for i in range(3)),
            (0, "bye rank 0"),
        ]
        await pilot.press("m")
        assert isinstance(pane(app).source, MergedSource)
        merged = {(ln.rank, ln.text) for ln in pane_lines(app)}
        assert merged == steps | {(r, f"bye rank {r}") for r in (0, 1)}
    assert exit_code(watch.path) == 0


async def test_a_rank_exiting_3_is_flagged_with_its_first_error(tmp_path: Path) -> None:
    command = write_job(
        tmp_path,
        'print(f"start rank {rank}", flush=True)\n'
        "if rank == 0:\n"
        '    (here / "rank0-printed").touch()\n'
        '    gate("never")\n'
        'gate("rank0-printed")\n'
        "def fail():\n"
        '    raise ValueError("rank one broke")\n'
        "try:\n"
        "    fail()\n"
        "except ValueError:\n"
        "    import traceback\n"
        "    traceback.print_exc()\n"
        "    sys.stderr.flush()\n"
        "    sys.exit(3)\n",
    )
    app = console(tmp_path, command)
    async with app.run_test(size=SIZE) as pilot:
        await start_from_launch_view(app, pilot)
        await until(pilot, lambda: finished(app), "the run to finish")
        run_dir = watch_of(app).path
        rows = {row.rank: row for row in rank_rows(app)}
        assert rows[1].code == 3
        assert rows[1].status == "exit 3"
        assert rows[1].first_error == "Traceback (most recent call last):"
        assert rows[0].first_error is None
        assert "finished: exit 3" in bar_text(app)

        await pilot.press("m", "e")
        line = pane(app).current_line()
        assert line is not None
        assert (line.rank, line.text, line.error) == (1, "Traceback (most recent call last):", True)
        await pilot.press("e")
        line = pane(app).current_line()
        assert line is not None
        assert (line.rank, line.text) == (1, "ValueError: rank one broke")
    assert exit_code(run_dir) == 3


async def test_the_stop_key_ends_the_run_130_and_leaves_no_process(tmp_path: Path) -> None:
    command = write_job(tmp_path, 'print(f"ready rank {rank}", flush=True)\ngate("never")\n')
    app = console(tmp_path, command)
    async with app.run_test(size=SIZE) as pilot:
        await start_from_launch_view(app, pilot)
        await until(
            pilot,
            lambda: len(pane_lines(app)) == 2 and "running" in bar_text(app),
            "both ranks ready",
        )
        run_dir = watch_of(app).path
        owner = json.loads((run_dir / "owner.json").read_text())["pid"]
        pids = job_pids(tmp_path)
        assert sorted(pids) == [0, 1]
        marker = pids[0][1]
        assert marker and pids[1][1] == marker
        assert all(alive(pid) for pid, _ in pids.values())
        assert marked_processes(marker)

        await pilot.press("ctrl+k")
        await until(pilot, lambda: finished(app), "the stopped run to finish")
        assert "finished: exit 130" in bar_text(app)
        await until(pilot, lambda: not alive(owner), "the session to end")
    assert exit_code(run_dir) == 130
    assert [e["code"] for e in events(run_dir) if e["event"] == "finished"] == [130]
    launchers = [e["pid"] for e in events(run_dir) if e["event"] == "attempt"]
    assert len(launchers) == 1
    assert not [pid for pid in [*launchers, *(pid for pid, _ in pids.values())] if alive(pid)]
    assert marked_processes(marker) == []


async def test_a_run_left_running_is_followed_to_its_end_by_a_second_console(
    tmp_path: Path,
) -> None:
    command = write_job(
        tmp_path,
        'print(f"before rank {rank}", flush=True)\n'
        'gate("alone")\nprint(f"alone rank {rank}", flush=True)\n'
        'gate("go")\nprint(f"after rank {rank}", flush=True)\n',
    )
    first = console(tmp_path, command)
    async with first.run_test(size=SIZE) as pilot:
        await start_from_launch_view(first, pilot)
        await until(
            pilot,
            lambda: len(pane_lines(first)) == 2 and "running" in bar_text(first),
            "both ranks' first lines",
        )
        run_dir = watch_of(first).path
        await pilot.press("q")
        await until(pilot, lambda: isinstance(first.screen, ChooseDialog), "the quit question")
        dialog = first.screen
        assert isinstance(dialog, ChooseDialog)
        assert [value for _, value in dialog.choices] == ["stop", "leave", "cancel"]
        await pilot.press("down", "enter")
        await until(pilot, lambda: first.return_code is not None, "the console to quit")
    owner = json.loads((run_dir / "owner.json").read_text())["pid"]
    assert alive(owner)
    assert all(alive(pid) for pid, _ in job_pids(tmp_path).values())

    # no console attached: the job goes on printing, into its files
    (tmp_path / "alone").touch()
    deadline = time.monotonic() + DEADLINE_S
    while len(log_lines(run_dir / "combined.log")) < 4:
        assert time.monotonic() < deadline, "the job printed nothing with no console attached"
        time.sleep(0.05)
    assert alive(owner)
    assert not (run_dir / "summary.json").exists()

    second = console(tmp_path, attach=run_dir)
    async with second.run_test(size=SIZE) as pilot:
        await until(
            pilot,
            lambda: (
                isinstance(second.screen, RunScreen)
                and len(pane_lines(second)) == 4
                and "running" in bar_text(second)
            ),
            "the second console to show the running job",
        )
        assert not (run_dir / "summary.json").exists()
        (tmp_path / "go").touch()
        await until(pilot, lambda: finished(second), "the run to finish")
        assert {(ln.rank, ln.text) for ln in pane_lines(second)} == {
            (r, f"{when} rank {r}") for r in (0, 1) for when in ("before", "alone", "after")
        }
        assert "finished: exit 0" in bar_text(second)
        assert [row.code for row in rank_rows(second)] == [0, 0]
    assert exit_code(run_dir) == 0


async def test_quitting_with_stop_stops_the_job_then_quits(tmp_path: Path) -> None:
    command = write_job(tmp_path, 'print(f"ready rank {rank}", flush=True)\ngate("never")\n')
    app = console(tmp_path, command)
    async with app.run_test(size=SIZE) as pilot:
        await start_from_launch_view(app, pilot)
        await until(
            pilot,
            lambda: len(pane_lines(app)) == 2 and "running" in bar_text(app),
            "both ranks ready",
        )
        run_dir = watch_of(app).path
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ChooseDialog), "the quit question")
        await pilot.press("enter")  # the first choice: stop the job, then quit
        await until(pilot, lambda: app.return_code is not None, "the console to quit")
    assert exit_code(run_dir) == 130
    assert not [pid for pid, _ in job_pids(tmp_path).values() if alive(pid)]


# --- a finished run, started headless (as a batch script would) ------------------------------

FINISHED_JOB = """\
print("same banner", flush=True)
for i in range(3 + 2 * rank):
    print(f"rank {rank} step {i} loss {i / 10}", flush=True)
print(f"Loss summary of rank {rank}", flush=True)
print(f"done rank {rank}", flush=True)
"""


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-rank run, run by ``ezpz-tui --run`` with no console attached."""
    tmp_path = tmp_path_factory.mktemp("finished")
    command = write_job(tmp_path, FINISHED_JOB)
    run_dir = tmp_path / "runs" / "headless"
    headless = [sys.executable, "-m", "ezpz_tui.cli", "--run", "--quiet", f"--run-dir={run_dir}"]
    done = subprocess.run(
        [*headless, "-n", "2", "--", *shlex.split(command)],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert exit_code(run_dir) == 0
    return run_dir


async def attached(app: EzpzApp, pilot: Pilot[None]) -> None:
    await until(pilot, lambda: isinstance(app.screen, RunScreen) and finished(app), "the run read")


async def test_attaching_to_a_finished_run_shows_its_logs(
    tmp_path: Path, finished_run: Path
) -> None:
    combined = log_lines(finished_run / "combined.log")
    banners = [line for line in combined if line.endswith("]<stdout>: same banner")]
    assert len(banners) == 2
    app = console(tmp_path, attach=finished_run)
    async with app.run_test(size=SIZE) as pilot:
        await attached(app, pilot)
        shown = pane_lines(app)
        assert len(shown) == len(combined) - (len(banners) - 1)
        for r in (0, 1):
            own = log_lines(finished_run / "ranks" / f"rank-{r}.log")
            assert [ln.text for ln in shown if ln.rank == r and not ln.group] == [
                text for text in own if text != "same banner"
            ]
        assert "finished: exit 0" in bar_text(app)
        assert [row.lines for row in rank_rows(app)] == [6, 8]


async def test_identical_lines_from_both_ranks_collapse_into_one_row(
    tmp_path: Path, finished_run: Path
) -> None:
    def banner_rows() -> list[PaneLine]:
        return [ln for ln in pane_lines(app) if ln.text == "same banner"]

    app = console(tmp_path, attach=finished_run)
    async with app.run_test(size=SIZE) as pilot:
        await attached(app, pilot)
        assert [(ln.group, ln.members) for ln in banner_rows()] == [("\u00d72 ranks 0-1", 2)]
        together = len(pane_lines(app))

        await pilot.press("c")
        await until(pilot, lambda: len(banner_rows()) == 2, "the banner shown per rank")
        assert sorted(ln.rank for ln in banner_rows()) == [0, 1]
        assert all(ln.group == "" for ln in banner_rows())
        assert len(pane_lines(app)) == together + 1

        await pilot.press("c")
        await until(pilot, lambda: len(banner_rows()) == 1, "the banner collapsed again")
        shown = pane(app)
        row = next(i for i, ln in enumerate(pane_lines(app)) if ln.text == "same banner")
        shown.go_to_row(row)
        await pilot.press("x")
        assert sorted((m.rank, m.text) for m in shown.expanded[row]) == [
            (0, "same banner"),
            (1, "same banner"),
        ]
        assert shown.display_count == together + 2
        await pilot.press("x")
        assert shown.expanded == {}
        assert shown.display_count == together


async def test_marked_ranks_show_side_by_side_and_one_opens_alone(
    tmp_path: Path, finished_run: Path
) -> None:
    own = {r: log_lines(finished_run / "ranks" / f"rank-{r}.log") for r in (0, 1)}
    app = console(tmp_path, attach=finished_run)
    async with app.run_test(size=SIZE) as pilot:
        await attached(app, pilot)
        await pilot.press("t", "space", "space", "g")
        await until(pilot, lambda: len(panes(app)) == 2, "two rank panes")
        await until(
            pilot,
            lambda: [[ln.text for ln in pane_lines(app, i)] for i in (0, 1)] == [own[0], own[1]],
            "each rank's lines in its pane",
        )
        assert [shown.source.title for shown in panes(app)] == ["rank 0", "rank 1"]
        assert {ln.rank for ln in pane_lines(app, 1)} == {1}

        await pilot.press("enter")  # the table's cursor is on rank 1, already shown
        await until(pilot, lambda: len(panes(app)) == 1, "rank 1 alone")
        assert pane(app).source.title == "rank 1"
        assert [ln.text for ln in pane_lines(app)] == own[1]


async def test_search_counts_hits_per_rank_and_n_jumps_to_one(
    tmp_path: Path, finished_run: Path
) -> None:
    expected = {
        r: sum(
            "loss" in text.lower() for text in log_lines(finished_run / "ranks" / f"rank-{r}.log")
        )
        for r in (0, 1)
    }
    assert expected == {0: 4, 1: 6}
    app = console(tmp_path, attach=finished_run)
    async with app.run_test(size=SIZE) as pilot:
        await attached(app, pilot)
        await pilot.press("slash", *"loss", "enter")
        watch = watch_of(app)

        def status() -> str:
            return str(run_screen(app).query_one("#find-status").render())

        await until(pilot, lambda: app.runs.settled() and "hits" in status(), "the hit counts")
        assert watch.search is not None
        assert dict(watch.search.per_rank) == expected
        assert watch.search.total == 10
        assert status() == " search 'loss': 10 hits in 2 ranks (r1: 6, r0: 4)"

        await pilot.press("n")
        first = pane(app).current_line()
        assert first is not None
        assert first.hit and "loss" in first.text.lower()
        await pilot.press("n")
        second = pane(app).current_line()
        assert second is not None
        assert second.hit and second.line > first.line


async def test_filter_shows_only_matching_lines_and_bang_inverts(
    tmp_path: Path, finished_run: Path
) -> None:
    combined = log_lines(finished_run / "combined.log")
    steps = sum(" step " in line for line in combined)
    assert steps == 8
    app = console(tmp_path, attach=finished_run)
    async with app.run_test(size=SIZE) as pilot:
        await attached(app, pilot)
        await pilot.press("f", *"step", "enter")
        await until(pilot, lambda: len(pane_lines(app)) == steps, "the filtered rows")
        assert all(" step " in ln.text for ln in pane_lines(app))

        await pilot.press("f", "ctrl+u", *"!step", "enter")
        await until(pilot, lambda: len(pane_lines(app)) == len(combined) - steps, "the others")
        assert not any("step" in ln.text for ln in pane_lines(app))


async def test_moving_up_pauses_the_pane_and_end_follows_again(tmp_path: Path) -> None:
    command = write_job(
        tmp_path,
        'for i in range(30):\n    print(f"early {i} rank {rank}", flush=True)\n'
        'gate("more")\n'
        'for i in range(5):\n    print(f"late {i} rank {rank}", flush=True)\n'
        'gate("end")\n',
    )
    app = console(tmp_path, command)
    async with app.run_test(size=SIZE) as pilot:
        await start_from_launch_view(app, pilot)
        await until(pilot, lambda: len(pane_lines(app)) == 60, "the early lines")
        shown = pane(app)
        assert shown.following
        assert shown.border_subtitle == "following"
        await until(pilot, lambda: shown.scroll_offset.y == shown.max_scroll_y, "the end shown")
        assert shown.max_scroll_y > 0

        await pilot.press("m", "up")
        assert not shown.following
        assert shown.border_subtitle == "paused · End follows"
        top = shown.scroll_offset.y

        (tmp_path / "more").touch()
        await until(pilot, lambda: shown.rows == 70, "the late lines")
        assert not shown.following
        assert shown.border_subtitle == "paused · +10 new lines · End follows"
        assert shown.scroll_offset.y == top

        await pilot.press("end")
        assert shown.following
        assert shown.border_subtitle == "following"
        await until(pilot, lambda: shown.scroll_offset.y == shown.max_scroll_y, "the end")
        (tmp_path / "end").touch()
        await until(pilot, lambda: finished(app), "the run to finish")
        run_dir = watch_of(app).path
    assert exit_code(run_dir) == 0


async def test_a_long_line_scrolls_sideways(tmp_path: Path) -> None:
    """A line wider than the pane is cut at its edge; right/left scroll along it."""
    from tests.rundir_fixtures import finished_run as write_finished_run

    fixture = write_finished_run(tmp_path / "fixture")
    tail = "THE-END-OF-A-LONG-LINE"
    long_text = "x" * 300 + tail
    with open(fixture.path / "combined.log", "a") as combined:
        combined.write(f"[1,0]<stdout>: {long_text}\n")
    app = console(tmp_path, attach=fixture.path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(app, pilot)
        shown = pane(app)
        assert pane_lines(app)[-1].text == long_text
        shown.focus()
        await until(pilot, lambda: shown.virtual_size.width > SIZE[0], "the pane to widen")
        assert shown.scroll_x == 0
        for _ in range(60):
            await pilot.press("right")
        await pilot.pause()
        assert shown.scroll_x == shown.max_scroll_x > 0
        last = shown.render_line(shown.display_count - 1 - shown.scroll_offset.y).text
        assert tail in last
        await pilot.press("left")
        await pilot.pause()
        assert shown.scroll_x == shown.max_scroll_x - 8
