"""The pure parts of ``--submit``: the batch script, the scheduler's answers
parsed, the submit records in a run directory and how a run that waits in the
queue is listed.

Slurm's answers are the real ones: ``tests/data/slurm/*.txt`` were captured from
this machine's Slurm 22.05 (``scontrol show job -o`` of a held, a running, a
cancelled and a failed job; ``squeue -h -t all -j J -o '%i|%T|%r|%M|%N'`` of the
held and the running one). No PBS server can run here, so the ``qstat -f -F
json`` documents are written in the tests, in PBS Pro's shape. The batch scripts
are compared whole, and their run line is run by bash to show it gives the job
exactly the argv it was asked for.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ezpz_core.errors import UsageError
from ezpz_core.kinds import SchedulerKind
from ezpz_core.run.rundir import RunStatus, list_runs, run_info
from ezpz_core.run.store import claim_run_dir
from ezpz_core.submit.batch import (
    BatchRequest,
    batch_script,
    cancel_argv,
    check_directive,
    check_job_name,
    parse_walltime,
    run_command,
    submit_argv,
)
from ezpz_core.submit.follow import clock_text, describe
from ezpz_core.submit.queue import (
    JobState,
    QueueState,
    parse_key_values,
    parse_qstat_json,
    parse_scontrol_job,
    parse_squeue,
    pbs_exit,
    run_seconds,
    says_gone,
    slurm_exit_code,
)
from ezpz_core.submit.record import (
    SubmitRecord,
    find_job_run,
    read_queue,
    read_submit,
    same_job,
    write_queue,
    write_submit,
)

SLURM_DATA = Path(__file__).parent / "data" / "slurm"
NOW = time.mktime((2026, 12, 2, 19, 0, 0, 0, 0, -1))  # local time, as the script stamps it
STAMP = "2026-12-02 19:00:00"
RUN = Path("/lus/flare/me/outputs/ezpz-tui/20261202-190000-ezpz")
EZPZ = "/opt/venv/bin/ezpz-tui"
RUN_ARGV = (EZPZ, "--run", "--quiet", f"--run-dir={RUN}", "--np=8", "--", "python3", "train.py")
INVALID_JOB = "slurm_load_jobs error: Invalid job id specified"


def captured(name: str) -> str:
    return (SLURM_DATA / name).read_text()


def request(kind: SchedulerKind, **fields: Any) -> BatchRequest:
    values: dict[str, Any] = {
        "scheduler": kind,
        "run_dir": RUN,
        "submit_dir": "/home/me/project",
        "run_argv": RUN_ARGV,
    }
    values.update(fields)
    return BatchRequest(**values)


def record(job_id: str | None = "123", submitted: float = NOW, error: str = "") -> SubmitRecord:
    return SubmitRecord(
        scheduler="slurm",
        job_id=job_id,
        submitted=submitted,
        host="login1",
        submit_dir="/home/me/project",
        argv=("sbatch", "--parsable", "/home/me/run/job.sh"),
        error=error,
        request={"nodes": 2, "time": "00:30:00"},
    )


# -- the batch script -------------------------------------------------------------

SLURM_FULL = f"""\
#!/bin/bash
#SBATCH --job-name=lr-sweep
#SBATCH --nodes=2
#SBATCH --output={RUN}/job.out
#SBATCH --error={RUN}/job.out
#SBATCH --ntasks=8
#SBATCH --ntasks-per-node=4
#SBATCH --time=01:30:00
#SBATCH --partition=debug
#SBATCH --account=myproj
#SBATCH --gpus-per-node=4
#SBATCH --constraint=gpu
# written by ezpz-tui --submit on login1 at {STAMP}
# the run directory: plan, every rank's lines, events, summary
cd /home/me/project || exit 1
exec {shlex.join(RUN_ARGV)}
"""

SLURM_DEFAULTS = f"""\
#!/bin/bash
#SBATCH --job-name=ezpz
#SBATCH --nodes=1
#SBATCH --output={RUN}/job.out
#SBATCH --error={RUN}/job.out
# written by ezpz-tui --submit at {STAMP}
# the run directory: plan, every rank's lines, events, summary
cd /home/me/project || exit 1
exec {shlex.join(RUN_ARGV)}
"""

PBS_FULL = f"""\
#!/bin/bash
#PBS -N lr-sweep
#PBS -l select=2:mpiprocs=4
#PBS -l place=scatter
#PBS -l walltime=01:30:00
#PBS -q debug
#PBS -A myproj
#PBS -j oe
#PBS -k doe
#PBS -o {RUN}/job.out
#PBS -l filesystems=home:flare
# written by ezpz-tui --submit on aurora-uan-0010 at {STAMP}
# the run directory: plan, every rank's lines, events, summary
cd /home/me/project || exit 1
exec {shlex.join(RUN_ARGV)}
"""

PBS_DEFAULTS = f"""\
#!/bin/bash
#PBS -N ezpz
#PBS -l select=1
#PBS -l place=scatter
#PBS -j oe
#PBS -k doe
#PBS -o {RUN}/job.out
# written by ezpz-tui --submit at {STAMP}
# the run directory: plan, every rank's lines, events, summary
cd /home/me/project || exit 1
exec {shlex.join(RUN_ARGV)}
"""


def test_slurm_script_holds_every_field_as_a_directive() -> None:
    req = request(
        SchedulerKind.SLURM,
        nodes=2,
        ntasks=8,
        tasks_per_node=4,
        walltime="01:30:00",
        queue="debug",
        account="myproj",
        job_name="lr-sweep",
        scheduler_args=("--gpus-per-node=4", "--constraint=gpu"),
    )
    assert batch_script(req, host="login1", now=NOW) == SLURM_FULL


def test_slurm_script_with_defaults_asks_for_one_node_and_names_the_output() -> None:
    assert batch_script(request(SchedulerKind.SLURM), now=NOW) == SLURM_DEFAULTS


def test_pbs_script_holds_every_field_and_keeps_output_in_the_run_dir() -> None:
    req = request(
        SchedulerKind.PBS,
        nodes=2,
        tasks_per_node=4,
        walltime="01:30:00",
        queue="debug",
        account="myproj",
        job_name="lr-sweep",
        scheduler_args=("-l filesystems=home:flare",),
    )
    assert batch_script(req, host="aurora-uan-0010", now=NOW) == PBS_FULL


def test_pbs_script_with_defaults_selects_one_node() -> None:
    assert batch_script(request(SchedulerKind.PBS), now=NOW) == PBS_DEFAULTS


@pytest.mark.parametrize(
    ("nodes", "ntasks", "per_node", "select"),
    [
        (2, 8, None, "#PBS -l select=2:mpiprocs=4"),  # -n spread evenly: mpiprocs derived
        (3, 8, None, "#PBS -l select=3"),  # uneven: no mpiprocs guessed
        (2, None, 6, "#PBS -l select=2:mpiprocs=6"),  # --ppn wins
        (2, 8, 2, "#PBS -l select=2:mpiprocs=2"),
        (1, None, None, "#PBS -l select=1"),
    ],
)
def test_pbs_select_carries_ranks_per_node(
    nodes: int, ntasks: int | None, per_node: int | None, select: str
) -> None:
    req = request(SchedulerKind.PBS, nodes=nodes, ntasks=ntasks, tasks_per_node=per_node)
    lines = batch_script(req, now=NOW).splitlines()
    assert [line for line in lines if line.startswith("#PBS -l select=")] == [select]


def test_a_script_for_no_batch_system_is_refused() -> None:
    with pytest.raises(UsageError, match="needs a batch system"):
        batch_script(request(SchedulerKind.LOCAL), now=NOW)


ODD_COMMAND = (
    "python3",
    "train.py",
    "--note",
    'it\'s "quoted", costs $HOME; rm -rf /tmp/x\nand a second line',
    "",
    "*.py",
    "`id`",
    "--lr=0.1",
)


def _echo_program(path: Path) -> None:
    """A stand-in for ``ezpz-tui`` at the script's first word: prints its argv and cwd."""
    path.parent.mkdir(parents=True)
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "print(json.dumps({'argv': sys.argv[1:], 'cwd': os.getcwd()}))\n"
    )
    path.chmod(0o755)


