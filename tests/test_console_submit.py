"""The console's Submit and the run view of a submitted job, on the real
single-node Slurm 22.05 of ``tests/slurm/cluster.sh`` (skipped without it;
failed with ``EZPZ_REQUIRE_SLURM=1``).

The console runs in-process under Pilot with the real surroundings of this
shell, which is a login node: sbatch on PATH, no SLURM_JOB_ID. Keys are pressed
as a person would (ctrl+n, the batch fields, enter; ctrl+k and the confirmation)
and every wait polls a condition against a deadline. Jobs left by a failed test
are cancelled at the end.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from ezpz_core.submit.queue import QueueState
from ezpz_core.submit.record import read_submit
from ezpz_tui.app import EzpzApp
from ezpz_tui.config import ConsoleConfig
from ezpz_tui.form import LaunchForm
from ezpz_tui.screens.dialogs import ChooseDialog
from ezpz_tui.screens.launch import LaunchScreen
from ezpz_tui.screens.run import RunScreen
from ezpz_tui.screens.submit import SubmitDialog
from ezpz_tui.surroundings import Surroundings
from ezpz_tui.widgets.runbar import RunBar
from tests.test_slurm_real import slurm_env  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(240)

SIZE = (120, 40)
DEADLINE_S = 150.0  # a job on an idle one-node cluster starts in seconds; the CI box is slow

# The job: each rank says who it is (Slurm's task id), then waits for a gate file.
JOB = """\
import os, pathlib, sys, time
rank = int(os.environ.get("SLURM_PROCID", "0"))
here = pathlib.Path(__file__).parent
(here / "pids").mkdir(exist_ok=True)
(here / "pids" / str(rank)).write_text(str(os.getpid()))
for i in range(3):
    print(f"step {i} rank {rank}", flush=True)
deadline = time.monotonic() + 200
while not (here / "go").exists():
    if time.monotonic() > deadline:
        sys.exit(9)
    time.sleep(0.05)
print(f"bye rank {rank}", flush=True)
"""


@pytest.fixture
def jobs(slurm_env: dict[str, str], tmp_path: Path) -> Iterator[None]:  # noqa: F811
    """Cancel whatever job a test left (its run directories say which)."""
    yield
    for record in (tmp_path / "runs").glob("*/submit.json"):
        job = json.loads(record.read_text()).get("job_id")
        if job:
            subprocess.run(["scancel", job], env=slurm_env, capture_output=True, check=False)


def console(env: dict[str, str], tmp_path: Path, np: str = "2") -> EzpzApp:
    script = tmp_path / "job.py"
    script.write_text(JOB)
    form = LaunchForm(np=np, command=f"{sys.executable} {script}")
    surroundings = Surroundings(
        env=env,
        config=ConsoleConfig(tmp_path / "config"),
        cwd=str(tmp_path),
        python=sys.executable,
        form=form,
        outdir=str(tmp_path / "runs"),
    )
    return EzpzApp(surroundings)


async def until(pilot: Pilot[None], done: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.1)


def bar_text(app: EzpzApp) -> str:
    screen = app.screen
    if not isinstance(screen, RunScreen):
        return ""
    return str(screen.query_one(RunBar).render())


def lines_of(app: EzpzApp) -> set[str]:
    """``[rank] line`` for every line of every rank's log the job has written."""
    watch = app.run_watch
    if watch is None:
        return set()
    return lines_of_run(watch.path)


def lines_of_run(run_dir: Path) -> set[str]:
    return {
        f"[{log.stem.removeprefix('rank-')}] {line}"
        for log in (run_dir / "ranks").glob("rank-*.log")
        for line in log.read_text().splitlines()
    }


