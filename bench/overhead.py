"""What ``ezpz-tui --run`` adds to a tiny job: wall time and peak RSS of the process tree.

``ezpz-tui --run -n 2 --launcher mpirun --outdir TMP -- python -c pass`` against the
bare argv the plan runs (``ezpz-tui --dry-run --json ...``, field ``argv``), in
label mode (``mpirun --tag-output``) and in wrapper mode (``--rank-io wrapper``:
``mpirun ... python -m ezpz_core.rankio -- python -c pass``). Wrapper mode is also
compared with the plain launcher argv (``--rank-io none``), which is what the
wrapper costs on top of what the user would otherwise type.

Method: runs alternate (bare, ours, bare, ours, ...) so drift on this shared
machine hits both alike; medians of ``REPEATS`` runs.

* wall: ``time.perf_counter`` around ``subprocess.run``, with nothing else running;
* peak RSS: separate runs under a poller that every ``POLL_S`` sums the RSS of the
  started process and all its descendants (psutil, ``children(recursive=True)``)
  and keeps the maximum. Shared pages (the Python binary, libmpi) are counted once
  per process, so this over-states real memory alike for both sides; processes
  that live for less than one poll can be missed. The root process's own peak
  (ezpz-tui itself, or mpirun for the bare argv) is recorded too.

Run alone: ``.venv/bin/python bench/overhead.py [--repeats K]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

REPEATS = 5
POLL_S = 0.002
TARGET_ADDED_S = 0.5
TARGET_ADDED_MB = 100.0
COMMAND = ("python", "-c", "pass")

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
EZPZ_TUI = VENV_BIN / "ezpz-tui"


def bench_env() -> dict[str, str]:
    """The venv first on PATH, so ``python`` and ``mpirun`` are the same for both sides."""
    path = os.environ.get("PATH", "")
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{path}", "NO_COLOR": "1"}


def plan_argv(
    env: dict[str, str], rank_io: str | None, command: Sequence[str] = COMMAND
) -> list[str]:
    """The argv ezpz-tui would run for 2 ranks (``--dry-run --json``, field ``argv``)."""
    argv = [str(EZPZ_TUI), "--dry-run", "--json", "-n", "2", "--launcher", "mpirun"]
    if rank_io:
        argv += ["--rank-io", rank_io]
    out = subprocess.run(
        [*argv, "--", *command], check=True, env=env, capture_output=True, text=True
    ).stdout
    return list(json.loads(out)["argv"])


def tui_argv(outdir: Path, rank_io: str | None) -> list[str]:
    argv = [str(EZPZ_TUI), "--run", "-n", "2", "--launcher", "mpirun", "--outdir", str(outdir)]
    if rank_io:
        argv += ["--rank-io", rank_io]
    return [*argv, "--", *COMMAND]


def wall(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(
        argv, check=False, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {' '.join(argv)}")
    return seconds


def peak_rss(argv: list[str], env: dict[str, str]) -> tuple[int, int]:
    """Peak summed RSS of the process tree, and the root process's own peak (bytes)."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)
    tree_peak = own_peak = 0
    while proc.poll() is None:
        total = 0
        try:
            own = root.memory_info().rss
            total = own
            own_peak = max(own_peak, own)
            children = root.children(recursive=True)
        except psutil.Error:
            children = []
        for child in children:
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        tree_peak = max(tree_peak, total)
        time.sleep(POLL_S)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {' '.join(argv)}")
    return tree_peak, own_peak


def _measure(
    bare: list[str], ours_for, env: dict[str, str], repeats: int, tmp: Path
) -> dict[str, list[float]]:
    """Alternating runs; ``ours_for(outdir)`` gives ezpz-tui's argv for a fresh outdir."""
    out: dict[str, list[float]] = {k: [] for k in ("bare_s", "ours_s", "bare_mb", "ours_mb")}
    out.update(bare_own_mb=[], ours_own_mb=[])
    wall(bare, env)  # warm-up: page cache, Open MPI's first start
    wall(ours_for(tmp / "warm"), env)
    for i in range(repeats):
        out["bare_s"].append(wall(bare, env))
        out["ours_s"].append(wall(ours_for(tmp / f"w{i}"), env))
    for i in range(repeats):
        tree, own = peak_rss(bare, env)
        out["bare_mb"].append(tree / 1e6)
        out["bare_own_mb"].append(own / 1e6)
        tree, own = peak_rss(ours_for(tmp / f"m{i}"), env)
        out["ours_mb"].append(tree / 1e6)
        out["ours_own_mb"].append(own / 1e6)
    return out


def _row(name: str, bare_desc: str, m: dict[str, list[float]], judged: bool) -> dict[str, Any]:
    med = {k: statistics.median(v) for k, v in m.items()}
    added_s = med["ours_s"] - med["bare_s"]
    added_mb = med["ours_mb"] - med["bare_mb"]
    return {
        "name": name,
        "baseline": bare_desc,
        "judged": judged,
        "runs": m,
        "bare_s": med["bare_s"],
        "ours_s": med["ours_s"],
        "added_s": added_s,
        "bare_peak_mb": med["bare_mb"],
        "ours_peak_mb": med["ours_mb"],
        "added_mb": added_mb,
        "ours_own_peak_mb": med["ours_own_mb"],
        "bare_own_peak_mb": med["bare_own_mb"],
        "targets": {
            "added_s": {
                "target": TARGET_ADDED_S,
                "value": added_s,
                "pass": added_s <= TARGET_ADDED_S,
            },
            "added_mb": {
                "target": TARGET_ADDED_MB,
                "value": added_mb,
                "pass": added_mb <= TARGET_ADDED_MB,
            },
        },
    }


def run(repeats: int = REPEATS, workdir: Path | None = None, log=print) -> dict[str, Any]:
    env = bench_env()
    tmp = Path(tempfile.mkdtemp(prefix="ezpz-bench-overhead-", dir=workdir))
    rows = []
    try:
        label_bare = plan_argv(env, None)
        wrapper_bare = plan_argv(env, "wrapper")
        plain_bare = plan_argv(env, "none")
        for name, rank_io, bare, desc, judged in (
            ("label", None, label_bare, "plan argv (mpirun --tag-output)", True),
            ("wrapper", "wrapper", wrapper_bare, "plan argv (mpirun ... rankio --)", True),
            ("wrapper vs plain", "wrapper", plain_bare, "plain mpirun (--rank-io none)", False),
        ):
            log(f"overhead: {name}: bare = {' '.join(bare)}")
            m = _measure(bare, lambda d, r=rank_io: tui_argv(d, r), env, repeats, tmp)
            row = _row(name, desc, m, judged)
            row["bare_argv"] = bare
            row["ours_argv"] = tui_argv(Path("TMP"), rank_io)
            rows.append(row)
            log(
                f"overhead: {name}: wall {row['bare_s']:.3f} -> {row['ours_s']:.3f} s "
                f"(+{row['added_s']:.3f} s), peak tree RSS {row['bare_peak_mb']:.0f} -> "
                f"{row['ours_peak_mb']:.0f} MB (+{row['added_mb']:.0f} MB)"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "repeats": repeats,
        "command": " ".join(COMMAND),
        "ranks": 2,
        "rss_method": "psutil: sum of RSS over the process tree, polled every "
        f"{POLL_S * 1000:g} ms, peak kept",
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.repeats), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
