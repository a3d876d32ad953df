"""``ezpz-tui --submit`` and ``--attach JOBID`` through the real CLI entry, in process.

``ezpz_tui.cli.main(argv)`` is called as the console script calls it (argparse's
own exits caught as the exit code), with ``os.environ`` replaced by a hermetic
one: ``PATH`` is ``tests/hermetic.py``'s ``no_scheduler_path()`` (a laptop) or
that behind a directory of stand-in ``sbatch``/``squeue``/``scontrol``/
``scancel`` (a Slurm login node: ``sbatch`` on PATH is how one is told apart)
or a stand-in ``qsub`` (a PBS one), and ``EZPZ_MACHINE=generic`` so this host's
name decides nothing.

The stand-ins are for the CLI's own paths, errors first: each records how it was
called and answers what a real one answers (sbatch's refusal, ``--parsable``'s
``ID;cluster``, "Invalid job id specified"). Submitting to the real Slurm 22.05
is ``test_slurm_submit.py``. Every case checks the exit code and the message on
stderr, and that no traceback is printed.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ezpz_core.errors import UsageError
from ezpz_core.run.rundir import RunStatus, run_info
from ezpz_core.submit.record import read_submit
from ezpz_tui.cli import attach_target, main
from tests.hermetic import no_scheduler_path

REFUSAL = (
    "sbatch: error: Batch job submission failed: "
    "Invalid account or account/partition combination specified"
)
INVALID_JOB = "slurm_load_jobs error: Invalid job id specified"


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str


@dataclass
class Shell:
    """The shell ``ezpz-tui`` runs in: its environment, cwd and ``--outdir``."""

    tmp: Path
    cwd: Path
    outdir: Path
    bin: Path
    monkeypatch: pytest.MonkeyPatch

    @property
    def env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}

    def standin(self, name: str, body: str) -> None:
        """``bin/NAME``: records its cwd and argv (one a line) in ``NAME.calls``,
        then runs ``body``."""
        self.bin.mkdir(exist_ok=True)
        calls = self.tmp / f"{name}.calls"
        script = self.bin / name
        script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$PWD" "$@" > "{calls}"\n{body}\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        self.monkeypatch.setenv("PATH", f"{self.bin}{os.pathsep}{no_scheduler_path()}")

    def calls(self, name: str) -> list[str] | None:
        """The stand-in's cwd and argv, or None when it was not run."""
        path = self.tmp / f"{name}.calls"
        return path.read_text().splitlines() if path.exists() else None

    def slurm_login_node(self, sbatch: str = 'echo "4242;cluster"') -> None:
        self.standin("sbatch", sbatch)
        for name in ("squeue", "scontrol"):
            self.standin(name, f'echo "{INVALID_JOB}" >&2; exit 1')
        self.standin("scancel", "exit 0")

    def pbs_login_node(self) -> None:
        self.standin("qsub", 'echo "4242.pbs01"')
        self.standin("qstat", 'echo "qstat: Unknown Job Id $5" >&2; exit 153')

    def runs(self) -> list[Path]:
        return sorted(self.outdir.iterdir()) if self.outdir.exists() else []


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shell]:
    for key in list(os.environ):
        if not key.startswith("PYTEST_"):  # pytest's own bookkeeping stays
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    cwd = tmp_path / "project"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("PATH", no_scheduler_path())
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("EZPZ_MACHINE", "generic")
    monkeypatch.chdir(cwd)
    yield Shell(tmp_path, cwd, tmp_path / "out", tmp_path / "bin", monkeypatch)


