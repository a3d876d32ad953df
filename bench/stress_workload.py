"""Stress the default job's exit: ``ezpz-tui --run -n 2`` with no command, N times.

Each run is the reference workload (``python -m ezpz_core.workload``) on 2 Open MPI
ranks with gloo, exactly as a user starts it: ``ezpz-tui --run -n 2 --outdir TMP``,
the venv's bin first on PATH, stdout and stderr captured. Its exit once depended
on a race between gloo's worker threads and interpreter finalisation (SIGABRT,
exit 134, in most runs; see docs/dist.md, "At the end: cleanup()"), so one green
run proves nothing: this runs it ``--runs`` times in a row (default 20).

For every run it records the exit code and, for a non-zero one, the tail of stderr,
the run's ``summary.json`` ``exit_code``/``reason`` and the end of its
``combined.log`` (where the ranks' abort trace is); a failed run's directory is
kept under a temporary ``ezpz-stress-*`` folder. It prints one line per run and a
one-line verdict, writes ``bench/stress_results.json`` (git-ignored) and exits 1
if any run exited non-zero. Never part of ``make test``: ``make stress``.

Run alone: ``.venv/bin/python bench/stress_workload.py [--runs N] [--output PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
EZPZ_TUI = VENV_BIN / "ezpz-tui"
DEFAULT_OUTPUT = ROOT / "bench" / "stress_results.json"
STDERR_TAIL = 3000  # characters of stderr kept for a failed run
LOG_TAIL_LINES = 40  # lines of the run's combined.log kept for a failed run (the trace)
HANG_GUARD_S = 300  # one run takes seconds; this only stops a hang


@dataclass(frozen=True)
class RunResult:
    index: int
    exit_code: int
    seconds: float
    run_dir: str | None  # kept only for a failed run
    summary_exit_code: int | None  # from summary.json; None when there is none
    summary_reason: str | None
    stderr_tail: str  # only for a failed run
    log_tail: str  # only for a failed run: the end of combined.log, where the ranks' trace is


def stress_env() -> dict[str, str]:
    """The venv first on PATH, so ``mpirun`` and ``python`` are the venv's."""
    path = os.environ.get("PATH", "")
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{path}", "NO_COLOR": "1"}


def as_text(data: bytes | str | None) -> str:
    """What a timed-out run had written (bytes even with ``text=True``)."""
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def only_run_dir(outdir: Path) -> Path | None:
    """The run directory ezpz-tui made under ``outdir``, if any."""
    runs = sorted(p for p in outdir.iterdir() if p.is_dir()) if outdir.is_dir() else []
    return runs[-1] if runs else None


def read_summary(run_dir: Path | None) -> dict[str, Any]:
    if run_dir is None:
        return {}
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def log_tail(run_dir: Path | None) -> str:
    if run_dir is None:
        return ""
    try:
        lines = (run_dir / "combined.log").read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])


def one_run(index: int, env: dict[str, str], root: Path) -> RunResult:
    """One ``ezpz-tui --run -n 2``; a passing run's files are removed, a failing
    run's are kept under ``root`` for the post-mortem."""
    workdir = root / f"run-{index:02d}"
    outdir = workdir / "out"
    workdir.mkdir()
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [str(EZPZ_TUI), "--run", "-n", "2", "--outdir", str(outdir)],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_S,
            check=False,
        )
        code, stderr = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code = 124  # as timeout(1) reports it
        stderr = as_text(exc.stderr) + f"\n[stress] killed after {HANG_GUARD_S} s"
    seconds = time.perf_counter() - started
    run_dir = only_run_dir(outdir)
    summary = read_summary(run_dir)
    failed = code != 0
    result = RunResult(
        index=index,
        exit_code=code,
        seconds=round(seconds, 2),
        run_dir=str(run_dir) if failed and run_dir else None,
        summary_exit_code=summary.get("exit_code"),
        summary_reason=summary.get("reason"),
        stderr_tail=stderr[-STDERR_TAIL:] if failed else "",
        log_tail=log_tail(run_dir) if failed else "",
    )
    if not failed:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def indented(title: str, lines: list[str]) -> str:
    return "\n".join([f"  {title}:", *(f"    {line}" for line in lines)])


def verdict(results: list[RunResult]) -> str:
    failed = [r for r in results if r.exit_code != 0]
    codes = " ".join(str(r.exit_code) for r in results)
    if not failed:
        return f"PASS: all {len(results)} runs exited 0 ({codes})"
    return f"FAIL: {len(failed)} of {len(results)} runs exited non-zero ({codes})"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs in a row (default 20)")
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"JSON results (default {DEFAULT_OUTPUT})",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not EZPZ_TUI.exists():
        print(f"stress: {EZPZ_TUI} not found; run `make test` (or install the venv) first")
        return 2
    env = stress_env()
    root = Path(tempfile.mkdtemp(prefix="ezpz-stress-"))
    results: list[RunResult] = []
    for index in range(1, args.runs + 1):
        result = one_run(index, env, root)
        results.append(result)
        line = f"run {index:2d}/{args.runs}: exit {result.exit_code}  {result.seconds:.1f} s"
        if result.exit_code != 0:
            line += (
                f"  summary exit_code={result.summary_exit_code} reason={result.summary_reason!r}"
                f"  kept {result.run_dir}"
            )
        print(line, flush=True)
        if result.exit_code != 0:
            print(indented("stderr tail", result.stderr_tail.splitlines()[-6:]))
            print(indented("combined.log tail", result.log_tail.splitlines()[-15:]), flush=True)
    summary = verdict(results)
    print(summary)
    if not any(r.exit_code for r in results):
        shutil.rmtree(root, ignore_errors=True)
    report = {
        "command": f"{EZPZ_TUI} --run -n 2 --outdir TMP",
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "runs": args.runs,
        "exit_codes": [r.exit_code for r in results],
        "failed": sum(r.exit_code != 0 for r in results),
        "verdict": summary,
        "results": [asdict(r) for r in results],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {args.output}")
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
