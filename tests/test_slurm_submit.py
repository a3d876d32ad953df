"""Submit and follow from a login node, against the real single-node Slurm 22.05
of ``tests/slurm/cluster.sh`` (skipped without it; failed with
``EZPZ_REQUIRE_SLURM=1``). This shell is the login node: no SLURM_JOB_ID, sbatch
on PATH. Every exit code is checked; every job is cancelled at the end."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from ezpz_core.run.rundir import RunStatus, run_info
from ezpz_core.submit.record import read_queue, read_submit
from tests.polling import until
from tests.test_slurm_real import EZPZ_TUI, slurm_env  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def jobs(slurm_env: dict[str, str]) -> Iterator[list[str]]:  # noqa: F811
    ids: list[str] = []
    yield ids
    for job in ids:
        subprocess.run(["scancel", job], env=slurm_env, capture_output=True, check=False)


def ezpz(env: dict[str, str], args: list[str], cwd: Path, timeout: float = 240):
    return subprocess.run(
        [str(EZPZ_TUI), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def scontrol_state(env: dict[str, str], job: str) -> str:
    out = subprocess.run(
        ["scontrol", "show", "job", "-o", job], env=env, capture_output=True, text=True
    ).stdout
    match = re.search(r"JobState=(\S+)", out)
    return match.group(1) if match else ""


def test_submit_wait_trains_on_two_ranks_and_exits_0(
    slurm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    jobs: list[str],
) -> None:
    done = ezpz(slurm_env, ["--submit", "--wait", "-n", "2", "--time", "5"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp_path / "outputs/ezpz-tui").iterdir()
    record = read_submit(run)
    assert record is not None and record.job_id
    jobs.append(record.job_id)
    assert "#SBATCH --ntasks=2" in (run / "job.sh").read_text()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["exit_code"] == 0 and summary["metrics"]["loss"]["count"] > 0
    assert "[0] " in done.stdout and "[1] " in done.stdout  # the ranks' lines, as --run prints
    assert f"job {record.job_id}: pending" in done.stderr or "running" in done.stderr
    assert "exit code   0, from the run's summary" in done.stderr
    assert run_info(run).status is RunStatus.FINISHED


def test_a_rank_that_exits_3_makes_the_job_exit_3(
    slurm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    jobs: list[str],
) -> None:
    code = "import os,sys; print('rank', os.environ.get('SLURM_PROCID')); sys.exit(3)"
    done = ezpz(
        slurm_env, ["--submit", "--wait", "-n", "1", "--time", "5", "--", "python3", "-c", code],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr[-3000:]
    (run,) = (tmp_path / "outputs/ezpz-tui").iterdir()
    job = read_submit(run).job_id  # type: ignore[union-attr]
    jobs.append(str(job))
    assert "[0] rank 0" in done.stdout
    assert until(lambda: scontrol_state(slurm_env, str(job))) == "FAILED"


def test_held_job_is_pending_then_attach_by_id_finds_it_and_scancel_ends_it(
    slurm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    jobs: list[str],
) -> None:
    done = ezpz(
        slurm_env,
        ["--submit", "--time", "5", "--scheduler-arg=--hold", "-n", "1", "--", "sleep", "600"],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    job = done.stdout.strip()
    jobs.append(job)
    assert job.isdigit()
    (run,) = (tmp_path / "outputs/ezpz-tui").iterdir()
    assert run_info(run).status is RunStatus.QUEUED
    from ezpz_core.kinds import SchedulerKind
    from ezpz_core.submit.client import SchedulerClient
    from ezpz_core.submit.follow import JobFollower
    from ezpz_tui.cli import attach_target

    follower = JobFollower(run, SchedulerClient(SchedulerKind.SLURM, slurm_env))
    assert follower.poll(force=True)
    assert follower.state is not None and follower.state.reason == "JobHeldUser"
    assert read_queue(run).state.value == "held"  # type: ignore[union-attr]
    # by id: from the run's own record, and (another --outdir) from where Slurm writes job.out
    assert attach_target(job, str(tmp_path / "outputs/ezpz-tui"), slurm_env) == run
    assert attach_target(job, str(tmp_path / "elsewhere"), slurm_env) == run
    cancelled = subprocess.run(["scancel", job], env=slurm_env, capture_output=True, text=True)
    assert cancelled.returncode == 0, cancelled.stderr
    until(lambda: follower.poll(force=True) and follower.state.state.final)  # type: ignore[union-attr]
    ending = follower.ending()
    assert ending is not None and ending.state.value == "cancelled" and not ending.from_summary
    assert run_info(run).status is RunStatus.GONE


def test_scancel_of_a_running_job_leaves_no_process_and_says_cancelled(
    slurm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    jobs: list[str],
) -> None:
    done = ezpz(slurm_env, ["--submit", "--time", "5", "-n", "1", "--", "sleep", "600"], tmp_path)
    assert done.returncode == 0, done.stderr
    job = done.stdout.strip()
    jobs.append(job)
    (run,) = (tmp_path / "outputs/ezpz-tui").iterdir()
    until(lambda: (run / "owner.json").exists() and scontrol_state(slurm_env, job) == "RUNNING")
    assert subprocess.run(["scancel", job], env=slurm_env, check=False).returncode == 0
    until(lambda: scontrol_state(slurm_env, job) == "CANCELLED")

    def left() -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if str(run) in cmdline or cmdline == "sleep 600":
                found.append(proc)
        return found

    until(lambda: not left(), timeout=30)