def test_the_run_line_gives_the_job_exactly_the_argv_asked_for(tmp_path: Path) -> None:
    submit_dir = tmp_path / "my project's dir"
    submit_dir.mkdir()
    program = tmp_path / "venv with space" / "ezpz-tui"
    _echo_program(program)
    run_dir = tmp_path / "run"
    flags = ("--quiet", f"--run-dir={run_dir}", "--", *ODD_COMMAND)
    argv = run_command(sys.executable, str(program), flags)
    req = request(SchedulerKind.SLURM, run_dir=run_dir, submit_dir=str(submit_dir), run_argv=argv)
    script = tmp_path / "job.sh"
    script.write_text(batch_script(req, now=NOW))
    done = subprocess.run(
        ["/bin/bash", str(script)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": "/home/not-expanded"},
        cwd=tmp_path,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen == {"argv": ["--run", *flags], "cwd": str(submit_dir)}


def test_the_run_line_splits_back_into_the_argv() -> None:
    argv = (EZPZ, "--run", "--", *ODD_COMMAND)
    text = batch_script(request(SchedulerKind.PBS, run_argv=argv), now=NOW)
    assert shlex.split(text.split("\nexec ", 1)[1]) == list(argv)


def test_the_cd_line_quotes_a_submit_dir_with_a_space() -> None:
    text = batch_script(request(SchedulerKind.SLURM, submit_dir="/home/me/My Project"), now=NOW)
    cd_line = next(line for line in text.splitlines() if line.startswith("cd "))
    assert cd_line == "cd '/home/me/My Project' || exit 1"
    assert shlex.split(cd_line) == ["cd", "/home/me/My Project", "||", "exit", "1"]


def test_a_slurm_run_dir_with_a_space_stays_one_word_in_the_directives() -> None:
    run_dir = Path("/home/me/My Project/outputs/ezpz-tui/20261202-190000-ezpz")
    text = batch_script(request(SchedulerKind.SLURM, run_dir=run_dir), now=NOW)
    out = f"{run_dir}/job.out"
    assert f'#SBATCH --output="{out}"' in text.splitlines()
    words = [shlex.split(line.split(" ", 1)[1]) for line in text.splitlines() if "job.out" in line]
    assert words == [["--output=" + out], ["--error=" + out]]


def test_a_percent_in_a_slurm_run_dir_is_not_a_file_name_pattern() -> None:
    text = batch_script(request(SchedulerKind.SLURM, run_dir=Path("/scratch/100%j")), now=NOW)
    assert "#SBATCH --output=/scratch/100%%j/job.out" in text.splitlines()


def test_a_pbs_run_dir_with_a_space_is_refused_with_the_way_out() -> None:
    run_dir = Path("/home/me/My Project/outputs/ezpz-tui/20261202-190000-ezpz")
    with pytest.raises(UsageError, match="choose an --outdir without spaces"):
        batch_script(request(SchedulerKind.PBS, run_dir=run_dir), now=NOW)


def test_submit_and_cancel_commands_per_scheduler() -> None:
    script = Path("/run/job.sh")
    assert submit_argv(SchedulerKind.SLURM, script) == ["sbatch", "--parsable", "/run/job.sh"]
    assert submit_argv(SchedulerKind.PBS, script) == ["qsub", "/run/job.sh"]
    with pytest.raises(UsageError):
        submit_argv(SchedulerKind.LOCAL, script)
    assert cancel_argv(SchedulerKind.SLURM, "42") == ["scancel", "42"]
    assert cancel_argv(SchedulerKind.PBS, "42.pbs01") == ["qdel", "42.pbs01"]


def test_run_command_is_the_installed_script_else_python_dash_m() -> None:
    assert run_command("/py", EZPZ, ["-n", "2"]) == (EZPZ, "--run", "-n", "2")
    assert run_command("/py", None, ["-n", "2"]) == (
        "/py",
        "-m",
        "ezpz_tui.cli",
        "--run",
        "-n",
        "2",
    )


# -- the fields -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "walltime"),
    [
        ("30", "00:30:00"),  # a bare number is minutes, as Slurm reads it
        ("90", "01:30:00"),
        (" 45 ", "00:45:00"),
        ("1:30", "01:30:00"),  # two fields: hours and minutes
        ("0:05", "00:05:00"),
        ("1:00:00", "01:00:00"),
        ("01:02:03", "01:02:03"),
        ("48:00:00", "48:00:00"),  # past 24 hours stays hours
        ("1-0", "24:00:00"),
        ("2-03", "51:00:00"),
        ("1-2:30", "26:30:00"),
        ("0-0:0:1", "00:00:01"),
        ("1-00:00:00", "24:00:00"),
    ],
)
def test_parse_walltime_accepts(text: str, walltime: str) -> None:
    assert parse_walltime(text) == walltime


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected HH:MM:SS"),
        ("abc", "expected HH:MM:SS"),
        ("1h", "expected HH:MM:SS"),
        ("-5", "expected HH:MM:SS"),
        ("1:2:3:4", "expected HH:MM:SS"),
        ("1-", "expected HH:MM:SS"),
        ("1.5", "expected HH:MM:SS"),
        ("1:60", "below 60"),
        ("1:00:60", "below 60"),
        ("0", "longer than 0"),
        ("0:00:00", "longer than 0"),
        ("0-0", "longer than 0"),
    ],
)
def test_parse_walltime_refuses_with_the_flag_and_the_value(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        parse_walltime(text)
    assert str(info.value).startswith(f"--time {text!r}:")


def test_parse_walltime_names_the_field_it_was_given() -> None:
    with pytest.raises(UsageError, match=r"^time 'x':"):
        parse_walltime("x", flag="time")


@pytest.mark.parametrize("name", ["ezpz", "lr-sweep", "run_1.a", "A", "a" * 63])
def test_check_job_name_accepts(name: str) -> None:
    assert check_job_name(name) == name


@pytest.mark.parametrize("name", ["", "1run", "-x", "my run", "a/b", "a;b", "a" * 64, "x\n"])
def test_check_job_name_refuses(name: str) -> None:
    with pytest.raises(UsageError, match="--job-name"):
        check_job_name(name)


@pytest.mark.parametrize(
    ("arg", "directive"),
    [
        ("--gpus-per-node=4", "--gpus-per-node=4"),
        ("-l filesystems=home:flare", "-l filesystems=home:flare"),
        ("  --exclusive  ", "--exclusive"),
    ],
)
def test_check_directive_accepts_one_directive(arg: str, directive: str) -> None:
    assert check_directive(arg) == directive


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("--gpus=4\n--exclusive", "without line breaks"),
        ("--gpus=4\r", "without line breaks"),
        ("", "without line breaks"),
        ("   ", "without line breaks"),
        ("gpus=4", "starts with '-'"),
        ("echo hi", "starts with '-'"),
    ],
)
def test_check_directive_refuses(arg: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_directive(arg)


# -- Slurm's answers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "job_id", "state", "raw", "reason", "exit_code", "nodes", "elapsed"),
    [
        ("scontrol-held.txt", "3", QueueState.HELD, "PENDING", "JobHeldUser", None, "", 0.0),
        ("scontrol-running.txt", "3", QueueState.RUNNING, "RUNNING", "", None, "vm", 1.0),
        ("scontrol-cancelled.txt", "3", QueueState.CANCELLED, "CANCELLED", "", 143, "vm", 1.0),
        (
            "scontrol-completed-exit3.txt",
            "2",
            QueueState.FAILED,
            "FAILED",
            "NonZeroExitCode",
            3,
            "vm",
            3.0,
        ),
    ],
)
def test_parse_scontrol_job_reads_the_captures(
    name: str,
    job_id: str,
    state: QueueState,
    raw: str,
    reason: str,
    exit_code: int | None,
    nodes: str,
    elapsed: float,
) -> None:
    job = parse_scontrol_job(captured(name), t=5.0)
    assert job is not None
    assert (job.job_id, job.state, job.raw, job.reason) == (job_id, state, raw, reason)
    assert (job.exit_code, job.nodes, job.elapsed_s, job.t) == (exit_code, nodes, elapsed, 5.0)