async def submit_from_console(
    app: EzpzApp, pilot: Pilot[None], directives: str = ""
) -> tuple[Path, str]:
    """ctrl+n once the plan is ready, a walltime (and directives), enter."""

    def planned() -> bool:
        screen, preview = app.screen, app.preview
        return (
            isinstance(screen, LaunchScreen)
            and preview is not None
            and preview.plan is not None
            and preview.form == screen.read_form()
            and app.submit_kind() is not None
        )

    await until(pilot, planned, "the plan of a login node")
    await pilot.press("ctrl+n")
    await until(pilot, lambda: isinstance(app.screen, SubmitDialog), "the Submit dialog")
    dialog = app.screen
    assert isinstance(dialog, SubmitDialog)
    dialog.query_one("#batch-time", Input).focus()
    await pilot.press(*"0:05")
    if directives:
        dialog.query_one("#batch-scheduler_args", Input).focus()
        await pilot.press(*directives)
    await pilot.pause()
    script = str(dialog.query_one("#script").render())
    assert "#SBATCH --time=00:05:00" in script and "#SBATCH --ntasks=2" in script
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run view")
    await until(pilot, lambda: app.runs.job is not None, "the submitted job")
    watch = app.run_watch
    assert watch is not None and app.runs.job is not None
    record = read_submit(watch.path)
    assert record is not None and record.job_id and record.job_id.isdigit()
    written = (watch.path / "job.sh").read_text()
    # what the dialog showed is what was submitted (its run dir and stamp a second older)
    assert _directives(written) == _directives(script)
    assert f"--run-dir={watch.path} " in written
    return watch.path, record.job_id


def _directives(script: str) -> list[str]:
    return [
        line
        for line in script.splitlines()
        if line.startswith("#SBATCH --") and "job.out" not in line
    ]


