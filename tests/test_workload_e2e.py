"""The reference workload and a run's metrics, end to end with real parts.

``ezpz-tui --run`` (the real console script) starts the workload on 2 ranks over
real Open MPI with mpi4py and gloo, and under ``torchrun``; metrics come from the
history file our workload writes, from an ezpz-style history found under
``outputs/``, or from log lines (the real ezpz sample ``console.log`` fed through
``--launcher none -- cat``). MPICH/Hydra with an Open MPI mpi4py is the real
mismatch ezpz users hit. wandb runs for real, offline, with no API key and no
network access needed. Environments are built from nothing (see
``tests/test_run_e2e.py``); each subprocess has a timeout that only guards hangs.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from ezpz_core.history import HistoryTail
from ezpz_core.metrics import MetricSeries
from tests.test_run_e2e import (
    HANG_GUARD_S,
    MPICH_BIN,
    Result,
    describe,
    job_env,
    load,
    only_run_dir,
    run_ezpz,
)

SAMPLES = Path(__file__).resolve().parent / "data" / "ezpz-test-2ranks"  # see data/README.md
PY = sys.executable


def run(
    tmp_path: Path,
    flags: Sequence[str],
    command: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Result:
    """``ezpz-tui --run FLAGS [-- COMMAND]`` in ``tmp_path`` (no command: the workload)."""
    return run_ezpz(tmp_path, flags, command, env)


def history_series(path: Path, rank: int = 0) -> tuple[MetricSeries, HistoryTail]:
    tail = HistoryTail(path)
    series = MetricSeries(rank)
    series.add(tail.poll(final=True))
    return series, tail


def step_lines(result: Result, rank: int) -> list[str]:
    prefix = f"[{rank}] step="
    return [line for line in result.stdout.splitlines() if line.startswith(prefix)]


def test_run_with_no_command_trains_the_workload_on_two_openmpi_ranks(tmp_path: Path) -> None:
    result = run(tmp_path, ["-n", "2"])
    assert result.code == 0, describe(result)
    run_dir = result.run_dir
    plan = load(run_dir / "plan.json")
    assert plan["launcher_flavour"] == "openmpi"
    assert plan["command"][-2:] == ["-m", "ezpz_core.workload"]
    # every rank prints its step lines; rank 0's carry the spread across ranks
    assert len(step_lines(result, 0)) == len(step_lines(result, 1)) == 20
    assert "(±" in step_lines(result, 0)[0]
    assert "rendezvous=" in result.stdout and "(mpi4py)" in result.stdout
    assert "backend=gloo" in result.stdout
    series, tail = history_series(run_dir / "history.jsonl")
    assert tail.corrupt == 0
    assert series.rows == 20  # one row per logged step (200 steps, every 10th)
    assert series.points["step"].ys == [float(s) for s in range(10, 201, 10)]
    loss = series.stats["loss"]
    assert loss.last < loss.first
    rows = [json.loads(x) for x in (run_dir / "history.jsonl").read_text().splitlines()]
    assert {row["rank"] for row in rows} == {0}
    assert set(rows[0]["aggregated"]) >= {"loss/mean", "loss/min", "loss/max", "loss/std"}
    assert rows[0]["aggregated"]["loss/min"] <= rows[0]["metrics"]["loss"]
    summary = load(run_dir / "summary.json")
    assert summary["metrics_source"] == f"history:{run_dir / 'history.jsonl'}"
    assert summary["metrics"]["loss"]["count"] == 20
    assert summary["metrics"]["loss"]["last"] < summary["metrics"]["loss"]["first"]
    # the end-of-run chart, as text (stderr is a pipe: no colour codes)
    assert "metrics     20 step(s) from history" in result.stderr
    assert "\x1b[" not in result.stderr


def test_the_workload_under_torchrun_nproc_per_node_2(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        ["-n", "2", "--launcher", "torchrun"],
        [PY, "-m", "ezpz_core.workload", "--steps", "40", "--log-every", "5"],
    )
    assert result.code == 0, describe(result)
    plan = load(result.run_dir / "plan.json")
    argv = plan["argv"]
    assert argv[argv.index("--nproc-per-node") + 1] == "2"
    assert "(env)" in result.stdout  # torchrun's MASTER_ADDR/PORT were used
    assert len(step_lines(result, 0)) == len(step_lines(result, 1)) == 8
    series, _ = history_series(result.run_dir / "history.jsonl")
    assert series.rows == 8
    assert series.stats["loss"].last < series.stats["loss"].first


def test_mpi4py_from_another_mpi_fails_on_every_rank_with_the_diagnosis(tmp_path: Path) -> None:
    """MPICH's mpiexec (Hydra) with mpi4py built for Open MPI: each rank sees a
    world of one; the workload must say so on every rank, not hang or fail in torch."""
    env = job_env(mpich=True)
    proc = subprocess.run(
        [str(MPICH_BIN / "mpiexec"), "-n", "2", PY, "-m", "ezpz_core.workload", "--steps", "3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert proc.returncode != 0
    for rank in (0, 1):
        assert f"rank {rank}: the launcher started 2 ranks, but mpi4py sees a world of 1" in (
            proc.stderr
        ), proc.stderr
    assert "set MASTER_ADDR and MASTER_PORT" in proc.stderr
    assert "invalid literal" not in proc.stderr


def test_log_lines_give_metrics_when_there_is_no_history_file(tmp_path: Path) -> None:
    log = SAMPLES / "console.log"
    result = run(tmp_path, ["--launcher", "none"], ["cat", str(log)])
    assert result.code == 0, describe(result)
    summary = load(result.run_dir / "summary.json")
    assert summary["metrics_source"] == "log"
    expected, _ = history_series(SAMPLES / "metrics.jsonl", rank=0)
    metrics = summary["metrics"]
    assert metrics["iter"]["count"] == expected.rows == 19
    for key in ("loss", "accuracy", "dtf", "dtb", "tflops"):
        for field in ("first", "last", "min", "max"):
            got = metrics[key][field]
            want = getattr(expected.stats[key], {"min": "low", "max": "high"}.get(field, field))
            assert math.isclose(got, want, abs_tol=5e-7), (key, field, got, want)
    assert "metrics     19 step(s) from log" in result.stderr


@pytest.mark.parametrize(("flags", "rank"), [([], 0), (["--metrics-rank", "1"], 1)])
def test_log_metrics_come_from_one_rank(tmp_path: Path, flags: list[str], rank: int) -> None:
    program = tmp_path / "steps.py"
    program.write_text(
        "import os\n"
        "rank = int(os.environ['OMPI_COMM_WORLD_RANK'])\n"
        "for step in range(1, 6):\n"
        "    print(f'step={step} loss={10 * (rank + 1) - step}', flush=True)\n"
    )
    result = run(tmp_path, ["-n", "2", "--launcher", "mpirun", *flags], [PY, str(program)])
    assert result.code == 0, describe(result)
    summary = load(result.run_dir / "summary.json")
    assert summary["metrics_source"] == "log"
    top = 10 * (rank + 1)
    assert summary["metrics"]["loss"] == {
        "count": 5,
        "first": top - 1.0,
        "last": top - 5.0,
        "min": top - 5.0,
        "max": top - 1.0,
        "mean": top - 3.0,
    }


EZPZ_JOB = """\
import os, shutil, sys, time
stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
target = os.path.join("outputs", "history", stamp, stamp + ".jsonl")
os.makedirs(os.path.dirname(target), exist_ok=True)
with open(sys.argv[1]) as rows, open(target, "a") as out:
    for row in rows:
        out.write(row)
        out.flush()