def test_parse_scontrol_job_names_the_output_file() -> None:
    failed = parse_scontrol_job(captured("scontrol-completed-exit3.txt"))
    assert failed is not None
    assert failed.output == "/tmp/subt/outputs/ezpz-tui/20261202-191245-ezpz/job.out"
    held = parse_scontrol_job(captured("scontrol-held.txt"))
    assert held is not None and held.output == "/dev/null"


@pytest.mark.parametrize("text", ["", "\n", f"{INVALID_JOB}\n", "No jobs in the system\n"])
def test_parse_scontrol_job_without_a_job_is_none(text: str) -> None:
    assert parse_scontrol_job(text) is None


@pytest.mark.parametrize(
    ("name", "state", "reason", "nodes", "elapsed"),
    [
        ("squeue-held.txt", QueueState.HELD, "JobHeldUser", "", 0.0),
        ("squeue-running.txt", QueueState.RUNNING, "", "vm", 1.0),
    ],
)
def test_parse_squeue_reads_the_captures(
    name: str, state: QueueState, reason: str, nodes: str, elapsed: float
) -> None:
    job = parse_squeue(captured(name), t=7.0)
    assert job is not None
    assert (job.job_id, job.state, job.reason, job.nodes, job.elapsed_s) == (
        "3",
        state,
        reason,
        nodes,
        elapsed,
    )
    assert job.exit_code is None and job.t == 7.0


