"""``make bench``: run every benchmark, print a table, write ``bench/results.json``.

Figures are judged as ratios or differences against a baseline timed in the same
run (this machine is shared and noisy). Exit status 0 whatever the figures, unless
``--strict`` (then 1 when a judged target is missed); 2 when a benchmark itself
failed (wrong output, a command that exited non-zero).

    .venv/bin/python bench/run_all.py [--only logpipe|overhead] [--quick] [--strict]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import logpipe
import overhead

RESULTS = Path(__file__).resolve().parent / "results.json"


def _machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=logpipe.ROOT,
        ).stdout.strip()
    except OSError:
        commit = ""
    try:
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "ezpz_core", "ezpz_tui"],
            capture_output=True,
            text=True,
            check=False,
            cwd=logpipe.ROOT,
        ).stdout.split("\n")
    except OSError:
        dirty = []
    # Which source the benchmarked ezpz-tui imports (PYTHONPATH=DIR benchmarks another tree).
    source = subprocess.run(
        [
            str(logpipe.EZPZ_TUI.parent / "python"),
            "-c",
            "import ezpz_core; print(ezpz_core.__file__)",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    source_dir = str(Path(source).parent.parent) if source else ""
    in_repo = source_dir == str(logpipe.ROOT)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "commit": commit if in_repo else f"(source outside the repo; repo at {commit})",
        "source": source_dir,
        "uncommitted_source_changes": [line[3:] for line in dirty if line.strip()]
        if in_repo
        else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
    }


def _mark(target: dict[str, Any]) -> str:
    return "pass" if target["pass"] else "MISS"


def table(results: dict[str, Any]) -> str:
    rows = [("benchmark", "measured", "baseline (same run)", "vs baseline", "target", "result")]
    lp = results.get("logpipe")
    if lp:
        t = lp["targets"]
        rows.append(
            (
                f"logpipe {lp['lines'] / 1e6:g}M lines",
                f"{lp['lines_per_s']:,.0f} lines/s",
                f"grep -c '': {lp['grep_lines_per_s']:,.0f} lines/s",
                f"x{lp['ratio']:.4f}",
                f">= {t['lines_per_s']['target']:,} lines/s",
                _mark(t["lines_per_s"]),
            )
        )
        rows.append(
            ("", "", "", "", f"ratio >= {t['ratio_vs_grep']['target']}", _mark(t["ratio_vs_grep"]))
        )
        if lp.get("filtered_lines_per_s"):
            rows.append(
                (
                    "  with aurora filter",
                    f"{lp['filtered_lines_per_s']:,.0f} lines/s",
                    "(one run)",
                    f"x{lp['filtered_lines_per_s'] / lp['grep_lines_per_s']:.4f}",
                    "info",
                    "",
                )
            )
    ov = results.get("overhead")
    if ov:
        for row in ov["rows"]:
            t = row["targets"]
            name = f"overhead {row['name']}" + ("" if row["judged"] else " (info)")
            rows.append(
                (
                    name,
                    f"{row['ours_s']:.3f} s",
                    f"{row['bare_s']:.3f} s",
                    f"+{row['added_s']:.3f} s",
                    f"<= +{t['added_s']['target']} s",
                    _mark(t["added_s"]) if row["judged"] else "",
                )
            )
            rows.append(
                (
                    "",
                    f"{row['ours_peak_mb']:.0f} MB peak",
                    f"{row['bare_peak_mb']:.0f} MB peak",
                    f"+{row['added_mb']:.0f} MB",
                    f"<= +{t['added_mb']['target']:g} MB",
                    _mark(t["added_mb"]) if row["judged"] else "",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _missed(results: dict[str, Any]) -> list[str]:
    missed = []
    lp = results.get("logpipe")
    if lp:
        missed += [f"logpipe {k}" for k, t in lp["targets"].items() if not t["pass"]]
    ov = results.get("overhead")
    if ov:
        for row in ov["rows"]:
            if row["judged"]:
                missed += [
                    f"overhead {row['name']} {k}"
                    for k, t in row["targets"].items()
                    if not t["pass"]
                ]
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the ezpz-tui benchmarks.")
    parser.add_argument("--only", choices=["logpipe", "overhead"], action="append")
    parser.add_argument(
        "--quick", action="store_true", help="200,000 lines, fewer repeats: a smoke run"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    which = args.only or ["logpipe", "overhead"]

    def log(text: str) -> None:
        print(text, flush=True)

    started = time.perf_counter()
    results: dict[str, Any] = {"machine": _machine(), "quick": args.quick}
    failed = False
    try:
        if "logpipe" in which:
            if args.quick:
                results["logpipe"] = logpipe.run(200_000, 1, filtered=False, log=log)
            else:
                results["logpipe"] = logpipe.run(log=log)
        if "overhead" in which:
            results["overhead"] = overhead.run(2 if args.quick else overhead.REPEATS, log=log)
    except Exception:
        traceback.print_exc()
        failed = True
    missed = _missed(results)
    results["missed"] = missed
    results["failed"] = failed
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))
    print()
    print(f"{len(missed)} target(s) missed" + (f": {', '.join(missed)}" if missed else ""))
    print(f"wrote {args.output} ({results['elapsed_s']} s)")
    if failed:
        return 2
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
