"""Per-rank resource stats end to end: ``ezpz-tui --run`` in wrapper rank I/O mode.

The real console script starts 2 ranks through a real launcher (Open MPI's
``mpirun --rank-io wrapper``, MPICH/Hydra's ``mpirun`` and ``torchrun``, whose
ranks get the wrapper by default); every rank's wrapper samples its command's
process tree every ``EZPZ_STATS_S`` = 0.5 s into ``<run dir>/stats/rank-N.jsonl``.
The rank program (~1.5 s: busy for a while, then asleep) prints its own pid and
host so the samples can be checked against them. Helpers and the clean job
environment come from ``test_run_e2e``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.test_run_e2e import (
    LAUNCHERS,
    PY,
    describe,
    job_env,
    lines_of,
    load,
    run_ezpz,
    script,
)

RECORD_KEYS = {"t", "rank", "host", "pid", "cpu", "rss", "threads", "procs"}
GPU_KEYS = {"gpu", "gpu_mem", "gpu_src", "gpu_dev"}  # only where a GPU is seen
NOTE = "ezpz rankio: no resource stats: "

RANK_PROGRAM = """\
print(f"pid {RANK} {os.getpid()} {os.uname().nodename}", flush=True)
end = time.monotonic() + 0.5
while time.monotonic() < end:
    pass
time.sleep(1.0)
print(f"done {RANK}", flush=True)
"""


def flags_and_env(launcher: str, **extra: str) -> tuple[list[str], dict[str, str]]:
    flags, env_opts, _, _ = LAUNCHERS[launcher]
    return ["-n", "2", *flags], job_env(**env_opts, **extra)


def samples(path: Path) -> list[dict[str, object]]:
    text = path.read_text()
    assert text.endswith("\n"), f"{path} ends in the middle of a line"
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("launcher", ["openmpi-wrapper", "torchrun", "hydra"])
def test_every_rank_writes_its_resource_samples_into_the_run_dir(
    tmp_path: Path, launcher: str
) -> None:
    prog = script(tmp_path, "rank.py", RANK_PROGRAM)
    flags, env = flags_and_env(launcher, EZPZ_STATS_S="0.5")
    result = run_ezpz(tmp_path, flags, [PY, str(prog)], env)
    assert result.code == 0, describe(result)
    run_dir = result.run_dir
    assert load(run_dir / "plan.json")["rank_io"] == "wrapper"
    assert sorted(p.name for p in (run_dir / "stats").iterdir()) == ["rank-0.jsonl", "rank-1.jsonl"]
    for rank in range(2):
        said = lines_of(run_dir / "ranks" / f"rank-{rank}.log")
        _, _, pid, host = next(s for s in said if s.startswith("pid ")).split()
        rows = samples(run_dir / "stats" / f"rank-{rank}.jsonl")
        assert len(rows) >= 2, rows
        for row in rows:
            assert RECORD_KEYS <= set(row) <= RECORD_KEYS | GPU_KEYS, row
            assert (row["rank"], row["pid"], row["host"]) == (rank, int(pid), host), row
            assert 0 <= row["cpu"] <= 100 * (os.cpu_count() or 1) * 1.1, row
            assert row["rss"] > 0 and row["threads"] >= 1 and row["procs"] >= 1, row
        assert [r["t"] for r in rows] == sorted(r["t"] for r in rows)
        assert max(r["cpu"] for r in rows) > 10, rows  # the busy half second shows
        assert not any(NOTE in s for s in said)


# Attempt 1 turns the run's ``stats`` directory into a file (once both ranks'
# wrappers have made their files in it) and fails; attempt 2 runs with it.
BREAK_STATS_THEN_FAIL = """\
import shutil
stats = os.path.join(os.environ["EZPZ_RUN_DIR"], "stats")
if os.path.isdir(stats):
    if RANK == 0:
        deadline = time.monotonic() + 20
        while len(os.listdir(stats)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        shutil.rmtree(stats)
        with open(stats, "w") as fh:
            fh.write("not a directory")
    else:
        time.sleep(0.5)
    sys.exit(1)
print(f"ran {RANK}", flush=True)
"""


def test_a_stats_dir_that_cannot_be_made_leaves_the_job_alone_and_says_so(
    tmp_path: Path,
) -> None:
    prog = script(tmp_path, "break.py", BREAK_STATS_THEN_FAIL)
    flags, env = flags_and_env("openmpi-wrapper", EZPZ_STATS_S="0.5")
    flags += ["--retries", "1", "--retry-backoff", "0.05"]
    result = run_ezpz(tmp_path, flags, [PY, str(prog)], env)
    assert result.code == 0, describe(result)
    run_dir = result.run_dir
    summary = load(run_dir / "summary.json")
    assert [(a["attempt"], a["exit_code"]) for a in summary["attempts"]] == [(1, 1), (2, 0)]
    assert (run_dir / "stats").is_file()
    for rank in range(2):
        said = lines_of(run_dir / "attempt-2" / "ranks" / f"rank-{rank}.log")
        notes = [s for s in said if s.startswith(NOTE)]
        assert len(notes) == 1, said
        assert str(run_dir / "stats") in notes[0]
        assert [s for s in said if s not in notes] == [f"ran {rank}"]


def test_the_run_argv_tells_every_wrapper_where_the_run_dir_is(tmp_path: Path) -> None:
    """Open MPI's mpirun passes to other hosts only the variables ``-x`` names, so
    the wrapper learns the run directory from its command line, as every launcher
    passes that to every rank."""
    prog = script(tmp_path, "rank.py", RANK_PROGRAM)
    flags, env = flags_and_env("openmpi-wrapper", EZPZ_STATS_S="0.5")
    result = run_ezpz(tmp_path, flags, [PY, str(prog)], env)
    assert result.code == 0, describe(result)
    events = [
        json.loads(line) for line in (result.run_dir / "events.jsonl").read_text().splitlines()
    ]
    argv = next(e["argv"] for e in events if e["event"] == "started")
    at = argv.index("ezpz_core.rankio")
    assert argv[at + 1 : at + 5] == ["--run-dir", str(result.run_dir), "--stacks", "--"]


def test_the_wrapper_samples_into_the_run_dir_its_command_line_names(tmp_path: Path) -> None:
    """A rank on another host, without our environment: ``--run-dir`` is enough."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EZPZ_")}
    env.update(EZPZ_STATS_S="0.2", OMPI_COMM_WORLD_RANK="3", OMPI_COMM_WORLD_SIZE="4")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    command = [PY, "-c", "import time; time.sleep(0.8)"]
    result = subprocess.run(
        [PY, "-m", "ezpz_core.rankio", "--run-dir", str(run_dir), "--", *command],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(b"@ezpz:3:x|0\n")
    rows = samples(run_dir / "stats" / "rank-3.jsonl")
    assert len(rows) >= 2 and {row["rank"] for row in rows} == {3}