@pytest.mark.parametrize("text", ["", "3|RUNNING|None\n", "garbage\n"])
def test_parse_squeue_without_a_whole_line_is_none(text: str) -> None:
    assert parse_squeue(text) is None


def test_parse_key_values_keeps_spaces_and_equals_inside_values() -> None:
    line = (
        "JobId=7 JobName=my job Command=/home/me/My Project/job.sh --lr=0.1 "
        "WorkDir=/home/me/My Project TRES=cpu=2,node=1 NodeList= AllocNode:Sid=login:11 Power="
    )
    assert parse_key_values(line) == {
        "JobId": "7",
        "JobName": "my job",
        "Command": "/home/me/My Project/job.sh --lr=0.1",
        "WorkDir": "/home/me/My Project",
        "TRES": "cpu=2,node=1",
        "NodeList": "",
        "AllocNode:Sid": "login:11",
        "Power": "",
    }


def test_parse_key_values_reads_a_whole_capture() -> None:
    values = parse_key_values(captured("scontrol-completed-exit3.txt").strip())
    assert values["Command"] == "/tmp/subt/outputs/ezpz-tui/20261202-191245-ezpz/job.sh"
    assert values["TRES"] == "cpu=2,node=1,billing=2"
    assert values["ReqB:S:C:T"] == "0:0:*:*"
    assert values["CPUs/Task"] == "1"
    assert values["ExitCode"] == "3:0"


