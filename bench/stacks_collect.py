"""The hang doctor's collection: ``ezpz-tui --stacks`` on real 4- and 64-rank jobs.

Each job is ``ezpz-tui --run -n N --launcher mpirun -- python HUNG`` (real Open MPI
ranks, oversubscribed on this host; plain Python, no torch: 64 torch ranks do not
fit in this machine's memory), every rank parked in a nested call in ``time.sleep``
(rank 2 in another one, so the answer can be checked). Once every rank has said
"ready", ``ezpz-tui --stacks RUN_DIR`` (a fresh process each time: imports, the
ranks found by the job's marker in ``/proc``, one py-spy per rank in parallel,
grouping, both files saved) is timed ``--repeats`` times; each answer is checked
(every rank has a py-spy stack, the suspect is rank 2).

Baseline, timed in the same run, interleaved: one ``py-spy dump --json`` of one of
the job's ranks (what dumping a single process costs: the issue's unit, "about the
time of one py-spy dump per host"). Ratio = ours / that. Info: the serial cost a
tool pays that dumps rank after rank (Ray's ``ray stack``): N x the baseline.

Run alone: ``.venv/bin/python bench/stacks_collect.py [--ranks 4,64] [--repeats K]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
EZPZ_TUI = VENV_BIN / "ezpz-tui"

HUNG = """\
import os, time
rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))


def next_batch():
    time.sleep(900)


def wait_for_peers():
    time.sleep(900)


def step():
    (next_batch if rank == 2 else wait_for_peers)()


print("ready", flush=True)
step()
"""


def _env() -> dict[str, str]:
    return {
        "PATH": f"{VENV_BIN}{os.pathsep}/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "NO_COLOR": "1",
    }


def _ready(run_dir: Path, ranks: int) -> bool:
    logs = [run_dir / "ranks" / f"rank-{r}.log" for r in range(ranks)]
    return all(p.exists() and "ready" in p.read_text() for p in logs)


def _timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t = time.perf_counter()
    done = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=120)
    return time.perf_counter() - t, done


def measure(ranks: int, repeats: int) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="ezpz-stacks-bench-"))
    (tmp / "hung.py").write_text(HUNG)
    run_dir = tmp / "run"
    argv = [str(EZPZ_TUI), "--run", "--quiet", f"--run-dir={run_dir}", "-n", str(ranks)]
    argv += ["--launcher", "mpirun", "--launcher-arg=--oversubscribe", "--"]
    job = subprocess.Popen([*argv, sys.executable, str(tmp / "hung.py")], env=_env(), cwd=tmp)
    try:
        deadline = time.monotonic() + 300
        while not _ready(run_dir, ranks):
            if job.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the {ranks}-rank job did not start (exit {job.poll()})")
            time.sleep(0.2)
        ours, base = [], []
        pid = None
        for _ in range(repeats):
            took, done = _timed([str(EZPZ_TUI), "--stacks", str(run_dir)])
            if done.returncode != 0:
                raise SystemExit(f"--stacks failed: {done.stderr}")
            report = json.loads(sorted((run_dir / "stacks").glob("*.json"))[-1].read_text())
            sources = [s["source"] for s in report["stacks"]]
            if sources != ["py-spy"] * ranks or (report["suspect"] or {}).get("ranks") != [2]:
                raise SystemExit(f"wrong answer: {sources}, {report['suspect']}")
            ours.append(took)
            pid = pid or next(s["pid"] for s in report["stacks"] if s["rank"] == 0)
            one, done = _timed([str(VENV_BIN / "py-spy"), "dump", "--json", "--pid", str(pid)])
            if done.returncode != 0:
                raise SystemExit(f"py-spy failed: {done.stderr}")
            base.append(one)
    finally:
        job.send_signal(signal.SIGINT)
        code = job.wait(timeout=120)
    if code != 130:
        raise SystemExit(f"the {ranks}-rank job ended {code}, not 130 (interrupted)")
    med, one = statistics.median(ours), statistics.median(base)
    return {
        "ranks": ranks,
        "stacks_s": med,
        "stacks_min_s": min(ours),
        "one_dump_s": one,
        "ratio": med / one,
        "serial_s": one * ranks,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", default="4,64")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for n in (int(x) for x in args.ranks.split(",")):
        r = measure(n, args.repeats)
        print(
            f"stacks_collect {n} ranks: --stacks {r['stacks_s'] * 1000:.0f} ms median "
            f"(min {r['stacks_min_s'] * 1000:.0f}); one py-spy dump {r['one_dump_s'] * 1000:.0f} "
            f"ms; x{r['ratio']:.1f}; serial ({n} dumps one after another) "
            f"{r['serial_s'] * 1000:.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
