"""The hang doctor on real hung jobs: 4 ranks over real Open MPI (and under
torchrun) with gloo, where rank 2 sleeps in its data step while ranks 0, 1 and 3
wait for it in ``all_reduce``. ``ezpz-tui --stacks`` (the real console script)
dumps every rank with the real py-spy, groups 0,1,3 and names rank 2; no rank is
left stopped; the dump is saved in the run directory. The job is then stopped
with SIGINT and its exit code checked (130: interrupted, as asked).

The job reaches its hung state by itself (each rank says "ready" first); the test
polls the dump until ranks 0, 1 and 3 are inside the collective, with a deadline.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ezpz_core.hang.collect import find_py_spy
from tests.test_run_e2e import EZPZ_TUI, PY, job_env
from tests.test_slurm_real import slurm_env  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(find_py_spy(job_env()) is None, reason="py-spy is not installed"),
]

HUNG_JOB = """\
import os, sys, time
import torch
import torch.distributed as dist
from ezpz_core.dist import setup_torch


def next_batch(rank):
    if rank == 2:
        time.sleep(600)  # the stuck rank: its data never comes
    return torch.ones(4)


def data_step(rank):
    return next_batch(rank)


def train_step(x):
    dist.all_reduce(x)
    return x


def main():
    info = setup_torch(backend="gloo")
    print(f"ready {info.rank}", flush=True)
    x = data_step(info.rank)
    train_step(x)
    print(f"done {info.rank}", flush=True)


main()
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    tmp_path: Path, flags: list[str], mpich: bool = False
) -> tuple[subprocess.Popen[bytes], Path]:
    job = tmp_path / "hung.py"
    job.write_text(HUNG_JOB)
    run_dir = tmp_path / "run"
    argv = [str(EZPZ_TUI), "--run", "--quiet", f"--run-dir={run_dir}", "-n", "4", *flags]
    proc = subprocess.Popen(
        [*argv, "--", PY, str(job)],
        # (MPICH's Hydra with Open MPI's mpi4py: the rendezvous is named, as users do)
        env=job_env(
            mpich=mpich,
            **({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())} if mpich else {}),
        ),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    return proc, run_dir


def ready(run_dir: Path) -> bool:
    logs = [run_dir / "ranks" / f"rank-{r}.log" for r in range(4)]
    return all(log.exists() and "ready" in log.read_text() for log in logs)