@pytest.mark.parametrize(
    ("text", "code"),
    [("0:0", 0), ("3:0", 3), ("0:15", 143), ("0:9", 137), ("1:15", 143), ("", None), ("x", None)],
)
def test_slurm_exit_code(text: str, code: int | None) -> None:
    assert slurm_exit_code(text) == code


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0:00", 0.0),
        ("0:01", 1.0),
        ("00:00:03", 3.0),
        ("1:02:03", 3723.0),
        ("2-00:00:01", 172801.0),
    ],
)
def test_run_seconds(text: str, seconds: float) -> None:
    assert run_seconds(text) == seconds


# -- PBS's answers --------------------------------------------------------------

OUT = "/home/me/outputs/ezpz-tui/20261202-190000-ezpz/job.out"


def pbs_job(state: str, **extra: Any) -> dict[str, Any]:
    """One job of ``qstat -f -F json -x`` as PBS Pro writes it (the fields we read
    and a few beside them)."""
    job: dict[str, Any] = {
        "Job_Name": "ezpz",
        "Job_Owner": "me@aurora-uan-0010",
        "job_state": state,
        "queue": "debug",
        "server": "pbs01",
        "Output_Path": f"aurora-uan-0010:{OUT}",
        "Error_Path": f"aurora-uan-0010:{OUT}",
        "Join_Path": "oe",
        "Keep_Files": "doe",
        "Resource_List": {"nodect": 2, "select": "2:mpiprocs=4", "walltime": "01:00:00"},
    }
    job.update(extra)
    return job


def qstat_json(jobs: dict[str, dict[str, Any]]) -> str:
    return json.dumps(
        {"timestamp": 1796252400, "pbs_version": "2022.1.4", "pbs_server": "pbs01", "Jobs": jobs}
    )


QUEUED = pbs_job("Q", comment="Not Running: Insufficient amount of resource: ncpus")
RUNNING = pbs_job(
    "R",
    exec_host="x4102c5s0b0n0/0*4+x4102c5s1b0n0/0*4",
    comment="Job run at Wed Dec 02 at 19:01 on (x4102c5s0b0n0:ncpus=4)+(x4102c5s1b0n0:ncpus=4)",
    resources_used={"cput": "00:10:00", "walltime": "00:05:07"},
)


def test_parse_qstat_json_of_a_queued_job_gives_its_comment() -> None:
    job = parse_qstat_json(qstat_json({"123.pbs01": QUEUED}), "123.pbs01", t=3.0)
    assert job == JobState(
        job_id="123.pbs01",
        state=QueueState.PENDING,
        raw="Q",
        reason="Not Running: Insufficient amount of resource: ncpus",
        output=OUT,
        t=3.0,
    )


