"""Sampling a label-mode run's ranks on this host: which process is which rank,
and what they use.

``rank_roots``/``rank_members`` are checked on vectors of process trees (launchers
that inherit a stale rank, ranks with children, agents with ranks below them).
``LocalSampler`` is checked on real processes: a small Python "session" starts
ranks with Open MPI's rank variables in their environment (one busy, one idle, one
with a busy child of its own), as ``mpirun`` would, and the sampler must find them,
measure them and return nothing once the session is gone.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from ezpz_core.run.rankstats import Usage
from ezpz_tui.watch.localusage import LocalSampler, ProcRank, env_ranks, rank_members, rank_roots

SESSION = 1
HOST = socket.gethostname()

# -- which process is which rank --------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "session_env", "expected"),
    [
        ({}, {}, (None, None)),
        ({"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4"}, {}, (3, 3)),
        ({"SLURM_PROCID": "0"}, {"SLURM_PROCID": "0"}, (None, 0)),  # inherited: shared only
        ({"SLURM_PROCID": "2"}, {"SLURM_PROCID": "0"}, (2, 2)),  # srun set it
        ({"SLURM_PROCID": "0", "PMI_RANK": "5"}, {"SLURM_PROCID": "0"}, (5, 5)),
        ({"PATH": "/bin"}, {"PATH": "/bin", "RANK": "1"}, (None, None)),
    ],
)
def test_env_ranks(
    env: dict[str, str], session_env: dict[str, str], expected: tuple[int | None, int | None]
) -> None:
    assert env_ranks(env, session_env) == expected


def P(pid: int, ppid: int, named: int | None = None, shared: int | None = None) -> ProcRank:
    return ProcRank(pid, ppid, named, shared)


TREES: dict[str, tuple[list[ProcRank], dict[int, list[int]], dict[int, list[int]]]] = {
    # mpirun (no rank) -> two ranks, rank 0 with a data loader child that inherits
    "mpirun": (
        [P(10, SESSION), P(11, 10, 0, 0), P(12, 10, 1, 1), P(13, 11, 0, 0)],
        {0: [11], 1: [12]},
        {0: [11, 13], 1: [12]},
    ),
    # srun inherits the batch step's SLURM_PROCID=0 from the session; srun gives its
    # rank 0 the same value, ranks 1.. their own
    "srun-in-batch": (
        [P(10, SESSION, None, 0), P(11, 10, None, 0), P(12, 10, 1, 1), P(14, 11, None, 0)],
        {0: [11], 1: [12]},
        {0: [11, 14], 1: [12]},
    ),
    # one rank by srun in a batch job: nothing below srun names a rank of its own,
    # so srun is the topmost process of rank 0 and counts for it
    "srun-one-rank": (
        [P(10, SESSION, None, 0), P(11, 10, None, 0)],
        {0: [10]},
        {0: [10, 11]},
    ),
    # mpiexec -> a torchrun agent per node (PMI rank 0) -> workers RANK=0..2
    "torchrun-agent": (
        [P(10, SESSION), P(20, 10, 0, 0), P(21, 20, 0, 0), P(22, 20, 1, 1), P(23, 20, 2, 2)],
        {0: [20], 1: [22], 2: [23]},
        {0: [20, 21], 1: [22], 2: [23]},
    ),
    # nothing names a rank (launcher none, or variables we may not read)
    "unlabelled": ([P(10, SESSION), P(11, 10)], {}, {}),
    # an old rank 0 still exiting next to its restart: both count for rank 0
    "restart": (
        [P(10, SESSION), P(11, 10, 0, 0), P(31, 10, 0, 0)],
        {0: [11, 31]},
        {0: [11, 31]},
    ),
}


@pytest.mark.parametrize("name", list(TREES))
def test_each_rank_is_its_topmost_process_and_its_subtree(name: str) -> None:
    procs, roots, members = TREES[name]
    assert rank_roots(procs, SESSION) == roots
    assert rank_members(procs, roots) == members


# -- real processes ---------------------------------------------------------------------

BUSY = "while True: pass"
IDLE = "import sys; sys.stdin.read()"
# a rank that starts a busy child of its own (a data loader worker) and idles itself
PARENT = textwrap.dedent(
    """
    import subprocess, sys
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    sys.stdin.read()
    """
)

SESSION_CODE = textwrap.dedent(
    """
    import json, os, subprocess, sys
    codes = json.loads(sys.argv[1])
    ranks = []
    for rank, code in enumerate(codes):
        env = dict(os.environ, OMPI_COMM_WORLD_RANK=str(rank),
                   OMPI_COMM_WORLD_SIZE=str(len(codes)))
        ranks.append(subprocess.Popen([sys.executable, "-c", code], env=env,
                                      stdin=subprocess.PIPE, start_new_session=True))
    print(json.dumps([p.pid for p in ranks]), flush=True)
    sys.stdin.read()  # the test closes our stdin: stop the ranks and go
    for p in ranks:
        os.killpg(p.pid, 9)
        p.wait()
    """
)


def kill_tree(pid: int) -> None:
    """Kill a rank's process group (it holds the rank and its children)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, 9)