def stacks(run_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EZPZ_TUI), "--stacks", str(run_dir)],
        env=job_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def until_grouped(run_dir: Path, proc: subprocess.Popen[bytes]) -> dict:  # type: ignore[type-arg]
    """Dump until ranks 0, 1 and 3 are inside all_reduce (they get there on their own)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the job ended before it hung"
        if ready(run_dir):
            done = stacks(run_dir)
            assert done.returncode == 0, done.stderr
            saved = sorted((run_dir / "stacks").glob("*.json"))[-1]
            report = json.loads(saved.read_text())
            if report.get("suspect") and report["suspect"]["ranks"] == [2]:
                return {"text": done.stdout, "report": report, "saved": saved}
        time.sleep(0.5)
    raise AssertionError(f"the ranks never grouped as expected: {stacks(run_dir).stdout}")


def no_rank_stopped(run_dir: Path) -> None:
    for rank in json.loads(sorted((run_dir / "stacks").glob("*.json"))[-1].read_text())["stacks"]:
        pid = rank.get("pid")
        if pid:
            stat = Path(f"/proc/{pid}/stat").read_text()
            assert stat[stat.rindex(")") + 2] not in "Tt", f"rank {rank['rank']} left stopped"


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=60)


# name -> (flags, MPICH first on PATH, the route the dump takes)
ROUTES = {
    # label mode: no wrapper; this host's ranks dumped by --stacks itself
    "openmpi": (["--launcher", "mpirun"], False, "local"),
    # the wrappers, asked by SIGUSR1 that mpirun / Hydra forward to every rank
    "openmpi-wrapper": (["--launcher", "mpirun", "--rank-io", "wrapper"], False, "wrapper"),
    "hydra": (["--launcher", "mpirun"], True, "wrapper"),
    # the wrappers, signalled directly (torchrun's agent dies of SIGUSR1)
    "torchrun": (["--launcher", "torchrun"], False, "wrapper"),
}


def notices(run_dir: Path) -> list[str]:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    return [e["text"] for e in events if e["event"] == "notice"]


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_stacks_group_the_waiting_ranks_and_name_the_stuck_one(tmp_path: Path, name: str) -> None:
    flags, mpich, route = ROUTES[name]
    proc, run_dir = start(tmp_path, flags, mpich)
    try:
        found = until_grouped(run_dir, proc)
        no_rank_stopped(run_dir)
    finally:
        code = stop(proc) if proc.poll() is None else proc.returncode
    assert code == 130  # stopped by our SIGINT, after the dumps: no signal killed a rank
    by_session = any(t.startswith("stacks saved in") for t in notices(run_dir))
    assert by_session is (route == "wrapper")  # the session asked the wrappers
    report, text = found["report"], found["text"]
    groups = [(g["ranks"], g["frames"]) for g in report["groups"]]
    ranks = sorted(r for rs, _ in groups for r in rs)
    assert ranks == [0, 1, 2, 3]
    waiting = next(frames for rs, frames in groups if rs == [0, 1, 3])
    names = [name for name, _file, _line in waiting]  # outermost first
    assert names[-1] == "all_reduce" and "train_step" in names
    stuck = next(frames for rs, frames in groups if rs == [2])
    assert [name for name, _file, _line in stuck][-2:] == ["data_step", "next_batch"]
    assert text.splitlines()[1].startswith("suspect: rank 2: next_batch ← data_step")
    assert found["saved"].with_suffix(".txt").read_text().strip() == text.strip()


def test_the_watchdog_dumps_every_rank_before_it_stops_a_hung_job(tmp_path: Path) -> None:
    """``--timeout``: the dump is in the run directory before the job is stopped,
    and the summary names the suspect."""
    proc, run_dir = start(tmp_path, ["--launcher", "mpirun", "--timeout", "25"])
    try:
        code = proc.wait(timeout=200)
    finally:
        if proc.poll() is None:
            stop(proc)
    assert code == 124  # the watchdog's exit code
    assert ready(run_dir)  # it hung where we wanted, not while starting
    (saved,) = (run_dir / "stacks").glob("*.json")
    report = json.loads(saved.read_text())
    assert report["reason"] == "watchdog"
    assert report["suspect"]["ranks"] == [2]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["stacks"]["suspect"] == [2]
    assert summary["stacks"]["path"] == str(saved.with_suffix(".txt"))
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    notices = [e["text"] for e in events if e["event"] == "notice"]
    dumped = next(i for i, t in enumerate(notices) if t.startswith("watchdog: stacks saved"))
    signalled = next(i for i, t in enumerate(notices) if t.startswith("sent SIGINT"))
    assert dumped < signalled  # dumped while it still hung, then stopped


def test_a_rank_py_spy_may_not_trace_is_asked_through_its_faulthandler(tmp_path: Path) -> None:
    """py-spy refused (emulated: a stand-in that answers as py-spy does when Yama
    forbids ptrace; no kernel setting can be changed here): each rank's
    faulthandler, registered by setup_torch(), gives its stack instead."""
    refusing = tmp_path / "bin"
    refusing.mkdir()
    stub = refusing / "py-spy"
    stub.write_text("#!/bin/sh\necho 'Error: Permission Denied (os error 1)' >&2\nexit 1\n")
    stub.chmod(0o755)
    env = job_env()
    env["PATH"] = f"{refusing}:{env['PATH']}"
    proc, run_dir = start(tmp_path, ["--launcher", "mpirun"])
    try:
        deadline = time.monotonic() + 120
        report: dict = {}  # type: ignore[type-arg]
        while time.monotonic() < deadline and not (report.get("suspect") or {}).get("ranks"):
            assert proc.poll() is None, "the job ended before it hung"
            if ready(run_dir):
                done = subprocess.run(
                    [str(EZPZ_TUI), "--stacks", str(run_dir)],
                    env=env, capture_output=True, text=True, timeout=60, check=False,
                )  # fmt: skip
                assert done.returncode == 0, done.stderr
                report = json.loads(sorted((run_dir / "stacks").glob("*.json"))[-1].read_text())
            time.sleep(0.5)
        assert report["suspect"]["ranks"] == [2], report
    finally:
        code = stop(proc) if proc.poll() is None else proc.returncode
    assert code == 130  # the signal never killed a rank: only handlers were asked
    sources = {s["rank"]: s["source"] for s in report["stacks"]}
    assert sources == dict.fromkeys(range(4), "faulthandler")
    assert all("Permission Denied" in s["error"] for s in report["stacks"])
    assert "faulthandler" in done.stdout.splitlines()[0]


def test_under_a_real_srun_the_wrappers_answer_through_slurm(
    slurm_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    """``salloc -N1 -n2 ezpz-tui --run --rank-io wrapper``: --stacks from outside
    the allocation asks the run, whose srun forwards SIGUSR1 to both tasks'
    wrappers; rank 1 (stuck in its data step) is named."""
    job = tmp_path / "hung.py"
    job.write_text(HUNG_JOB.replace("if rank == 2:", "if rank == 1:"))
    run_dir = tmp_path / "run"
    env = {**slurm_env, "NO_COLOR": "1"}
    argv = ["salloc", "-N1", "-n2", "--time=5", str(EZPZ_TUI), "--run", "--quiet"]
    argv += [f"--run-dir={run_dir}", "--rank-io", "wrapper", "--", PY, str(job)]
    proc = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 150
        report: dict = {}  # type: ignore[type-arg]
        while time.monotonic() < deadline and (report.get("suspect") or {}).get("ranks") != [1]:
            assert proc.poll() is None, "the job ended before it hung"
            logs = [run_dir / "ranks" / f"rank-{r}.log" for r in range(2)]
            if all(p.exists() and "ready" in p.read_text() for p in logs):
                done = subprocess.run(
                    [str(EZPZ_TUI), "--stacks", str(run_dir)],
                    env=env, capture_output=True, text=True, timeout=60, check=False,
                )  # fmt: skip
                assert done.returncode == 0, done.stderr
                report = json.loads(sorted((run_dir / "stacks").glob("*.json"))[-1].read_text())
            time.sleep(0.5)
        assert report["suspect"]["ranks"] == [1], report
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=90)
    assert code == 143, code  # salloc revokes the allocation on SIGINT: SIGTERM to --run
    assert {s["rank"]: s["source"] for s in report["stacks"]} == {0: "py-spy", 1: "py-spy"}
    assert any(t.startswith("stacks saved in") for t in notices(run_dir))  # the session's
