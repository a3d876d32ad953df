"""Submit and follow from a login node, against an emulated PBS Pro 2022.

PBS is emulated because no PBS server can run here: OpenPBS needs root-owned
daemons (pbs_server, pbs_sched, pbs_mom, pbs_comm) and a PostgreSQL data
service, and no package of it is at hand. ``tests/pbs_emu/`` holds
``qsub``, ``qstat`` and ``qdel`` (stdlib Python, state under
``$EZPZ_PBS_EMU_DIR``) that present themselves as PBS Pro does, checked against
OpenPBS's sources: ``qsub SCRIPT`` reads the ``#PBS`` directives, prints
``1001.pbs01`` and really runs the script with bash, detached, in its own
session, from ``$HOME``, with a job's environment (``PBS_JOBID``,
``PBS_NODEFILE`` with the host ``mpiprocs`` times, ``PBS_O_WORKDIR``, ...) and
``-k doe`` output; ``qstat -f -F json [-x]`` gives PBS's JSON (Q, R, F;
``Exit_status`` is the script's code, 256 + N for signal N, none for a job
deleted while queued, -29 past its walltime) and its errors and exit codes
(``Unknown Job Id``: 153, ``Job has finished``: 35); ``qdel`` removes a queued
job and sends SIGTERM to a running job's session, then SIGKILL after
kill_delay. Knobs: ``EZPZ_PBS_EMU_REJECT`` (a refusal), ``EZPZ_PBS_EMU_HOLD``
(it never leaves the queue), ``EZPZ_PBS_EMU_HISTORY=0`` (a server without job
history). What it does not reproduce: more than one host, a scheduler cycle,
``qstat -F dsv``, array jobs.

This shell is the login node: no ``PBS_JOBID``, ``qsub`` on PATH. The real
``ezpz-tui`` runs as a subprocess; every exit code is checked; every job still
queued or running at a test's end is deleted and waited for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import psutil
import pytest

from ezpz_core.kinds import SchedulerKind
from ezpz_core.run.rundir import RunStatus, run_info
from ezpz_core.submit.client import SchedulerClient
from ezpz_core.submit.follow import JobFollower
from ezpz_core.submit.queue import QueueState
from ezpz_core.submit.record import read_queue, read_submit
from tests.hermetic import no_scheduler_path
from tests.polling import until

pytestmark = pytest.mark.timeout(120)

VENV_BIN = Path(sys.executable).parent
EZPZ_TUI = VENV_BIN / "ezpz-tui"
EMU = Path(__file__).parent / "pbs_emu"
T = TypeVar("T")


@pytest.fixture
def pbs_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The login node: the emulator's clients first, then the venv (the job's
    ``mpiexec`` is Open MPI's wheel there), then a PATH without real scheduler
    clients; a fresh HOME (where a PBS job starts)."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.pathsep.join([str(EMU), str(VENV_BIN), no_scheduler_path()]),
        "HOME": str(home),
        "EZPZ_PBS_EMU_DIR": str(tmp_path / "pbs-server"),
        "NO_COLOR": "1",
    }
    yield env
    state = tmp_path / "pbs-server" / "jobs"
    open_jobs = [
        job["id"]
        for path in (state.glob("*.json") if state.exists() else [])
        if (job := json.loads(path.read_text()))["job_state"] != "F"
    ]
    for job in open_jobs:
        subprocess.run([str(EMU / "qdel"), job], env=env, capture_output=True, check=False)
    until(lambda: all(qstat(env, job, "-x").get("job_state") in ("F", None) for job in open_jobs))


def ezpz(env: dict[str, str], args: list[str], cwd: Path, timeout: float = 90):
    return subprocess.run(
        [str(EZPZ_TUI), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def qstat(env: dict[str, str], job: str, *flags: str) -> dict:
    """The job's attributes from ``qstat -f -F json``; {} when qstat does not list it."""
    done = subprocess.run(
        ["qstat", "-f", "-F", "json", *flags, job], env=env, capture_output=True, text=True
    )
    jobs = json.loads(done.stdout).get("Jobs", {})
    assert (done.returncode == 0) == bool(jobs), (done.returncode, done.stderr)
    return next(iter(jobs.values()), {})


