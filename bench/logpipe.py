"""Log-pipeline throughput: 2,000,000 Open MPI ``--tag-output`` lines from 1,024 ranks.

Times the real headless pipeline, ``ezpz-tui --run --launcher none --outdir TMP --
cat FILE`` with stdout to /dev/null (line splitting, label parsing, the display
filter, ``combined.log``, ``ranks/rank-N.log`` and ``summary.json`` all happen),
and, in the same run and interleaved with it, ``grep -c '' FILE`` as the baseline.
The file is read from the page cache by both. After every run the run directory
is checked: every line counted, rank 0's log byte-for-byte as generated.

Run alone: ``.venv/bin/python bench/logpipe.py [--lines N] [--repeats K]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LINES = 2_000_000
RANKS = 1024
SEED = 20261126
REPEATS = 3
TARGET_LINES_PER_S = 1_000_000
TARGET_RATIO = 0.15

ROOT = Path(__file__).resolve().parent.parent
EZPZ_TUI = ROOT / ".venv" / "bin" / "ezpz-tui"

_MODULES = ("ezpz/train", "ezpz/dist", "ezpz/history", "torch/optim", "ezpz/data")


def _text(rng: random.Random, rank: int, step: int) -> tuple[str, str]:
    """One training-log line of about 60-80 characters, and its stream."""
    pick = rng.random()
    if pick < 0.80:
        return "stdout", (
            f"[ezpz/train:{rng.randint(100, 999)}] step={step} loss={rng.uniform(0.5, 9):.6f} "
            f"lr={rng.uniform(1e-5, 3e-4):.6f} dt={rng.uniform(0.05, 0.9):.4f}s"
        )
    if pick < 0.90:
        return "stdout", (
            f"[I][{rng.choice(_MODULES)}:{rng.randint(10, 999)}] rank {rank}: "
            f"tokens/s={rng.uniform(1e3, 9e4):.1f} mem={rng.uniform(1, 60):.2f}GiB"
        )
    if pick < 0.97:
        return "stdout", (
            f"[I][ezpz/data:{rng.randint(10, 99)}] loaded shard {rng.randint(0, 99999):05d} "
            f"({rng.randint(1000, 99999)} samples) in {rng.uniform(0.01, 2):.3f}s"
        )
    return "stderr", (
        f"[W][ezpz/dist:{rng.randint(10, 99)}] slow all_reduce on rank {rank}: "
        f"{rng.uniform(1, 999):.1f} ms (bucket {rng.randint(0, 63)})"
    )


def generate(path: Path, lines: int = LINES, ranks: int = RANKS, seed: int = SEED) -> dict:
    """Write ``lines`` labelled lines, every rank once per step in a shuffled order.

    Returns the per-rank line counts and rank 0's lines as its log should hold them.
    """
    rng = random.Random(seed)
    counts = [0] * ranks
    rank0: list[str] = []
    order = list(range(ranks))
    written = step = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        while written < lines:
            rng.shuffle(order)
            batch = []
            for rank in order[: lines - written]:
                stream, text = _text(rng, rank, step)
                counts[rank] += 1
                if rank == 0:
                    rank0.append(text)
                batch.append(f"[1,{rank}]<{stream}>: {text}\n")
            written += len(batch)
            fh.write("".join(batch))
            step += 1
    return {"lines": written, "ranks": ranks, "per_rank": counts, "rank0": rank0}


def _timed(argv: list[str], **kwargs: Any) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, check=False, **kwargs)
    return time.perf_counter() - t0, proc


def time_grep(path: Path, pattern: str = "") -> float:
    seconds, proc = _timed(
        ["grep", "-c", pattern, str(path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    if proc.returncode != 0:
        raise RuntimeError(f"grep -c {pattern!r} failed: exit {proc.returncode}")
    return seconds


def time_pipeline(path: Path, outdir: Path, extra: tuple[str, ...] = ()) -> tuple[float, Path]:
    """One headless run over ``path``; returns wall seconds and the run directory."""
    argv = [str(EZPZ_TUI), "--run", "--launcher", "none", "--outdir", str(outdir), *extra]
    argv += ["--", "cat", str(path)]
    env = {**os.environ, "NO_COLOR": "1"}
    seconds, proc = _timed(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=outdir
    )
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"ezpz-tui --run exited {proc.returncode}:\n{tail}")
    runs = sorted(p for p in outdir.iterdir() if p.is_dir())
    if len(runs) != 1:
        raise RuntimeError(f"expected one run directory in {outdir}, found {len(runs)}")
    return seconds, runs[0]


def verify(run_dir: Path, facts: dict, file_size: int) -> dict[str, Any]:
    """Check the run directory against what was generated; raises on any mismatch."""
    summary = json.loads((run_dir / "summary.json").read_text())
    ranks = summary["ranks"]
    problems = []
    if summary["exit_code"] != 0:
        problems.append(f"exit code {summary['exit_code']}")
    total = sum(info["lines"] for info in ranks.values())
    if total != facts["lines"]:
        problems.append(f"summary.json counts {total} lines, expected {facts['lines']}")
    if ranks.get("launcher", {}).get("lines", 0):
        problems.append(f"{ranks['launcher']['lines']} line(s) fell to the launcher lane")
    per_rank = facts["per_rank"]
    wrong = [r for r, n in enumerate(per_rank) if ranks.get(str(r), {}).get("lines", 0) != n]
    if wrong:
        problems.append(f"{len(wrong)} rank(s) with the wrong line count, e.g. rank {wrong[0]}")
    rank_files = list((run_dir / "ranks").glob("rank-*.log"))
    expected_files = sum(1 for n in per_rank if n)
    if len(rank_files) != expected_files:
        problems.append(f"{len(rank_files)} rank files, expected {expected_files}")
    log0 = run_dir / "ranks" / "rank-0.log"
    rank0 = log0.read_text(encoding="utf-8") if log0.exists() else ""
    expected0 = "".join(f"{text}\n" for text in facts["rank0"])
    if rank0 != expected0:
        problems.append(
            f"rank-0.log differs from rank 0's generated lines "
            f"({rank0.count(chr(10))} lines, expected {len(facts['rank0'])})"
        )
    combined = (run_dir / "combined.log").stat().st_size
    if combined != file_size:
        problems.append(f"combined.log is {combined} bytes, the input {file_size}")
    if problems:
        raise RuntimeError(f"logpipe: wrong output in {run_dir}: " + "; ".join(problems))
    return {
        "summary_lines": total,
        "rank0_lines": len(facts["rank0"]),
        "rank_files": len(rank_files),
        "combined_bytes": combined,
        "run_duration_s": summary["duration_s"],
    }


def run(
    lines: int = LINES,
    repeats: int = REPEATS,
    filtered: bool = True,
    workdir: Path | None = None,
    log=print,
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="ezpz-bench-logpipe-", dir=workdir))
    try:
        path = tmp / "tagged.log"
        t0 = time.perf_counter()
        facts = generate(path, lines)
        size = path.stat().st_size
        log(
            f"logpipe: generated {lines:,} lines from {RANKS} ranks "
            f"({size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s"
        )
        time_grep(path)  # warm the page cache
        grep_s, grep_stdout_s, tui_s, in_run_s = [], [], [], []
        filtered_s = None
        for i in range(repeats):
            grep_s.append(time_grep(path))
            grep_stdout_s.append(time_grep(path, "stdout"))
            outdir = tmp / f"out-{i}"
            outdir.mkdir()
            seconds, run_dir = time_pipeline(path, outdir)
            checked = verify(run_dir, facts, size)
            shutil.rmtree(outdir)
            tui_s.append(seconds)
            in_run_s.append(checked["run_duration_s"])
            log(
                f"logpipe: run {i + 1}/{repeats}: ezpz-tui {seconds:.2f} s "
                f"({lines / seconds:,.0f} lines/s), grep -c '' {grep_s[-1]:.3f} s; "
                f"output verified ({checked['summary_lines']:,} lines, "
                f"rank 0: {checked['rank0_lines']} lines)"
            )
        if filtered:
            # Informational: the same run with a noise filter active (the machine
            # here has no profile, so the default run never calls the filter).
            outdir = tmp / "out-filtered"
            outdir.mkdir()
            filtered_s, run_dir = time_pipeline(path, outdir, ("--filter-profile", "aurora"))
            verify(run_dir, facts, size)
            shutil.rmtree(outdir)
            log(
                f"logpipe: with --filter-profile aurora: {filtered_s:.2f} s "
                f"({lines / filtered_s:,.0f} lines/s); output verified"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tui = statistics.median(tui_s)
    grep = statistics.median(grep_s)
    rate = lines / tui
    grep_rate = lines / grep
    ratio = rate / grep_rate
    return {
        "lines": lines,
        "ranks": RANKS,
        "file_bytes": size,
        "repeats": repeats,
        "command": "ezpz-tui --run --launcher none --outdir TMP -- cat FILE >/dev/null",
        "baseline": "grep -c '' FILE",
        "ezpz_tui_s": tui_s,
        "ezpz_tui_in_run_s": in_run_s,
        "grep_s": grep_s,
        "grep_stdout_s": grep_stdout_s,
        "median_s": tui,
        "lines_per_s": rate,
        "grep_lines_per_s": grep_rate,
        "grep_stdout_lines_per_s": lines / statistics.median(grep_stdout_s),
        "ratio": ratio,
        "verified": True,
        "filtered_s": filtered_s,
        "filtered_lines_per_s": lines / filtered_s if filtered_s else None,
        "targets": {
            "lines_per_s": {
                "target": TARGET_LINES_PER_S,
                "value": rate,
                "pass": rate >= TARGET_LINES_PER_S,
            },
            "ratio_vs_grep": {
                "target": TARGET_RATIO,
                "value": ratio,
                "pass": ratio >= TARGET_RATIO,
            },
        },
    }


def profile(lines: int = LINES, top: int = 30, save: Path | None = None) -> None:
    """The same pipeline once under cProfile; prints the top functions by own time."""
    import pstats

    tmp = Path(tempfile.mkdtemp(prefix="ezpz-bench-profile-"))
    try:
        path = tmp / "tagged.log"
        facts = generate(path, lines)
        prof = save or tmp / "logpipe.prof"
        outdir = tmp / "out"
        outdir.mkdir()
        python = EZPZ_TUI.parent / "python"
        argv = [str(python), "-m", "cProfile", "-o", str(prof), "-m", "ezpz_tui.cli", "--run"]
        argv += ["--launcher", "none", "--outdir", str(outdir), "--", "cat", str(path)]
        seconds, proc = _timed(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.decode(errors="replace")[-2000:])
        (run_dir,) = [p for p in outdir.iterdir() if p.is_dir()]
        verify(run_dir, facts, path.stat().st_size)
        print(f"{lines:,} lines in {seconds:.2f} s under cProfile (inflates per-call costs)")
        stats = pstats.Stats(str(prof))
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        if save:
            print(f"profile saved to {save} (e.g. python -m pstats {save})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=LINES)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--no-filtered", action="store_true", help="skip the filtered run")
    parser.add_argument(
        "--profile", action="store_true", help="one run under cProfile: the top functions"
    )
    parser.add_argument("--save-profile", type=Path, help="with --profile: keep the .prof file")
    args = parser.parse_args(argv)
    if args.profile:
        profile(args.lines, save=args.save_profile)
        return 0
    result = run(args.lines, args.repeats, filtered=not args.no_filtered)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