print("done", target, flush=True)
"""


def test_an_unmodified_ezpz_jobs_history_is_found_under_outputs(tmp_path: Path) -> None:
    """A job that ignores $EZPZ_HISTORY and writes ezpz's default path, as ezpz does;
    an older .jsonl already under outputs/ is not taken for it."""
    old = tmp_path / "outputs" / "history" / "old" / "old.jsonl"
    old.parent.mkdir(parents=True)
    shutil.copy(SAMPLES / "metrics.jsonl", old)
    job = tmp_path / "ezpz_job.py"
    job.write_text(EZPZ_JOB)
    result = run(tmp_path, ["--launcher", "none"], [PY, str(job), str(SAMPLES / "metrics.jsonl")])
    assert result.code == 0, describe(result)
    written = next(p for p in (tmp_path / "outputs" / "history").rglob("*.jsonl") if p != old)
    summary = load(result.run_dir / "summary.json")
    assert summary["metrics_source"] == f"history:{written}"
    assert summary["metrics"]["iter"]["count"] == 19  # rank 0's rows only
    assert f"metrics from history {written}" in result.stderr


def test_wandb_runs_offline_without_an_api_key(tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    env = job_env(
        HOME=str(tmp_path),  # no ~/.netrc with a key
        WANDB_DIR=str(tmp_path),
        WANDB_SILENT="true",
        WANDB_DISABLE_GIT="true",
    )
    env.pop("WANDB_API_KEY", None)
    proc = subprocess.run(
        [PY, "-m", "ezpz_core.workload", "--steps", "4", "--log-every", "2", "--wandb"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "step=4" in proc.stdout
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, os.listdir(tmp_path)
    assert any(runs[0].rglob("*.wandb"))


def test_an_unwritable_history_path_fails_at_once_with_a_message(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = subprocess.run(
        [PY, "-m", "ezpz_core.workload", "--steps", "2", "--history", str(blocker / "h.jsonl")],
        env=job_env(),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert proc.returncode == 2
    assert f"history file {blocker / 'h.jsonl'}: cannot open it" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_workload_rejects_bad_flags_without_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [PY, "-m", "ezpz_core.workload", "--steps", "0"],
        env=job_env(),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert proc.returncode == 2
    assert "--steps must be at least 1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_summary_has_no_metrics_when_the_job_prints_none(tmp_path: Path) -> None:
    result = run(tmp_path, ["--launcher", "none"], ["echo", "hello"])
    assert result.code == 0, describe(result)
    summary = load(only_run_dir(tmp_path / "out") / "summary.json")
    assert summary["metrics_source"] is None
    assert summary["metrics"] == {}
    assert "\n  metrics " not in result.stderr
