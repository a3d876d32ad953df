"""The per-rank wrapper ``python -m ezpz_core.rankio -- CMD``, run for real, and rank_from_env.

The wrapper must turn whatever the command writes into whole ``@ezpz:R:K|`` records
(each one atomic ``write``), keep unfinished lines live, report and reproduce the
command's exit status, forward signals, and start fast (stdlib only).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from ezpz_core import rankenv
from ezpz_core.rankenv import RankEnv, rank_from_env
from ezpz_core.run.events import Line
from ezpz_core.run.labels import Attributor, LabelFormat

WRAPPER = [sys.executable, "-m", "ezpz_core.rankio", "--"]
RANK_VAR_NAMES = {
    name
    for table in (
        rankenv.RANK_VARS,
        rankenv.LOCAL_RANK_VARS,
        rankenv.WORLD_SIZE_VARS,
        rankenv.LOCAL_SIZE_VARS,
    )
    for name, _ in table
}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wrapper_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without any launcher rank variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in RANK_VAR_NAMES}
    env.pop("PYTHONUNBUFFERED", None)
    env.update(extra or {})
    return env


def py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def wrap(
    command: list[str], env: Mapping[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        WRAPPER + command,
        capture_output=True,
        env=wrapper_env(env),
        cwd=REPO,
        timeout=timeout,
        check=False,
    )


def records(data: bytes) -> list[str]:
    assert data == b"" or data.endswith(b"\n"), data[-80:]
    return data.decode().splitlines()


def rejoin(data: bytes) -> list[Line]:
    attributor = Attributor(LabelFormat.WRAPPER, "stdout")
    tail = [Line(rank, stream, text, 0.0) for rank, stream, text in attributor.flush()]
    return attributor.lines(records(data), 0.0) + tail


class LineReader:
    """Reads a pipe's lines in a thread, noting when each arrived."""

    def __init__(self, pipe) -> None:
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self.thread.start()

    def _run(self, pipe) -> None:
        for raw in iter(pipe.readline, b""):
            self.lines.put((time.monotonic(), raw.decode().rstrip("\n")))

    def next(self, timeout: float = 10.0) -> tuple[float, str]:
        return self.lines.get(timeout=timeout)


# -- records --------------------------------------------------------------------


def test_whole_lines_become_stdout_records() -> None:
    result = wrap(py("print('hello'); print('world')"), {"PMI_RANK": "5"})
    assert records(result.stdout) == ["@ezpz:5:o|hello", "@ezpz:5:o|world", "@ezpz:5:x|0"]
    assert result.returncode == 0


def test_stderr_lines_become_e_records_on_stderr() -> None:
    result = wrap(py("import sys; sys.stderr.write('oops\\n')"), {"PMI_RANK": "5"})
    assert records(result.stderr) == ["@ezpz:5:e|oops"]
    assert records(result.stdout) == ["@ezpz:5:x|0"]


@pytest.mark.parametrize(
    ("env", "rank"),
    [
        pytest.param({"PMI_RANK": "5"}, 5, id="mpich"),
        pytest.param({"OMPI_COMM_WORLD_RANK": "7"}, 7, id="openmpi"),
        pytest.param({"RANK": "2"}, 2, id="torchrun"),
        pytest.param({}, 0, id="none"),
    ],
)
def test_record_label_carries_the_rank_from_the_environment(env: dict[str, str], rank: int) -> None:
    result = wrap(py("print('x')"), env)
    assert records(result.stdout) == [f"@ezpz:{rank}:o|x", f"@ezpz:{rank}:x|0"]


def test_line_written_in_two_pieces_arrives_as_one_record() -> None:
    code = """
        import sys, time
        sys.stdout.write("part1 "); sys.stdout.flush()
        time.sleep(0.05)
        sys.stdout.write("part2\\n"); sys.stdout.flush()
    """
    result = wrap(py(code), {"PMI_RANK": "5"})
    assert records(result.stdout) == ["@ezpz:5:o|part1 part2", "@ezpz:5:x|0"]


def test_carriage_returns_end_lines_once() -> None:
    code = "import sys; sys.stdout.write('10%\\r20%\\r\\ndone\\n')"
    result = wrap(py(code))
    assert records(result.stdout) == [
        "@ezpz:0:o|10%",
        "@ezpz:0:o|20%",
        "@ezpz:0:o|done",
        "@ezpz:0:x|0",
    ]


def test_long_line_arrives_as_pieces_then_an_end_record() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(20_000))
    result = wrap(py(f"import sys; sys.stdout.write({text!r} + '\\n')"))
    kinds = [r.split("|", 1)[0] for r in records(result.stdout)]
    assert len(kinds) >= 6
    assert set(kinds[:-2]) == {"@ezpz:0:O"}
    assert kinds[-2:] == ["@ezpz:0:o", "@ezpz:0:x"]


def test_long_line_records_fit_an_atomic_pipe_write() -> None:
    result = wrap(py("import sys; sys.stdout.write('z' * 20_000 + '\\n')"))
    assert max(len(r) for r in result.stdout.splitlines(keepends=True)) <= 4096