def test_parse_qstat_json_of_a_running_job_gives_hosts_and_walltime() -> None:
    job = parse_qstat_json(qstat_json({"123.pbs01": RUNNING}), "123.pbs01")
    assert job is not None
    assert job.state is QueueState.RUNNING
    assert job.nodes == "x4102c5s0b0n0/0*4+x4102c5s1b0n0/0*4"
    assert job.elapsed_s == 307.0
    assert job.exit_code is None
    assert job.output == OUT


@pytest.mark.parametrize(
    ("status", "state", "exit_code"),
    [
        (0, QueueState.COMPLETED, 0),
        (3, QueueState.FAILED, 3),
        (271, QueueState.CANCELLED, 143),  # 256 + SIGTERM
        (-29, QueueState.TIMEOUT, 124),  # JOB_EXEC_KILL_WALLTIME
    ],
)
def test_parse_qstat_json_of_a_finished_job_reads_exit_status(
    status: int, state: QueueState, exit_code: int
) -> None:
    finished = pbs_job("F", Exit_status=status, resources_used={"walltime": "00:00:03"})
    job = parse_qstat_json(qstat_json({"123.pbs01": finished}), "123.pbs01")
    assert job is not None
    assert (job.state, job.raw, job.exit_code, job.elapsed_s) == (state, "F", exit_code, 3.0)


def test_parse_qstat_json_of_a_job_deleted_while_queued_has_no_exit_code() -> None:
    deleted = pbs_job("F", comment="Job deleted as result of dependency on job 122.pbs01")
    job = parse_qstat_json(qstat_json({"123.pbs01": deleted}), "123.pbs01")
    assert job is not None
    assert (job.state, job.exit_code) == (QueueState.CANCELLED, None)


@pytest.mark.parametrize("given", ["123", "123.pbs01"])
def test_parse_qstat_json_finds_the_job_by_short_or_full_id(given: str) -> None:
    text = qstat_json({"1234.pbs01": RUNNING, "123.pbs01": QUEUED})
    job = parse_qstat_json(text, given)
    assert job is not None
    assert (job.job_id, job.state) == ("123.pbs01", QueueState.PENDING)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        json.dumps({"Jobs": []}),
        qstat_json({}),
        qstat_json({"9.pbs01": QUEUED}),
    ],
)
def test_parse_qstat_json_without_the_job_is_none(text: str) -> None:
    assert parse_qstat_json(text, "123.pbs01") is None


@pytest.mark.parametrize(
    ("status", "state", "exit_code"),
    [
        (0, QueueState.COMPLETED, 0),
        (1, QueueState.FAILED, 1),
        (3, QueueState.FAILED, 3),
        (143, QueueState.CANCELLED, 143),  # the exec'd --run stopped by qdel's SIGTERM
        (137, QueueState.CANCELLED, 137),
        (142, QueueState.FAILED, 142),  # any other code: the job's own
        (265, QueueState.CANCELLED, 137),  # 256 + SIGKILL
        (271, QueueState.CANCELLED, 143),  # 256 + SIGTERM
        (267, QueueState.FAILED, 139),  # 256 + SIGSEGV
        (-29, QueueState.TIMEOUT, 124),
        (-1, QueueState.NODE_FAIL, 1),
        (None, QueueState.CANCELLED, None),
        (True, QueueState.CANCELLED, None),
        ("3", QueueState.CANCELLED, None),
    ],
)
def test_pbs_exit(status: Any, state: QueueState, exit_code: int | None) -> None:
    assert pbs_exit(status) == (state, exit_code)


@pytest.mark.parametrize(
    ("message", "gone"),
    [
        (INVALID_JOB, True),
        ("qstat: Unknown Job Id 123.pbs01", True),
        (
            "qstat: 123.pbs01 Job has finished, use -x or -H to obtain historical job information",
            True,
        ),
        ("slurm_load_jobs error: Unable to contact slurm controller (connect failure)", False),
        ("scontrol: not found on PATH", False),
        ("", False),
    ],
)
def test_says_gone(message: str, gone: bool) -> None:
    assert says_gone(message) is gone