def job_processes(tmp_path: Path) -> list[int]:
    """Processes of this test's job: their command line names its job.py or run dir."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info.get("cmdline") or [])
        if str(tmp_path) in cmdline and proc.pid != psutil.Process().pid:
            found.append(proc.pid)
    return found


async def test_submit_from_the_console_follows_the_job_to_exit_0(
    slurm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    jobs: None,
) -> None:
    app = console(slurm_env, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        run_dir, job = await submit_from_console(app, pilot)
        await until(pilot, lambda: f"slurm job {job}" in bar_text(app), "the job in the bar")
        steps = {f"[{r}] step {i} rank {r}" for r in (0, 1) for i in range(3)}
        await until(pilot, lambda: steps <= lines_of(app), "both ranks' step lines")
        await until(
            pilot,
            lambda: re.search(rf"running .*slurm job {job}: running on \S+", bar_text(app)),
            "the run bar to say the job runs",
        )
        assert app.runs.live()
        (tmp_path / "go").touch()
        await until(pilot, lambda: app.runs.job_ending is not None, "the job to end")
        ending = app.runs.job_ending
        assert ending is not None and ending.exit_code == 0 and ending.from_summary
        await until(pilot, lambda: "finished: exit 0" in bar_text(app), "the bar to say exit 0")
        await until(
            pilot, lambda: f"slurm job {job}: completed, exit 0" in bar_text(app), "completed"
        )
        assert not app.runs.live()
    assert json.loads((run_dir / "summary.json").read_text())["exit_code"] == 0
    assert {"[0] bye rank 0", "[1] bye rank 1"} <= lines_of_run(run_dir)


async def test_a_held_job_shows_its_queue_state_and_ctrl_k_cancels_it(
    slurm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    jobs: None,
) -> None:
    app = console(slurm_env, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        run_dir, job = await submit_from_console(app, pilot, directives="--hold")
        await until(
            pilot,
            lambda: (
                f"in the queue · slurm job {job}: held (JobHeldUser) for" in bar_text(app)
                or f"slurm job {job}: held (JobHeldUser) for" in bar_text(app)
            ),
            "the run bar to say held",
        )
        assert "-queued" in run_screen_classes(app)
        await pilot.press("ctrl+k")
        await until(pilot, lambda: isinstance(app.screen, ChooseDialog), "the confirmation")
        await pilot.press("enter")  # the first choice: cancel the job (scancel)
        await until(pilot, lambda: app.runs.job_ending is not None, "the job to end")
        ending = app.runs.job_ending
        assert ending is not None and ending.state is QueueState.CANCELLED
        assert not ending.from_summary  # it never ran: the queue has the word
        await until(pilot, lambda: f"slurm job {job}: cancelled" in bar_text(app), "cancelled")
    assert not (run_dir / "owner.json").exists()
    assert job_processes(tmp_path) == []


async def test_ctrl_k_on_a_running_job_cancels_it_and_leaves_no_process(
    slurm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    jobs: None,
) -> None:
    app = console(slurm_env, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        _run_dir, _job = await submit_from_console(app, pilot)
        await until(pilot, lambda: len(started_pids(tmp_path)) == 2, "both ranks to start")
        pids = started_pids(tmp_path)
        assert all(psutil.pid_exists(pid) for pid in pids)
        await pilot.press("ctrl+k")
        await until(pilot, lambda: isinstance(app.screen, ChooseDialog), "the confirmation")
        await pilot.press("enter")
        await until(pilot, lambda: app.runs.job_ending is not None, "the job to end")
        ending = app.runs.job_ending
        assert ending is not None and ending.state is QueueState.CANCELLED, ending
        await until(pilot, lambda: "cancelled" in bar_text(app), "the bar to say cancelled")
        await until(pilot, lambda: not job_processes(tmp_path), "the job's processes to end")
    assert not any(psutil.pid_exists(pid) for pid in pids)


def run_screen_classes(app: EzpzApp) -> set[str]:
    screen = app.screen
    assert isinstance(screen, RunScreen)
    return set(screen.query_one(RunBar).classes)


def started_pids(tmp_path: Path) -> list[int]:
    folder = tmp_path / "pids"
    return [int(p.read_text()) for p in folder.iterdir()] if folder.is_dir() else []


def test_the_real_binary_attaches_to_a_held_job_by_id_and_cancels_it_in_a_terminal(
    slurm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    jobs: None,
) -> None:
    """``ezpz-tui --attach JOBID`` in tmux: the queue's word on screen, ctrl+k and
    enter cancel it (scancel), the state says so, and q quits with 0."""
    import uuid

    from tests.test_console_tmux import EZPZ_TUI, TMUX, start, tmux, wait_for_exit, wait_for_screen

    if TMUX is None:
        pytest.skip("tmux is not installed (.ci/run installs it)")
    outdir = tmp_path / "runs"
    argv = [str(EZPZ_TUI), "--submit", f"--outdir={outdir}", "--scheduler-arg=--hold"]
    done = subprocess.run(
        [*argv, "-n", "1", "--", "sleep", "600"],
        env=slurm_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    job = done.stdout.strip()
    session = f"ezpz-{uuid.uuid4().hex[:8]}"
    env = {**slurm_env, "HOME": str(tmp_path), "EZPZ_TUI_CONFIG_DIR": str(tmp_path / "config")}
    env["TERM"] = "xterm-256color"
    status = tmp_path / "status"
    try:
        start(session, status, env, [str(EZPZ_TUI), "--attach", job, f"--outdir={outdir}"])
        wait_for_screen(session, f"slurm job {job}: held (JobHeldUser) for", timeout=60)
        tmux("send-keys", "-t", session, "C-k")
        wait_for_screen(session, f"cancel slurm job {job}?")
        tmux("send-keys", "-t", session, "Enter")
        wait_for_screen(session, f"slurm job {job}: cancelled", timeout=60)
        tmux("send-keys", "-t", session, "q")
        assert wait_for_exit(status) == "0"
    finally:
        subprocess.run([str(TMUX), "kill-session", "-t", session], capture_output=True, check=False)
    state = subprocess.run(
        ["scontrol", "show", "job", "-o", job], env=slurm_env, capture_output=True, text=True
    ).stdout
    assert "JobState=CANCELLED" in state