def test_long_line_rejoins_to_the_input() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(20_000))
    result = wrap(py(f"import sys; sys.stdout.write({text!r} + '\\n')"))
    assert [(ln.rank, ln.stream, ln.text) for ln in rejoin(result.stdout)] == [(0, "stdout", text)]


HELD_LINE = """
    import sys, time
    sys.stdout.write("waiting..."); sys.stdout.flush()
    time.sleep(1.5)
    sys.stdout.write("done\\n"); sys.stdout.flush()
"""


@pytest.fixture(scope="module")
def held_line() -> list[tuple[float, str]]:
    """Records (with arrival times) of a line left unfinished for 1.5 s."""
    proc = subprocess.Popen(
        WRAPPER + py(HELD_LINE), stdout=subprocess.PIPE, env=wrapper_env(), cwd=REPO
    )
    try:
        reader = LineReader(proc.stdout)
        return [reader.next() for _ in range(3)]
    finally:
        proc.kill()
        proc.wait()


def test_unfinished_line_is_sent_as_a_piece_and_not_held_back(
    held_line: list[tuple[float, str]],
) -> None:
    (t_piece, piece), (t_end, end), (_, exit_record) = held_line
    assert (piece, end, exit_record) == ("@ezpz:0:O|waiting...", "@ezpz:0:o|done", "@ezpz:0:x|0")
    assert t_end - t_piece >= 0.5  # the piece came out long before the line ended


def test_unfinished_line_sent_as_a_piece_rejoins_to_one_line(
    held_line: list[tuple[float, str]],
) -> None:
    data = "".join(f"{record}\n" for _, record in held_line).encode()
    assert [ln.text for ln in rejoin(data)] == ["waiting...done"]


def test_last_line_without_newline_is_an_end_record() -> None:
    result = wrap(py("import sys; sys.stdout.write('no newline')"))
    assert records(result.stdout) == ["@ezpz:0:o|no newline", "@ezpz:0:x|0"]


# -- exit status ----------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 3])
def test_exit_record_and_wrapper_exit_code_equal_the_commands(code: int) -> None:
    result = wrap(py(f"import sys; sys.exit({code})"), {"PMI_RANK": "4"})
    assert records(result.stdout)[-1] == f"@ezpz:4:x|{code}"
    assert result.returncode == code


def test_command_killed_by_sigterm_gives_minus_15_and_the_wrapper_dies_of_it() -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    result = wrap(py(code), {"PMI_RANK": "2"})
    assert records(result.stdout) == ["@ezpz:2:x|-15"]
    assert result.returncode == -signal.SIGTERM


def test_missing_command_exits_127_with_a_message_and_an_exit_record() -> None:
    result = wrap(["/nonexistent/no-such-command"], {"PMI_RANK": "1"})
    assert result.returncode == 127
    (message,) = records(result.stderr)
    assert message.startswith("@ezpz:1:e|")
    assert "/nonexistent/no-such-command" in message
    assert "No such file or directory" in message
    assert records(result.stdout) == ["@ezpz:1:x|127"]