def finished(env: dict[str, str], job: str) -> dict:
    """The job's attributes once ``qstat -x`` says it finished (F)."""
    return until(lambda: (attrs := qstat(env, job, "-x")).get("job_state") == "F" and attrs)


def only_run(tmp_path: Path) -> Path:
    (run,) = (tmp_path / "outputs/ezpz-tui").iterdir()
    return run


# -- the emulator itself --------------------------------------------------------


def test_the_emulator_answers_as_pbs_pro_does(pbs_env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text(
        "#!/bin/bash\n#PBS -N probe\n#PBS -l select=1:mpiprocs=3\n#PBS -j oe\n#PBS -k doe\n"
        f"#PBS -o {tmp_path}/probe.out\n"
        'echo "cwd=$PWD id=$PBS_JOBID name=$PBS_JOBNAME wd=$PBS_O_WORKDIR q=$PBS_QUEUE"\n'
        'cat "$PBS_NODEFILE"; echo to-stderr >&2; exit 3\n'
    )
    done = subprocess.run(
        ["qsub", str(script)], env=pbs_env, cwd=tmp_path, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "1001.pbs01\n", "")
    job = finished(pbs_env, "1001")
    assert job["job_state"] == "F" and job["Exit_status"] == 3
    assert job["Resource_List"]["select"] == "1:mpiprocs=3" and job["Resource_List"]["nodect"] == 1
    assert job["Output_Path"].endswith(f":{tmp_path}/probe.out")
    assert job["comment"].startswith("Job run at ") and job["comment"].endswith(" and finished")
    host = job["exec_host"].split("/")[0]
    lines = (tmp_path / "probe.out").read_text().splitlines()
    assert lines == [
        f"cwd={pbs_env['HOME']} id=1001.pbs01 name=probe wd={tmp_path} q=workq",
        host, host, host,
        "to-stderr",
    ]  # fmt: skip
    # a finished job: gone without -x (35), unknown ids (153), in PBS's words
    for argv, rc, message in [
        (["qstat", "-f", "-F", "json", "1001"], 35,
         "qstat: 1001.pbs01 Job has finished, use -x or -H to obtain historical job information"),
        (["qstat", "-f", "-F", "json", "-x", "77"], 153, "qstat: Unknown Job Id 77.pbs01"),
        (["qdel", "1001.pbs01"], 35, "qdel: Job has finished 1001.pbs01"),
        (["qdel", "77"], 153, "qdel: Unknown Job Id 77.pbs01"),
    ]:  # fmt: skip
        answer = subprocess.run(argv, env=pbs_env, capture_output=True, text=True)
        assert (answer.returncode, answer.stderr.strip()) == (rc, message), argv
    header = json.loads(
        subprocess.run(
            ["qstat", "-f", "-F", "json", "77"], env=pbs_env, capture_output=True, text=True
        ).stdout
    )
    assert set(header) == {"timestamp", "pbs_version", "pbs_server"}  # no "Jobs" at all
    unset = {k: v for k, v in pbs_env.items() if k != "EZPZ_PBS_EMU_DIR"}
    answer = subprocess.run(["qstat", "1001"], env=unset, capture_output=True, text=True)
    assert answer.returncode == 2 and "EZPZ_PBS_EMU_DIR is not set" in answer.stderr


# -- ezpz-tui --submit against it -----------------------------------------------


def test_dry_run_on_the_login_node_prints_a_pbs_script_and_creates_nothing(
    pbs_env: dict[str, str], tmp_path: Path
) -> None:
    done = ezpz(pbs_env, ["--submit", "--dry-run", "-n", "2", "--time", "5"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("#!/bin/bash\n#PBS -N ezpz\n")
    assert "#PBS -l select=1:mpiprocs=2\n" in done.stdout
    assert "#PBS -l walltime=00:05:00\n" in done.stdout
    assert "#PBS -j oe\n#PBS -k doe\n#PBS -o " in done.stdout
    assert "nothing written or submitted" in done.stderr
    assert not (tmp_path / "outputs").exists()
    assert not (tmp_path / "pbs-server" / "jobs").exists()  # qsub was never run


def test_submit_wait_trains_on_two_ranks_and_exits_0(
    pbs_env: dict[str, str], tmp_path: Path
) -> None:
    done = ezpz(pbs_env, ["--submit", "--wait", "-n", "2", "--time", "5"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run = only_run(tmp_path)
    record = read_submit(run)
    assert record is not None and record.job_id == "1001.pbs01" and record.scheduler == "pbs"
    assert "#PBS -l select=1:mpiprocs=2" in (run / "job.sh").read_text()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["exit_code"] == 0 and summary["metrics"]["loss"]["count"] > 0
    plan = json.loads((run / "plan.json").read_text())
    assert plan["world_size"] == 2 and plan["argv"][0] == "mpiexec"  # in the job: PBS's launcher
    for rank in (0, 1):
        assert (run / "ranks" / f"rank-{rank}.log").stat().st_size > 0
    assert "ezpz-tui summary" in (run / "job.out").read_text()  # -k doe: written in place
    assert "[0] " in done.stdout and "[1] " in done.stdout
    assert "job 1001.pbs01: pending" in done.stderr or "job 1001.pbs01: running" in done.stderr
    assert "exit code   0, from the run's summary" in done.stderr
    assert run_info(run).status is RunStatus.FINISHED
    job = finished(pbs_env, "1001.pbs01")
    assert (job["job_state"], job["Exit_status"]) == ("F", 0)


def test_a_job_whose_command_exits_3_makes_the_job_exit_3(
    pbs_env: dict[str, str], tmp_path: Path
) -> None:
    code = "import os,sys; print('in', os.environ['PBS_JOBID']); sys.exit(3)"
    done = ezpz(
        pbs_env, ["--submit", "--wait", "-n", "1", "--time", "5", "--", "python3", "-c", code],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr[-3000:]
    assert "[0] in 1001.pbs01" in done.stdout
    assert "exit code   3, from the run's summary" in done.stderr
    job = finished(pbs_env, "1001")
    assert (job["job_state"], job["Exit_status"]) == ("F", 3)
    follower = JobFollower(only_run(tmp_path), SchedulerClient(SchedulerKind.PBS, pbs_env))
    follower.poll(force=True)  # (--wait recorded the queue's last word: no news)
    assert follower.state is not None
    assert (follower.state.state, follower.state.exit_code) == (QueueState.FAILED, 3)


@pytest.mark.parametrize(
    ("extra_env", "args", "rc", "message"),
    [
        ({"EZPZ_PBS_EMU_REJECT": "Job violates queue and/or server resource limits"}, [], 1,
         "qsub: Job violates queue and/or server resource limits"),
        ({}, ["--queue", "nosuch"], 170, "qsub: Unknown queue"),  # PBSE_UNKQUE 15018 % 256
    ],
    ids=["refused", "unknown-queue"],
)  # fmt: skip
def test_a_refused_qsub_exits_with_its_code_and_message_and_keeps_the_script(
    pbs_env: dict[str, str],
    tmp_path: Path,
    extra_env: dict[str, str],
    args: list[str],
    rc: int,
    message: str,
) -> None:
    env = {**pbs_env, **extra_env}
    done = ezpz(env, ["--submit", "--wait", "-n", "1", *args, "--", "true"], tmp_path)
    assert done.returncode == rc, done.stderr
    assert done.stdout == ""  # no job id
    assert f"qsub refused the job: {message}" in done.stderr
    run = only_run(tmp_path)
    assert (run / "job.sh").read_text().startswith("#!/bin/bash\n#PBS -N ezpz\n")
    record = read_submit(run)
    assert record is not None and record.job_id is None and record.error == message
    assert run_info(run).status is RunStatus.GONE
    assert not list((tmp_path / "pbs-server" / "jobs").glob("*.json"))


def test_a_queued_job_is_listed_queued_attach_finds_it_and_qdel_cancels_it(
    pbs_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**pbs_env, "EZPZ_PBS_EMU_HOLD": "1"}
    done = ezpz(env, ["--submit", "--time", "5", "-n", "1", "--", "sleep", "600"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "1001.pbs01\n"
    run = only_run(tmp_path)
    assert run_info(run).status is RunStatus.QUEUED
    from ezpz_tui.cli import attach_target  # --attach without a terminal opens the console

    # by id (full or short): from the run's own record, and (another --outdir) from
    # where qstat says the job's output goes
    outdir = str(tmp_path / "outputs/ezpz-tui")
    assert attach_target("1001.pbs01", outdir, env) == run
    assert attach_target("1001", outdir, env) == run
    assert attach_target("1001.pbs01", str(tmp_path / "elsewhere"), env) == run
    follower = JobFollower(run, SchedulerClient(SchedulerKind.PBS, env))
    assert follower.poll(force=True)
    assert follower.state is not None and follower.state.state is QueueState.PENDING
    assert follower.state.reason == "Not Running: Insufficient amount of resource: ncpus"
    assert read_queue(run).state is QueueState.PENDING  # type: ignore[union-attr]
    assert follower.ending() is None and follower.waited_s() is not None
    deleted = subprocess.run(["qdel", "1001.pbs01"], env=env, capture_output=True, text=True)
    assert (deleted.returncode, deleted.stderr) == (0, "")
    until(lambda: follower.poll(force=True) and follower.state.state.final)  # type: ignore[union-attr]
    ending = follower.ending()
    assert ending is not None and ending.state is QueueState.CANCELLED and not ending.from_summary
    assert ending.exit_code == 1  # never ran: no exit status of its own
    assert "Exit_status" not in qstat(env, "1001", "-x")
    assert run_info(run).status is RunStatus.GONE
    assert not (run / "owner.json").exists()  # it never started


def test_wait_on_a_queued_job_ends_when_qdel_removes_it(
    pbs_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**pbs_env, "EZPZ_PBS_EMU_HOLD": "1"}
    waiting = subprocess.Popen(
        [str(EZPZ_TUI), "--submit", "--wait", "-n", "1", "--", "sleep", "600"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        until(lambda: (run := next((tmp_path / "outputs/ezpz-tui").glob("*/queue.json"), None))
              and read_queue(run.parent) is not None)  # fmt: skip
        deleted = subprocess.run(["qdel", "1001"], env=env, capture_output=True, text=True)
        assert deleted.returncode == 0, deleted.stderr
        out, err = waiting.communicate(timeout=30)
    finally:
        waiting.kill()
    assert waiting.returncode == 1, err
    assert "job 1001.pbs01: pending (Not Running: Insufficient amount of resource: ncpus)" in err
    assert "job         1001.pbs01: cancelled" in err
    assert "from the scheduler" in err
    assert out == ""


def job_processes(workdir: Path, run: Path) -> list[psutil.Process]:
    """A job's processes (its ezpz-tui, launcher and ranks): those with the job's
    environment (``PBS_O_WORKDIR``), or the run directory in their command line."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            ours = proc.environ().get("PBS_O_WORKDIR") == str(workdir)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            ours = False
        if ours or str(run) in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_qdel_of_a_running_job_leaves_no_process(pbs_env: dict[str, str], tmp_path: Path) -> None:
    done = ezpz(pbs_env, ["--submit", "--time", "5", "-n", "1", "--", "sleep", "600"], tmp_path)
    assert done.returncode == 0, done.stderr
    run = only_run(tmp_path)
    until(lambda: (run / "owner.json").exists() and qstat(pbs_env, "1001").get("job_state") == "R")
    until(lambda: any(p.info["cmdline"] == ["sleep", "600"] for p in job_processes(tmp_path, run)))
    assert subprocess.run(["qdel", "1001"], env=pbs_env).returncode == 0
    job = finished(pbs_env, "1001")
    # the job's shell exec'd ezpz-tui, which stops its ranks on SIGTERM and exits 128 + 15;
    # PBS adds 256 only for a shell that a signal killed
    assert job["Exit_status"] == 143
    assert json.loads((run / "summary.json").read_text())["exit_code"] == 143
    until(lambda: not job_processes(tmp_path, run), timeout=10)


def test_qdel_of_a_running_job_is_shown_as_cancelled(
    pbs_env: dict[str, str], tmp_path: Path
) -> None:
    done = ezpz(pbs_env, ["--submit", "--time", "5", "-n", "1", "--", "sleep", "600"], tmp_path)
    assert done.returncode == 0, done.stderr
    run = only_run(tmp_path)
    until(lambda: (run / "owner.json").exists() and qstat(pbs_env, "1001").get("job_state") == "R")
    assert subprocess.run(["qdel", "1001"], env=pbs_env).returncode == 0
    follower = JobFollower(run, SchedulerClient(SchedulerKind.PBS, pbs_env))
    finished(pbs_env, "1001")
    assert follower.poll(force=True) and follower.state is not None and follower.state.state.final
    until(lambda: (run / "summary.json").exists())
    ending = follower.ending()
    assert ending is not None and ending.from_summary and ending.exit_code == 143
    assert ending.state is QueueState.CANCELLED  # as scancel's CANCELLED is on Slurm


def test_without_job_history_the_exit_code_still_comes_from_the_summary(
    pbs_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**pbs_env, "EZPZ_PBS_EMU_HISTORY": "0"}
    code = "import sys; print('bye'); sys.exit(3)"
    done = ezpz(env, ["--submit", "--wait", "-n", "1", "--", "python3", "-c", code], tmp_path)
    assert done.returncode == 3, done.stderr[-3000:]
    assert "exit code   3, from the run's summary" in done.stderr
    run = only_run(tmp_path)
    # once the job ended, the server forgets it at once: even -x says unknown
    until(lambda: subprocess.run(
        ["qstat", "-f", "-F", "json", "-x", "1001"], env=env, capture_output=True, text=True
    ).returncode == 153)  # fmt: skip
    follower = JobFollower(run, SchedulerClient(SchedulerKind.PBS, env))
    follower.poll(force=True)
    assert follower.gone and not follower.error
    ending = follower.ending()
    assert ending is not None and ending.from_summary and ending.exit_code == 3
    assert run_info(run).status is RunStatus.FINISHED


def test_past_its_walltime_a_job_is_killed_and_ends_in_timeout(
    pbs_env: dict[str, str], tmp_path: Path
) -> None:
    done = ezpz(
        pbs_env, ["--submit", "--wait", "--time", "0:00:02", "-n", "1", "--", "sleep", "600"],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 143, done.stderr[-3000:]  # its run's word: stopped by SIGTERM
    job = finished(pbs_env, "1001")
    assert job["Exit_status"] == -29  # JOB_EXEC_KILL_WALLTIME
    follower = JobFollower(only_run(tmp_path), SchedulerClient(SchedulerKind.PBS, pbs_env))
    follower.poll(force=True)  # (--wait recorded the queue's last word: no news)
    ending = follower.ending()
    assert ending is not None and ending.state is QueueState.TIMEOUT and ending.exit_code == 143


def test_wait_calls_a_walltime_kill_timeout_while_the_server_is_still_ending_it(
    pbs_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**pbs_env, "EZPZ_PBS_EMU_END_DELAY": "1.5"}  # E (exiting) for 1.5 s, then F
    done = ezpz(
        env, ["--submit", "--wait", "--time", "0:00:02", "-n", "1", "--", "sleep", "600"],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 143, done.stderr[-3000:]
    assert finished(env, "1001")["Exit_status"] == -29
    assert "job         1001.pbs01: timeout" in done.stderr, done.stderr[-600:]
