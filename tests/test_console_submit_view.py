"""The console's Submit and the view of a submitted job, in emulated places.

Where Submit is offered (an emulated Aurora login node, not inside a job or on
a laptop), the dialog's fields and their errors, what it remembers, and the run
view of a job waiting in the queue. The queue is a stand-in here: a
``scontrol`` script that prints what this machine's real Slurm 22.05 printed
for a held job (``tests/data/slurm/scontrol-held.txt``), and an ``sbatch`` that
refuses as the real one does. The real Slurm end to end is in
``tests/test_console_submit.py``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from ezpz_core.submit.record import SubmitRecord, read_submit, write_submit
from ezpz_tui.app import EzpzApp
from ezpz_tui.form import LaunchForm
from ezpz_tui.screens.dialogs import ChooseDialog
from ezpz_tui.screens.run import RunScreen
from ezpz_tui.screens.submit import SubmitDialog
from ezpz_tui.surroundings import Surroundings
from ezpz_tui.widgets.runbar import RunBar
from tests.console_fixtures import LOGIN_NOW, _place, aurora, aurora_login, laptop, perlmutter
from tests.fakes import FakeProbe
from tests.hermetic import no_scheduler_path
from tests.test_app import errors, key_bar_keys, no_blinking, settle

SnapCompare = Callable[..., bool]
SLURM_DATA = Path(__file__).parent / "data" / "slurm"
QUEUED_RUN = Path("/tmp/ezpz-tui-submit-fixtures/20261203-185855-ezpz")  # shown in the bar
DEADLINE_S = 30.0


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "config"


async def until(pilot: Pilot[None], done: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def stand_in(folder: Path, name: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def slurm_login(
    config: Path, bin_dir: Path, cwd: Path, form: LaunchForm | None = None
) -> Surroundings:
    """A Slurm login node whose clients are the stand-ins in ``bin_dir``."""
    import dataclasses

    place = _place(
        {"PATH": f"{bin_dir}{os.pathsep}{no_scheduler_path()}", "HOME": "/home/user"},
        config,
        form or LaunchForm(np="2", command="python3 train.py"),
        hostname="login1",
        probe=FakeProbe(found={"srun": "srun"}),
        cpus=8,
        clock=lambda: LOGIN_NOW,
    )
    return dataclasses.replace(place, cwd=str(cwd), outdir=str(cwd / "runs"))


async def open_submit(app: EzpzApp, pilot: Pilot[None]) -> SubmitDialog:
    await settle(app, pilot)
    await pilot.press("ctrl+n")
    await until(pilot, lambda: isinstance(app.screen, SubmitDialog), "the Submit dialog")
    dialog = app.screen
    assert isinstance(dialog, SubmitDialog)
    await pilot.pause()
    return dialog


def script_of(dialog: SubmitDialog) -> str:
    return str(dialog.query_one("#script").render())


# -- where Submit is offered -----------------------------------------------------------


@pytest.mark.parametrize(
    ("place", "offered"),
    [(aurora_login, True), (aurora, False), (perlmutter, False), (laptop, False)],
    ids=["aurora-login", "aurora-job", "slurm-job", "laptop"],
)
async def test_submit_is_offered_on_a_login_node_only(
    config: Path, place: Callable[[Path], Surroundings], offered: bool
) -> None:
    app = EzpzApp(place(config))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        assert ("^n" in key_bar_keys(app)) is offered
        await pilot.press("ctrl+n")
        await settle(app, pilot)
        assert isinstance(app.screen, SubmitDialog) is offered


# -- the dialog ------------------------------------------------------------------------


async def test_the_dialog_shows_the_pbs_script_the_fields_make(config: Path) -> None:
    app = EzpzApp(aurora_login(config, LaunchForm(np="24", ppn="12")))
    async with app.run_test(size=(100, 40)) as pilot:
        dialog = await open_submit(app, pilot)
        assert dialog.query_one("#batch-nodes", Input).value == "2"  # -n 24 --ppn 12
        for field, text in (("time", "1:30"), ("queue", "debug"), ("account", "datascience")):
            dialog.query_one(f"#batch-{field}", Input).focus()
            await pilot.press(*text)
        dialog.query_one("#batch-scheduler_args", Input).focus()
        await pilot.press(*"'-l filesystems=home:flare'")
        await pilot.pause()
        lines = script_of(dialog).splitlines()
        assert lines[:5] == [
            "#!/bin/bash",
            "#PBS -N ezpz",
            "#PBS -l select=2:mpiprocs=12",
            "#PBS -l place=scatter",
            "#PBS -l walltime=01:30:00",
        ]
        assert "#PBS -q debug" in lines and "#PBS -A datascience" in lines
        assert lines[lines.index("#PBS -k doe") + 2] == "#PBS -l filesystems=home:flare"
        assert lines[-1].startswith("exec python3 -m ezpz_tui.cli --run --quiet --run-dir=")
        assert "--np=24 --ppn=12" in lines[-1]


async def test_a_bad_field_shows_its_error_and_enter_submits_nothing(config: Path) -> None:
    app = EzpzApp(aurora_login(config))
    async with app.run_test(size=(100, 40)) as pilot:
        dialog = await open_submit(app, pilot)
        dialog.query_one("#batch-time", Input).focus()
        await pilot.press(*"1:75")
        await pilot.pause()
        error = str(dialog.query_one("#batch-error-time").render())
        assert "minutes and seconds must be below 60" in error
        assert "-invalid" in dialog.query_one("#batch-label-time").classes
        assert script_of(dialog) == "(fix the fields above)"
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is dialog  # not submitted
        await pilot.press("backspace", "backspace", "3", "0")
        await pilot.pause()
        assert dialog.errors == {}
        assert "#PBS -l walltime=01:30:00" in script_of(dialog)
        await pilot.press("escape")
        await settle(app, pilot)
        assert not isinstance(app.screen, SubmitDialog)
        assert app.run_watch is None  # escape submits nothing


async def test_a_refused_submission_says_why_keeps_the_script_and_attaches_nothing(
    config: Path, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    message = (
        "sbatch: error: Batch job submission failed: "
        "Invalid account or account/partition combination specified"
    )
    stand_in(bin_dir, "sbatch", f"echo '{message}' >&2\nexit 1\n")
    app = EzpzApp(slurm_login(config, bin_dir, tmp_path))
    async with app.run_test(size=(100, 40)) as pilot:
        dialog = await open_submit(app, pilot)
        dialog.query_one("#batch-account", Input).focus()
        await pilot.press(*"nosuch")
        await pilot.press("enter")
        await until(pilot, lambda: errors(app), "the refusal")
        (said,) = errors(app)
        assert message in said and "script kept in" in said
        assert app.run_watch is None
    (run,) = (tmp_path / "runs").iterdir()
    assert "#SBATCH --account=nosuch" in (run / "job.sh").read_text()
    record = read_submit(run)
    assert record is not None and record.job_id is None and message in record.error


async def test_the_fields_of_the_last_submit_come_back(config: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    stand_in(bin_dir, "sbatch", "echo '4242;cluster'\n")
    stand_in(bin_dir, "scontrol", f"cat {SLURM_DATA / 'scontrol-held.txt'}\n")
    app = EzpzApp(slurm_login(config, bin_dir, tmp_path))
    async with app.run_test(size=(100, 40)) as pilot:
        dialog = await open_submit(app, pilot)
        for field, text in (("queue", "debug"), ("account", "myproj"), ("time", "30")):
            dialog.query_one(f"#batch-{field}", Input).focus()
            await pilot.press(*text)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run view")
        await until(pilot, lambda: "4242" in app.runs.job_line, "the job's line")
    app = EzpzApp(slurm_login(config, bin_dir, tmp_path))
    async with app.run_test(size=(100, 40)) as pilot:
        dialog = await open_submit(app, pilot)
        values = {
            f: dialog.query_one(f"#batch-{f}", Input).value for f in ("queue", "account", "time")
        }
        assert values == {"queue": "debug", "account": "myproj", "time": "30"}


# -- a job in the queue ------------------------------------------------------------------


def queued_run(bin_dir: Path, submitted: float) -> Path:
    """A run the console submitted: job 3, held (as the stand-in scontrol says)."""
    import shutil

    if QUEUED_RUN.exists():
        shutil.rmtree(QUEUED_RUN)
    QUEUED_RUN.mkdir(parents=True)
    (QUEUED_RUN / "job.sh").write_text("#!/bin/bash\n")
    write_submit(
        QUEUED_RUN,
        SubmitRecord(
            scheduler="slurm",
            job_id="3",
            submitted=submitted,
            host="login1",
            submit_dir="/home/user/project",
            argv=("sbatch", "--parsable", str(QUEUED_RUN / "job.sh")),
        ),
    )
    stand_in(bin_dir, "scontrol", f"cat {SLURM_DATA / 'scontrol-held.txt'}\n")
    stand_in(bin_dir, "scancel", f'echo "$@" >> {bin_dir / "scancel.log"}\n')
    return QUEUED_RUN


def queued_app(config: Path, bin_dir: Path, cwd: Path) -> EzpzApp:
    run = queued_run(bin_dir, LOGIN_NOW - 65)
    return EzpzApp(slurm_login(config, bin_dir, cwd), attach=run)


def bar(app: EzpzApp) -> str:
    screen = app.screen
    assert isinstance(screen, RunScreen)
    return str(screen.query_one(RunBar).render())


async def test_a_queued_run_shows_what_the_queue_says(config: Path, tmp_path: Path) -> None:
    app = queued_app(config, tmp_path / "bin", tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        held = f"{QUEUED_RUN.name} · slurm job 3: held (JobHeldUser) for 1:05"
        await until(pilot, lambda: held in bar(app), "the queue's answer in the run bar")
        assert "in the queue" not in bar(app)
        assert "-queued" in app.screen.query_one(RunBar).classes
        assert app.runs.live()


async def test_quitting_offers_to_cancel_the_queued_job(config: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    app = queued_app(config, bin_dir, tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: "held" in app.runs.job_line, "the queue's answer")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ChooseDialog), "the quit dialog")
        labels = [label for label, _ in app.screen.choices]  # type: ignore[attr-defined]
        assert labels[0] == "Cancel job 3, then quit"
        assert labels[1] == "Leave it in the queue (ezpz-tui --attach 3)"
        await pilot.press("enter")
        await until(pilot, lambda: (bin_dir / "scancel.log").exists(), "scancel")
    assert (bin_dir / "scancel.log").read_text() == "3\n"


async def test_ctrl_k_asks_before_it_cancels_and_no_keeps_the_job(
    config: Path, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    app = queued_app(config, bin_dir, tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: "held" in app.runs.job_line, "the queue's answer")
        await pilot.press("ctrl+k")
        await until(pilot, lambda: isinstance(app.screen, ChooseDialog), "the confirmation")
        labels = [label for label, _ in app.screen.choices]  # type: ignore[attr-defined]
        assert labels == ["Cancel the job (scancel 3)", "Keep it"]
        await pilot.press("down", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen), "the run view again")
        await pilot.pause(0.3)
        assert not (bin_dir / "scancel.log").exists()
        assert app.runs.live()


# -- snapshots ---------------------------------------------------------------------------


def test_the_submit_dialog_matches_its_snapshot(
    snap_compare: SnapCompare, config: Path, utc: None
) -> None:
    app = EzpzApp(aurora_login(config, LaunchForm(np="24", ppn="12")))

    async def run_before(pilot: Pilot[None]) -> None:
        dialog = await open_submit(app, pilot)
        for field, text in (("time", "1:30"), ("queue", "debug"), ("account", "datascience")):
            dialog.query_one(f"#batch-{field}", Input).focus()
            await pilot.press(*text)
        no_blinking(app)
        for field in dialog.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_a_queued_run_view_matches_its_snapshot(
    snap_compare: SnapCompare, config: Path, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = queued_app(config, tmp_path / "bin", tmp_path)

    async def run_before(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: "held" in app.runs.job_line, "the queue's answer")
        await until(pilot, app.runs.settled, "the watcher")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


async def test_a_queue_that_does_not_answer_never_holds_up_the_lines(
    config: Path, tmp_path: Path
) -> None:
    """The queue is asked on a thread of its own: while ``scontrol`` hangs (a busy
    controller), the lines the job writes still arrive."""
    bin_dir = tmp_path / "bin"
    app = queued_app(config, bin_dir, tmp_path)
    gate = tmp_path / "answer"
    stand_in(
        bin_dir,
        "scontrol",
        f"while [ ! -e {gate} ]; do sleep 0.05; done\ncat {SLURM_DATA / 'scontrol-held.txt'}\n",
    )
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.run_watch is not None, "the watch")
        with (QUEUED_RUN / "combined.log").open("a") as log:
            log.write("[0] hello from rank 0\n[1] hello from rank 1\n")
        watch = app.run_watch
        assert watch is not None
        await until(pilot, lambda: len(watch.ranks_of) == 2, "the lines, while scontrol hangs")
        assert app.runs.job_line == ""  # the queue has not answered yet
        gate.touch()
        await until(pilot, lambda: "held" in app.runs.job_line, "the queue's answer")