@pytest.mark.parametrize(
    "argv",
    [pytest.param(["--"], id="separator-only"), pytest.param([], id="nothing")],
)
def test_no_command_prints_usage_and_exits_2(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ezpz_core.rankio", *argv],
        capture_output=True,
        env=wrapper_env(),
        cwd=REPO,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert b"usage:" in result.stderr
    assert result.stdout == b""


# -- signals --------------------------------------------------------------------

SIGNAL_CHILD = """
    import os, signal, sys, time
    def handler(signum, frame):  # os.write: the signal may come inside print("ready")
        os.write(1, f"got {signum}\\n".encode())
        if signum == signal.SIGTERM:
            sys.exit(0)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGUSR1, handler)
    print("ready", flush=True)
    while True:
        time.sleep(0.01)
"""


def test_signals_sent_to_the_wrapper_reach_the_command() -> None:
    proc = subprocess.Popen(
        WRAPPER + py(SIGNAL_CHILD), stdout=subprocess.PIPE, env=wrapper_env(), cwd=REPO
    )
    try:
        reader = LineReader(proc.stdout)
        assert reader.next()[1] == "@ezpz:0:o|ready"
        proc.send_signal(signal.SIGUSR1)
        assert reader.next()[1] == f"@ezpz:0:o|got {int(signal.SIGUSR1)}"
        proc.send_signal(signal.SIGTERM)
        assert reader.next()[1] == f"@ezpz:0:o|got {int(signal.SIGTERM)}"
        assert reader.next()[1] == "@ezpz:0:x|0"
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()


def test_sigterm_to_the_wrapper_stops_a_command_without_a_handler() -> None:
    code = """
        import time
        print("ready", flush=True)
        time.sleep(30)
    """
    proc = subprocess.Popen(WRAPPER + py(code), stdout=subprocess.PIPE, env=wrapper_env(), cwd=REPO)
    try:
        reader = LineReader(proc.stdout)
        assert reader.next()[1] == "@ezpz:0:o|ready"
        proc.send_signal(signal.SIGTERM)
        assert reader.next()[1] == "@ezpz:0:x|-15"
        assert proc.wait(timeout=10) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()


# -- start-up cost --------------------------------------------------------------


def test_wrapper_startup_imports_no_heavy_package() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ezpz_core.rankio", "--", "true"],
        capture_output=True,
        text=True,
        env=wrapper_env(),
        cwd=REPO,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = {
        row.split("|")[-1].strip()
        for row in result.stderr.splitlines()
        if row.startswith("import time:") and row.count("|") == 2
    }
    assert "ezpz_core.rankenv" in imported  # the probe sees our own imports
    heavy = {"torch", "textual", "numpy", "psutil", "rich"}
    assert sorted(m for m in imported if m.split(".")[0] in heavy) == []


# -- rank_from_env --------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            {
                "OMPI_COMM_WORLD_RANK": "3",
                "OMPI_COMM_WORLD_LOCAL_RANK": "1",
                "OMPI_COMM_WORLD_SIZE": "8",
                "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
            },
            RankEnv(3, 1, 8, 2, "openmpi"),
            id="openmpi",
        ),
        pytest.param(
            {"PMI_RANK": "5", "PMI_LOCAL_RANK": "1", "PMI_SIZE": "6", "PMI_LOCAL_SIZE": "2"},
            RankEnv(5, 1, 6, 2, "mpich"),
            id="mpich-pmi",
        ),
        pytest.param(
            {"PMI_RANK": "5", "MPI_LOCALRANKID": "1", "PMI_SIZE": "6", "MPI_LOCALNRANKS": "2"},
            RankEnv(5, 1, 6, 2, "mpich"),
            id="mpich-hydra-local",
        ),
        pytest.param(
            {"PALS_RANKID": "13", "PALS_LOCAL_RANKID": "1", "PALS_SIZE": "24"},
            RankEnv(13, 1, 24, None, "pals"),
            id="pals",
        ),
        pytest.param(
            {"PMIX_RANK": "2", "PMIX_LOCAL_RANK": "0"},
            RankEnv(2, 0, None, None, "pmix"),
            id="pmix",
        ),
        pytest.param(
            {"RANK": "6", "LOCAL_RANK": "2", "WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4"},
            RankEnv(6, 2, 8, 4, "torchrun"),
            id="torchrun",
        ),
        pytest.param(
            {"SLURM_PROCID": "9", "SLURM_LOCALID": "1", "SLURM_NTASKS": "16"},
            RankEnv(9, 1, 16, None, "slurm"),
            id="slurm",
        ),
        pytest.param({}, RankEnv(0, None, None, None, "none"), id="none"),
        pytest.param(
            {"RANK": "", "PMI_RANK": "x"}, RankEnv(0, None, None, None, "none"), id="junk"
        ),
        pytest.param({"RANK": " 4 "}, RankEnv(4, None, None, None, "torchrun"), id="spaces"),
    ],
)
def test_rank_from_env(env: dict[str, str], expected: RankEnv) -> None:
    assert rank_from_env(env) == expected


def test_openmpi_rank_beats_a_stale_rank_and_a_batch_slurm_procid() -> None:
    env = {
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "1",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_NTASKS": "1",
        "OMPI_COMM_WORLD_RANK": "3",
        "OMPI_COMM_WORLD_LOCAL_RANK": "1",
        "OMPI_COMM_WORLD_SIZE": "4",
    }
    assert rank_from_env(env) == RankEnv(3, 1, 4, None, "openmpi")


@pytest.mark.parametrize(
    ("env", "source"),
    [
        pytest.param({"PMI_RANK": "2", "RANK": "0"}, "mpich", id="mpich-over-rank"),
        pytest.param({"PALS_RANKID": "2", "SLURM_PROCID": "0"}, "pals", id="pals-over-slurm"),
        pytest.param({"RANK": "2", "SLURM_PROCID": "0"}, "torchrun", id="torchrun-over-slurm"),
        pytest.param({"PMIX_RANK": "2", "PMI_RANK": "0"}, "pmix", id="pmix-over-pmi"),
    ],
)
def test_launcher_variables_beat_generic_ones(env: dict[str, str], source: str) -> None:
    found = rank_from_env(env)
    assert (found.rank, found.source) == (2, source)


def test_a_process_left_holding_the_pipes_does_not_keep_the_wrapper_alive(tmp_path: Path) -> None:
    """The command starts a process in a session of its own that inherits its
    stdout and outlives it: the wrapper stops reading after a short grace, sends
    what it has, reports the command's exit code and exits."""
    pid_file = tmp_path / "stray.pid"
    command = ["sh", "-c", f"setsid sleep 30 & echo $! > {pid_file}; echo started; exit 4"]
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ezpz_core.rankio", "--", *command],
            capture_output=True,
            env={**os.environ, "PMI_RANK": "3"},
            timeout=20,
        )
        assert done.returncode == 4
        assert done.stdout == b"@ezpz:3:o|started\n@ezpz:3:x|4\n"
        assert time.monotonic() - started < 10
    finally:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