def cli(shell: Shell, capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    """``ezpz-tui ARGV`` in this process: its exit code, stdout and stderr."""
    capsys.readouterr()
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse's errors exit; the console script exits alike
        rc = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return Result(rc, out, err)


def submit(shell: Shell, capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    return cli(shell, capsys, "--submit", f"--outdir={shell.outdir}", *argv)


def assert_refused(result: Result, rc: int, *needles: str) -> None:
    """Exit ``rc``, one ``ezpz-tui: error:`` line naming ``needles``, nothing on stdout."""
    assert result.rc == rc, result
    assert result.stderr.startswith("ezpz-tui: error: "), result.stderr
    assert result.stderr.count("error:") == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
    assert result.stdout == ""


# -- where --submit can run ---------------------------------------------------------


def test_submit_on_a_laptop_says_it_needs_a_batch_system(
    shell: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    result = submit(shell, capsys, "--", "python3", "train.py")
    assert_refused(result, 2, "--submit needs a batch system", "no sbatch or qsub on PATH", "--run")
    assert not shell.outdir.exists()


def test_submit_dry_run_on_a_laptop_is_refused_too(
    shell: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_refused(submit(shell, capsys, "--dry-run"), 2, "--submit needs a batch system")


@pytest.mark.parametrize(
    "args",
    [
        ["--nodes", "2"],
        ["--time", "1:00:00"],
        ["--queue", "debug"],
        ["--account", "myproj"],
        ["--job-name", "lr-sweep"],
        ["--scheduler-arg=--gpus-per-node=4"],
        ["--wait"],
        ["--run", "--nodes", "2"],
        ["--dry-run", "--time", "30"],
    ],
    ids=lambda args: "+".join(a.split("=")[0].lstrip("-") for a in args if a.startswith("-")),
)
def test_batch_flags_need_submit(
    shell: Shell, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    shell.slurm_login_node()
    flag = next(a.split("=")[0] for a in args if a not in ("--run", "--dry-run"))
    result = cli(shell, capsys, *args, "--", "python3", "train.py")
    assert_refused(result, 2, f"{flag} needs --submit")
    assert shell.calls("sbatch") is None


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--run-dir", "runs/a"], "--run-dir needs --run or --submit"),
        (["--dry-run", "--run-dir", "runs/a"], "--run-dir needs --run or --submit"),
        (["--quiet"], "--quiet needs --run or --submit"),
        (["--submit", "--wait", "--dry-run"], "--wait follows a submitted job"),
        (["--submit", "--json"], "--json needs --dry-run or --check (not --submit)"),
        (["--submit", "--run"], "separate modes"),
    ],
    ids=["run-dir", "run-dir-dry", "quiet", "wait-dry-run", "json", "submit-run"],
)
def test_flags_that_do_not_go_together_are_refused(
    shell: Shell, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    shell.slurm_login_node()
    assert_refused(cli(shell, capsys, *args), 2, needle)
    assert not (shell.cwd / "runs").exists()
    assert shell.calls("sbatch") is None


# -- values the batch script cannot take ----------------------------------------------


@pytest.mark.parametrize("dry_run", [False, True], ids=["submit", "dry-run"])
@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--time", "1:75"], ("--time '1:75'", "below 60")),
        (["--time", "soon"], ("--time 'soon'", "expected HH:MM:SS")),
        (["--time", "0"], ("--time '0'", "longer than 0 seconds")),
        (["--job-name", "9lives"], ("--job-name '9lives'", "use a letter")),
        (["--job-name", "lr sweep"], ("--job-name 'lr sweep'",)),
        (["--scheduler-arg=constraint=gpu"], ("'constraint=gpu'", "starts with '-'")),
        (["--scheduler-arg=--a=1\n--b=2"], ("without line breaks",)),
        (["--scheduler-arg="], ("--scheduler-arg: expected a value",)),
        (["--queue", "-p debug"], ("queue: one name without spaces",)),
        (["--nodes", "0"], ("--nodes", ">= 1")),
    ],
    ids=[
        "time-minutes",
        "time-word",
        "time-zero",
        "name-digit",
        "name-space",
        "arg-no-dash",
        "arg-newline",
        "arg-empty",
        "queue-flag",
        "nodes-zero",
    ],
)
def test_bad_batch_values_exit_2_and_create_nothing(
    shell: Shell,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    needles: tuple[str, ...],
    dry_run: bool,
) -> None:
    shell.slurm_login_node()
    result = submit(shell, capsys, *args, *(["--dry-run"] if dry_run else []))
    assert_refused(result, 2, *needles)
    assert not shell.outdir.exists()
    assert shell.calls("sbatch") is None


def test_every_bad_value_is_named_at_once(shell: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.slurm_login_node()
    result = submit(shell, capsys, "--time", "soon", "--job-name", "9lives")
    assert_refused(result, 2, "--time 'soon'", "--job-name '9lives'")
    assert not shell.outdir.exists()


def test_an_outdir_with_a_space_is_refused_under_pbs(
    shell: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.pbs_login_node()
    outdir = shell.tmp / "my runs"
    for extra in ([], ["--dry-run"]):
        result = cli(shell, capsys, "--submit", f"--outdir={outdir}", *extra)
        assert_refused(result, 2, "PBS directives", "choose an --outdir without spaces")
    assert not outdir.exists()
    assert shell.calls("qsub") is None


# -- submitting -------------------------------------------------------------------------


def test_a_refused_submission_exits_1_with_sbatch_s_words_and_keeps_the_script(
    shell: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.slurm_login_node(sbatch=f'echo "{REFUSAL}" >&2; exit 1')
    result = submit(shell, capsys, "--account", "nosuch", "--", "python3", "train.py")
    assert result.rc == 1, result
    assert result.stdout == ""
    (run,) = shell.runs()
    script = run / "job.sh"
    assert f"ezpz-tui: error: sbatch refused the job: {REFUSAL}\n" in result.stderr
    assert f"the script is kept in {script}" in result.stderr
    assert "#SBATCH --account=nosuch\n" in script.read_text()
    assert os.access(script, os.X_OK)
    record = read_submit(run)
    assert record is not None
    assert (record.scheduler, record.job_id, record.error) == ("slurm", None, REFUSAL)
    assert record.argv == ("sbatch", "--parsable", str(script))
    assert record.request["account"] == "nosuch"
    assert shell.calls("sbatch") == [str(shell.cwd), "--parsable", str(script)]
    info = run_info(run)
    assert info.status is RunStatus.GONE and REFUSAL in info.reason


def test_a_submission_prints_the_job_id_and_records_it(
    shell: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.slurm_login_node()  # sbatch --parsable answers "4242;cluster"
    result = submit(
        shell,
        capsys,
        *("--nodes", "2", "--time", "90", "--queue", "debug", "--account", "proj"),
        *("--job-name", "lr-sweep", "--scheduler-arg=--gpus-per-node=4"),
        *("-n", "8", "--", "python3", "train.py", "--lr", "0.1"),
    )
    assert result.rc == 0, result.stderr
    assert result.stdout == "4242\n"  # only the id: JOB=$(ezpz-tui --submit ...)
    (run,) = shell.runs()
    assert run.name.endswith("-lr-sweep")
    assert "ezpz-tui: submitted job 4242 (slurm)" in result.stderr
    assert "--attach 4242" in result.stderr and str(run) in result.stderr
    record = read_submit(run)
    assert record is not None and record.job_id == "4242"
    assert record.submit_dir == str(shell.cwd)
    assert record.request == {
        "nodes": 2,
        "time": "01:30:00",
        "queue": "debug",
        "account": "proj",
        "job_name": "lr-sweep",
        "scheduler_args": ["--gpus-per-node=4"],
    }
    script = (run / "job.sh").read_text()
    for line in (
        "#SBATCH --nodes=2",
        "#SBATCH --time=01:30:00",
        "#SBATCH --partition=debug",
        "#SBATCH --gpus-per-node=4",
        f"#SBATCH --output={run}/job.out",
        f"cd {shell.cwd} || exit 1",
    ):
        assert f"\n{line}\n" in script, line
    assert f"--run-dir={run}" in script and "python3 train.py --lr 0.1\n" in script
    assert shell.calls("sbatch") == [str(shell.cwd), "--parsable", str(run / "job.sh")]
    assert run_info(run).status is RunStatus.QUEUED
    # --attach 4242 finds it by its record
    assert attach_target("4242", str(shell.outdir), shell.env) == run


def test_submit_dry_run_prints_the_script_and_creates_nothing(
    shell: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.slurm_login_node()
    result = submit(shell, capsys, "--dry-run", "--nodes", "2", "--", "python3", "train.py")
    assert result.rc == 0, result.stderr
    assert result.stdout.startswith("#!/bin/bash\n#SBATCH --job-name=ezpz\n#SBATCH --nodes=2\n")
    assert result.stdout.endswith("python3 train.py\n")
    assert f"--run-dir={shell.outdir}/" in result.stdout
    assert "--dry-run: nothing written or submitted" in result.stderr
    assert str(shell.outdir) in result.stderr
    assert not shell.outdir.exists()
    assert shell.calls("sbatch") is None


# -- --attach JOBID ---------------------------------------------------------------------


def test_attach_finds_the_run_a_job_id_names_under_outdir(shell: Shell) -> None:
    from ezpz_core.submit.record import SubmitRecord, write_submit

    runs = {}
    for name, job, submitted in (("a", "4241", 1.0), ("b", "4242", 2.0), ("c", None, 3.0)):
        run = shell.outdir / name
        run.mkdir(parents=True)
        record = SubmitRecord("slurm", job, submitted, "login1", str(shell.cwd), ("sbatch",))
        write_submit(run, record)
        runs[name] = run
    assert attach_target("4242", str(shell.outdir), shell.env) == runs["b"]
    assert attach_target("4241", str(shell.outdir), shell.env) == runs["a"]
    assert attach_target(str(runs["c"]), str(shell.outdir), shell.env) == runs["c"]


def test_attach_to_an_unknown_job_on_a_laptop_is_exit_2(
    shell: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.outdir.mkdir()
    result = cli(shell, capsys, "--attach", "999", f"--outdir={shell.outdir}")
    assert_refused(
        result, 2, f"--attach 999: no run of job 999 under {shell.outdir}", "--attach DIR"
    )
    with pytest.raises(UsageError, match="no run of job 999"):
        attach_target("999", str(shell.outdir), shell.env)


def test_attach_to_a_job_slurm_does_not_know_says_so(
    shell: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.slurm_login_node()
    result = cli(shell, capsys, "--attach", "999", f"--outdir={shell.outdir}")
    assert_refused(result, 2, "no run of job 999", "scontrol does not know it either")
    assert shell.calls("scontrol") == [str(shell.cwd), "show", "job", "-o", "999"]


def test_submit_json_is_one_json_object(shell: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    """What --attach and run listings read back: plain JSON, the id as a string."""
    shell.slurm_login_node()
    assert submit(shell, capsys).rc == 0
    (run,) = shell.runs()
    data = json.loads((run / "submit.json").read_text())
    assert data["job_id"] == "4242" and data["scheduler"] == "slurm"
    assert sorted(p.name for p in run.iterdir()) == ["job.sh", "submit.json"]