# -- JobState and the records -----------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "scontrol-held.txt",
        "scontrol-running.txt",
        "scontrol-cancelled.txt",
        "scontrol-completed-exit3.txt",
    ],
)
def test_job_state_survives_its_json(name: str) -> None:
    state = parse_scontrol_job(captured(name), t=NOW)
    assert state is not None
    assert JobState.from_json(json.loads(json.dumps(state.to_json()))) == state


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"job_id": "3"},
        {"state": "running"},
        {"job_id": "3", "state": "no-such-state"},
        {"job_id": "3", "state": "running", "t": "soon"},
        {"job_id": "3", "state": None},
    ],
)
def test_job_state_from_garbage_is_none(data: dict[str, Any]) -> None:
    assert JobState.from_json(data) is None


def test_job_state_from_json_drops_values_of_the_wrong_type() -> None:
    state = JobState.from_json(
        {"job_id": 3, "state": "failed", "exit_code": "3", "elapsed_s": "long"}
    )
    assert state == JobState(job_id="3", state=QueueState.FAILED)


def test_submit_record_is_written_and_read_back(tmp_path: Path) -> None:
    written = record()
    write_submit(tmp_path, written)
    assert read_submit(tmp_path) == written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["submit.json"]  # no temp file left


def test_a_refused_submission_is_recorded_without_a_job_id(tmp_path: Path) -> None:
    refused = record(job_id=None, error="sbatch: error: Batch job submission failed")
    write_submit(tmp_path, refused)
    assert read_submit(tmp_path) == refused
    assert json.loads((tmp_path / "submit.json").read_text())["job_id"] is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        '{"job_id": "1"}',
        '{"scheduler": 1}',
        '{"scheduler": "slurm", "submitted": "x"}',
    ],
)
def test_a_broken_submit_record_reads_as_none(tmp_path: Path, text: str) -> None:
    (tmp_path / "submit.json").write_text(text)
    assert read_submit(tmp_path) is None


def test_queue_state_is_written_and_read_back(tmp_path: Path) -> None:
    state = parse_scontrol_job(captured("scontrol-running.txt"), t=NOW)
    assert state is not None
    write_queue(tmp_path, state)
    assert read_queue(tmp_path) == state
    assert read_queue(tmp_path / "missing") is None


def _submitted(outdir: Path, name: str, job_id: str | None, submitted: float) -> Path:
    run_dir = outdir / name
    run_dir.mkdir(parents=True)
    write_submit(run_dir, record(job_id=job_id, submitted=submitted))
    return run_dir


def test_find_job_run_takes_the_newest_run_of_that_id(tmp_path: Path) -> None:
    _submitted(tmp_path, "old", "123", NOW - 3600)
    newest = _submitted(tmp_path, "new", "123", NOW)
    _submitted(tmp_path, "other", "1234", NOW + 60)
    _submitted(tmp_path, "refused", None, NOW + 120)
    (tmp_path / "a-file").write_text("not a run")
    (tmp_path / "plain-run").mkdir()
    assert find_job_run(tmp_path, "123") == newest


def test_find_job_run_matches_a_short_pbs_id(tmp_path: Path) -> None:
    run_dir = _submitted(tmp_path, "pbs", "123.pbs01", NOW)
    assert find_job_run(tmp_path, "123") == run_dir
    assert find_job_run(tmp_path, "123.pbs01") == run_dir
    assert find_job_run(tmp_path, "12") is None


def test_find_job_run_in_a_missing_outdir_is_none(tmp_path: Path) -> None:
    assert find_job_run(tmp_path / "missing", "123") is None


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("123", "123", True),
        ("123", "123.pbs01", True),
        ("123.pbs01", "123", True),
        ("123", "1234", False),
        ("123_4", "123_5", False),
        ("123_4", "123", False),
    ],
)
def test_same_job(a: str, b: str, same: bool) -> None:
    assert same_job(a, b) is same


# -- a submitted run in the list of runs ----------------------------------------


def test_a_run_with_only_submit_json_is_queued_since_its_submission(tmp_path: Path) -> None:
    run_dir = _submitted(tmp_path, "queued", "123", NOW)
    info = run_info(run_dir, now=NOW + 30)
    assert info.status is RunStatus.QUEUED
    assert info.start == NOW
    assert info.end is None and info.exit_code is None
    assert info.job_id == "123"
    assert info.duration(now=NOW + 30) is None  # queue time is not run time