@pytest.fixture
def start_session(
    tmp_path: Path,
) -> Iterator[Callable[[list[str]], tuple[subprocess.Popen[str], list[int]]]]:
    """Start a session whose ranks run ``codes``; returns it and the ranks' pids."""
    started: list[tuple[subprocess.Popen[str], list[int]]] = []
    env = {"PATH": os.defpath, "HOME": str(tmp_path)}  # no rank variables of its own

    def start(codes: list[str]) -> tuple[subprocess.Popen[str], list[int]]:
        import json

        proc = subprocess.Popen(
            [sys.executable, "-c", SESSION_CODE, json.dumps(codes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        pids = json.loads(proc.stdout.readline())
        started.append((proc, pids))
        return proc, pids

    yield start
    for proc, pids in started:
        for pid in pids:
            kill_tree(pid)
        proc.kill()
        proc.wait(timeout=10)


def sample_until(
    sampler: LocalSampler, done: Callable[[dict[int, Usage]], bool], timeout: float = 20.0
) -> dict[int, Usage]:
    """Sample (each call measures since the last) until ``done`` holds, or fail."""
    deadline = time.monotonic() + timeout
    got: dict[int, Usage] = {}
    while time.monotonic() < deadline:
        got = {u.rank: u for u in sampler.sample(time.time())}
        if done(got):
            return got
        time.sleep(0.2)  # the interval CPU is measured over
    raise AssertionError(f"not within {timeout}s: {got}")


def test_ranks_are_found_by_their_variables_and_the_busy_one_measured(
    start_session: Callable[[list[str]], tuple[subprocess.Popen[str], list[int]]],
) -> None:
    session, _ = start_session([BUSY, IDLE])
    sampler = LocalSampler(session.pid, HOST)

    def both_and_busy(got: dict[int, Usage]) -> bool:
        return set(got) == {0, 1} and (got[0].cpu or 0.0) > 30

    got = sample_until(sampler, both_and_busy)
    got = sample_until(sampler, both_and_busy)  # and again, measured since the last call
    assert all(u.source == "local" and u.host == HOST for u in got.values())
    assert all((u.rss or 0) > 0 and (u.threads or 0) >= 1 and u.procs == 1 for u in got.values())
    assert (got[1].cpu or 0.0) < 30  # the idle rank is not charged the busy one's time
    assert got[0].gpu is None and got[0].gpu_mem is None


def test_a_ranks_children_count_for_it(
    start_session: Callable[[list[str]], tuple[subprocess.Popen[str], list[int]]],
) -> None:
    session, _ = start_session([IDLE, PARENT])
    # the rank starts its child after we may have mapped it: map again soon
    sampler = LocalSampler(session.pid, HOST, remap_s=0.2)
    got = sample_until(sampler, lambda g: set(g) == {0, 1} and g[1].procs == 2)
    got = sample_until(sampler, lambda g: set(g) == {0, 1} and (g[1].cpu or 0.0) > 30)
    assert got[0].procs == 1 and (got[0].cpu or 0.0) < 30


def test_processes_started_after_the_map_count_from_the_next_remap(
    start_session: Callable[[list[str]], tuple[subprocess.Popen[str], list[int]]],
    tmp_path: Path,
) -> None:
    go = tmp_path / "go"
    later = textwrap.dedent(
        f"""
        import os, subprocess, sys, time
        while not os.path.exists({str(go)!r}):
            time.sleep(0.02)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        sys.stdin.read()
        """
    )
    session, (rank_pid,) = start_session([later])
    sampler = LocalSampler(session.pid, HOST, remap_s=3600)
    assert sample_until(sampler, lambda g: set(g) == {0})[0].procs == 1
    go.touch()
    deadline = time.monotonic() + 20
    while not psutil.Process(rank_pid).children():
        assert time.monotonic() < deadline, "the rank did not start its child"
        time.sleep(0.02)
    assert [u.procs for u in sampler.sample(time.time())] == [1]  # the map is not due
    sampler.remap_s = 0.0
    assert [u.procs for u in sampler.sample(time.time())] == [2]


def test_the_session_exiting_is_no_samples(
    start_session: Callable[[list[str]], tuple[subprocess.Popen[str], list[int]]],
) -> None:
    session, _ = start_session([IDLE, IDLE])
    sampler = LocalSampler(session.pid, HOST)
    sample_until(sampler, lambda g: set(g) == {0, 1})
    assert session.stdin is not None
    session.stdin.close()
    assert session.wait(timeout=20) == 0
    assert sampler.sample(time.time()) == []


def test_a_session_that_never_was_is_no_samples() -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    sampler = LocalSampler(int(dead.stdout), HOST)  # exited: its pid names nothing now
    assert sampler.sample(time.time()) == []
    assert sampler.sample(time.time()) == []
