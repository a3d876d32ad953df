"""The hang doctor's wrapper route: the rank wrapper dumps its command on
SIGUSR1 and answers with records of kind ``s`` (pieces ``S``); the attributor
puts them together per rank, apart from the rank's lines. The wrapper here is
the real one (``python -m ezpz_core.rankio --stacks``) with the real py-spy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ezpz_core.hang.collect import find_py_spy
from ezpz_core.hang.stacks import RankStack, main_thread
from ezpz_core.rankio import DUMP_DEBOUNCE_S
from ezpz_core.run.labels import Attributor, LabelFormat

PY = sys.executable


def test_stack_records_are_joined_per_rank_and_are_no_lines() -> None:
    attributor = Attributor(LabelFormat.WRAPPER, "stdout")
    rows = attributor.rows(
        '@ezpz:2:S|{"rank": 2,\n@ezpz:0:o|hello\n@ezpz:2:s| "x": 1}\n@ezpz:1:o|world'
    )
    assert rows == [(0, "stdout", "hello"), (1, "stdout", "world")]
    assert attributor.take_stacks() == [(2, '{"rank": 2, "x": 1}')]
    assert attributor.take_stacks() == []


def test_half_a_stack_record_is_not_flushed_as_a_line() -> None:
    attributor = Attributor(LabelFormat.WRAPPER, "stdout")
    assert attributor.rows('@ezpz:3:S|{"rank": 3') == []
    assert attributor.flush() == []


CHILD = """\
import os, pathlib, signal, sys, time
here = pathlib.Path(sys.argv[1])
if len(sys.argv) > 2:  # a command with a SIGUSR1 handler of its own (Lightning's requeue)
    signal.signal(signal.SIGUSR1, lambda *a: (here / "got-usr1").touch())
def parked():
    (here / "ready").touch()
    time.sleep(60)
parked()
"""


def wrapper(tmp_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    argv = [PY, "-m", "ezpz_core.rankio", "--stacks", "--", PY, str(child), str(tmp_path), *extra]
    env = {**os.environ, "OMPI_COMM_WORLD_RANK": "5"}
    # a session of its own: its process group is the wrapper and its command
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, start_new_session=True)


def read_stack(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> RankStack:
    attributor = Attributor(LabelFormat.WRAPPER, "stdout")
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    buffer = b""
    while time.monotonic() < deadline:
        chunk = os.read(proc.stdout.fileno(), 65536)
        assert chunk, "the wrapper closed its stdout"
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        if lines:
            attributor.rows(b"\n".join(lines).decode())
        stacks = attributor.take_stacks()
        if stacks:
            ((rank, text),) = stacks
            stack = RankStack.from_json(json.loads(text))
            assert stack is not None and rank == 5
            return stack
    raise AssertionError("no stack record")


def ready(tmp_path: Path) -> None:
    deadline = time.monotonic() + 30
    while not (tmp_path / "ready").exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.mark.skipif(find_py_spy(os.environ) is None, reason="py-spy is not installed")
@pytest.mark.timeout(60)
def test_sigusr1_to_the_wrapper_dumps_its_command_and_kills_nothing(tmp_path: Path) -> None:
    proc = wrapper(tmp_path)
    try:
        ready(tmp_path)
        proc.send_signal(signal.SIGUSR1)
        stack = read_stack(proc)
        thread = main_thread(stack)
        assert stack.source == "py-spy" and thread is not None
        assert [f.name for f in thread.frames][:1] == ["parked"]  # innermost Python frame
        # a SIGUSR1 to the whole group (as Hydra sends it) reaches the command too:
        # it inherited "ignore" and lives on
        time.sleep(DUMP_DEBOUNCE_S + 0.1)  # past the window in which a request counts once
        os.killpg(proc.pid, signal.SIGUSR1)
        second = read_stack(proc)
        assert second.source == "py-spy" and proc.poll() is None
    finally:
        proc.terminate()
        code = proc.wait(timeout=30)
    assert code == -signal.SIGTERM or code == 128 + signal.SIGTERM  # stopped by us, not USR1


@pytest.mark.skipif(find_py_spy(os.environ) is None, reason="py-spy is not installed")
@pytest.mark.timeout(60)
def test_a_command_with_its_own_sigusr1_handler_still_gets_it(tmp_path: Path) -> None:
    proc = wrapper(tmp_path, "handles-usr1")
    try:
        ready(tmp_path)
        proc.send_signal(signal.SIGUSR1)
        assert read_stack(proc).source == "py-spy"
        deadline = time.monotonic() + 10
        while not (tmp_path / "got-usr1").exists():
            assert time.monotonic() < deadline, "the command's own handler never ran"
            time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize(("scope", "needed"), [("0\n", False), ("1\n", True), ("2\n", False)])
def test_the_command_names_its_wrapper_as_tracer_only_where_yama_needs_it(
    tmp_path: Path, scope: str, needed: bool
) -> None:
    """No Yama here to try it on: what is decided from ``ptrace_scope`` is tested,
    and (scope 1) that the prctl call runs in a child without failing it."""
    from ezpz_core.rankio import _tracer_allowed

    path = tmp_path / "ptrace_scope"
    path.write_text(scope)
    allow = _tracer_allowed(os.getpid(), str(path))
    assert (allow is not None) is needed
    if allow is not None:
        done = subprocess.run([PY, "-c", "pass"], preexec_fn=allow, check=False)
        assert done.returncode == 0


def test_without_yama_nothing_is_set(tmp_path: Path) -> None:
    from ezpz_core.rankio import _tracer_allowed

    assert _tracer_allowed(os.getpid(), str(tmp_path / "missing")) is None