def test_a_queued_run_says_why_it_waits(tmp_path: Path) -> None:
    run_dir = _submitted(tmp_path, "held", "3", NOW)
    held = parse_scontrol_job(captured("scontrol-held.txt"), t=NOW + 1)
    assert held is not None
    write_queue(run_dir, held)
    info = run_info(run_dir, now=NOW + 30)
    assert (info.status, info.reason) == (RunStatus.QUEUED, "held (JobHeldUser)")


def test_a_run_that_ended_in_the_queue_is_gone_with_the_queue_state(tmp_path: Path) -> None:
    run_dir = _submitted(tmp_path, "cancelled", "3", NOW)
    cancelled = parse_scontrol_job(captured("scontrol-cancelled.txt"), t=NOW + 1)
    assert cancelled is not None
    write_queue(run_dir, cancelled)
    info = run_info(run_dir, now=NOW + 30)
    assert (info.status, info.reason, info.exit_code) == (
        RunStatus.GONE,
        "cancelled in the queue",
        143,
    )


def test_a_refused_submission_is_gone_not_submitted(tmp_path: Path) -> None:
    run_dir = tmp_path / "refused"
    run_dir.mkdir()
    write_submit(run_dir, record(job_id=None, error="sbatch: error: Invalid account"))
    info = run_info(run_dir, now=NOW + 30)
    assert info.status is RunStatus.GONE
    assert info.reason == "not submitted: sbatch: error: Invalid account"
    assert info.job_id is None


def test_list_runs_lists_a_queued_run_by_its_submission_time(tmp_path: Path) -> None:
    older = _submitted(tmp_path, "b-older", "1", NOW - 60)
    newer = _submitted(tmp_path, "a-newer", "2", NOW)
    runs = list_runs(tmp_path, now=NOW + 30)
    assert [(r.path, r.status, r.job_id) for r in runs] == [
        (newer, RunStatus.QUEUED, "2"),
        (older, RunStatus.QUEUED, "1"),
    ]


SUBMISSION = ("job.sh", "submit.json", "queue.json", "job.out")


def test_claim_run_dir_takes_the_directory_its_submission_made(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in SUBMISSION:
        (run_dir / name).write_text("x")
    assert claim_run_dir(run_dir) == run_dir


@pytest.mark.parametrize("other", ["plan.json", "events.jsonl", "notes.txt", "ranks"])
def test_claim_run_dir_refuses_anything_beside_the_submission(tmp_path: Path, other: str) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in SUBMISSION:
        (run_dir / name).write_text("x")
    (run_dir / other).write_text("x")
    with pytest.raises(UsageError, match="is not empty"):
        claim_run_dir(run_dir)


def test_claim_run_dir_takes_it_while_queue_json_is_being_replaced(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in SUBMISSION:
        (run_dir / name).write_text("x")
    (run_dir / f".queue.json.{os.getpid()}").write_text("{}")  # mid-write_queue
    assert claim_run_dir(run_dir) == run_dir


# -- what a person reads ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "waited", "text"),
    [
        ("scontrol-held.txt", 65.0, "held (JobHeldUser) for 1:05"),
        ("scontrol-held.txt", None, "held (JobHeldUser)"),
        ("scontrol-running.txt", None, "running on vm"),
        ("scontrol-cancelled.txt", None, "cancelled, exit 143"),
        ("scontrol-completed-exit3.txt", None, "failed (NonZeroExitCode), exit 3"),
    ],
)
def test_describe_a_slurm_job(name: str, waited: float | None, text: str) -> None:
    assert describe(parse_scontrol_job(captured(name)), waited) == text


def test_describe_a_pbs_job_waiting_with_its_comment() -> None:
    job = parse_qstat_json(qstat_json({"123.pbs01": QUEUED}), "123")
    assert describe(job, 3725.0) == (
        "pending (Not Running: Insufficient amount of resource: ncpus) for 1:02:05"
    )


def test_describe_before_the_queue_answered() -> None:
    assert describe(None) == "submitted; the queue has not answered yet"


def test_describe_leaves_out_a_reason_that_repeats_the_state() -> None:
    job = JobState(job_id="1", state=QueueState.PENDING, raw="PENDING", reason="PENDING")
    assert describe(job, 5.0) == "pending for 0:05"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00"), (59.9, "0:59"), (65, "1:05"), (3600, "1:00:00"), (90061, "25:01:01")],
)
def test_clock_text(seconds: float, text: str) -> None:
    assert clock_text(seconds) == text
