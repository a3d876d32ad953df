"""Log-pipeline throughput: 2,000,000 Open MPI ``--tag-output`` lines from 1,024 ranks.

**Ours**: the real headless pipeline, ``ezpz-tui --run --launcher none --outdir TMP
-- cat FILE`` with every line printed into a pipe (stdout a pipe the harness drains
with 1 MB reads, counting lines): line splitting, label parsing, the display filter,
the printer, ``combined.log``, ``ranks/rank-N.log`` and ``summary.json`` all happen.

**Baselines**, timed in the same run on the same file, interleaved (mawk, sed, ours,
ours with stdout to /dev/null, ...): what a shell user would run instead,

* ``mawk`` splitting the file into one file per rank with the label stripped
  (``print text > (dir "/rank-" N ".log")``; ``awk`` if there is no mawk, the
  binary and version are recorded): the target is ours >= 2x its lines/s;
* ``sed -E 's/^\\[[0-9]+,([0-9]+)\\]<std[a-z]+>: /[\\1] /' FILE`` into a pipe drained
  the same way (the printer's label rewrite alone; info).

Also (info): ours with stdout to /dev/null, the configuration of issue 11's
figures, and one run with ``--filter-profile aurora``. Issue 11's ``grep -c ''``
baseline (it only counts newlines) is retired.

The file is read from the page cache by every command. After every run its output
is checked (a mismatch stops the benchmark, exit 2): ours: exit code 0, every line
printed, ``summary.json`` counts every line with the right count per rank and none
in the launcher lane, one file per rank, rank 0's log byte-for-byte as generated,
``combined.log`` as large as the input; mawk: one file per rank with the right line
count, rank 0's byte-for-byte; sed: every line out.

``--text plain`` generates the same file (same labels, order, streams and line
lengths) with filler text instead of training-log lines (no ``step=``/``loss=``, so
rank 0's lines skip the log-metrics parser): what the text costs.

Run alone: ``.venv/bin/python bench/logpipe.py [--lines N] [--repeats K] [--text
plain]``; ``--profile`` runs ours once under cProfile.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

LINES = 2_000_000
RANKS = 1024
SEED = 20261126
REPEATS = 3
TARGET_LINES_PER_S = 1_000_000  # stretch
TARGET_RATIO_MAWK = 2.0

ROOT = Path(__file__).resolve().parent.parent
EZPZ_TUI = ROOT / ".venv" / "bin" / "ezpz-tui"

_MODULES = ("ezpz/train", "ezpz/dist", "ezpz/history", "torch/optim", "ezpz/data")
# Filler for --text plain: no step/iter word, no error word.
_FILL = "the quick brown fox jumps over the lazy dog while a model trains on shards " * 3

MAWK_PROGRAM = (
    '{ c = index($0, ","); b = index($0, "]"); p = index($0, ">: ");'
    ' print substr($0, p + 3) > (dir "/rank-" substr($0, c + 1, b - c - 1) ".log") }'
)
SED_SCRIPT = r"s/^\[[0-9]+,([0-9]+)\]<std[a-z]+>: /[\1] /"
TEXTS = ("training", "plain")


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


def generate(
    path: Path, lines: int = LINES, ranks: int = RANKS, seed: int = SEED, text: str = "training"
) -> dict:
    """Write ``lines`` labelled lines, every rank once per step in a shuffled order.

    ``text="plain"``: the same file with each line's text replaced by filler of the
    same length. Returns the per-rank line counts and rank 0's lines as its log
    should hold them.
    """
    rng = random.Random(seed)
    counts = [0] * ranks
    rank0: list[str] = []
    order = list(range(ranks))
    written = step = 0
    plain = text == "plain"
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        while written < lines:
            rng.shuffle(order)
            batch = []
            for rank in order[: lines - written]:
                stream, body = _text(rng, rank, step)
                if plain:
                    body = _FILL[: len(body)]
                counts[rank] += 1
                if rank == 0:
                    rank0.append(body)
                batch.append(f"[1,{rank}]<{stream}>: {body}\n")
            written += len(batch)
            fh.write("".join(batch))
            step += 1
    return {"lines": written, "ranks": ranks, "per_rank": counts, "rank0": rank0, "text": text}


def filesystem(path: Path) -> dict[str, str]:
    """The filesystem holding ``path``: mount point, type, device."""
    best = None
    for part in psutil.disk_partitions(all=True):
        mount = part.mountpoint.rstrip("/") + "/"
        if (str(path.resolve()) + "/").startswith(mount) and (
            best is None or len(part.mountpoint) > len(best.mountpoint)
        ):
            best = part
    if best is None:
        return {}
    return {"mount": best.mountpoint, "type": best.fstype, "device": best.device}


def _drain(proc: subprocess.Popen) -> int:
    """Read ``proc``'s stdout to the end in 1 MB chunks; returns the newlines seen."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    count = 0
    while chunk := os.read(fd, 1 << 20):
        count += chunk.count(b"\n")
    return count


def _line_bound(path: Path) -> int:
    """An upper bound of the lines in ``path`` (for time limits): 40 bytes a line."""
    return path.stat().st_size // 40 + 1


def _kill_tree(pid: int) -> None:
    """SIGKILL a process we started and everything under it."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def awk_binary() -> tuple[str, str]:
    """mawk if installed, else awk; and its version line."""
    binary = shutil.which("mawk") or shutil.which("awk")
    if binary is None:
        raise RuntimeError("logpipe: neither mawk nor awk is on PATH")
    version = ""
    for flag in ("-W", "--version"):
        argv = [binary, "-W", "version"] if flag == "-W" else [binary, "--version"]
        proc = subprocess.run(
            argv, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
        first = (proc.stdout or proc.stderr).strip().splitlines()
        if proc.returncode == 0 and first:
            version = first[0]
            break
    return binary, version


def time_awk(binary: str, path: Path, outdir: Path, facts: dict) -> float:
    """The per-rank split with awk; checks its files (counts, rank 0's bytes)."""
    outdir.mkdir()
    argv = [binary, "-v", f"dir={outdir}", MAWK_PROGRAM, str(path)]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, check=False, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{binary} exited {proc.returncode}: {proc.stderr[-500:]!r}")
    problems = []
    files = list(outdir.glob("rank-*.log"))
    expected = sum(1 for n in facts["per_rank"] if n)
    if len(files) != expected:
        problems.append(f"{len(files)} rank files, expected {expected}")
    for f in files:
        rank = int(f.name[5:-4])
        with open(f, "rb") as fh:
            count = fh.read().count(b"\n")
        if count != facts["per_rank"][rank]:
            problems.append(f"{f.name}: {count} lines, expected {facts['per_rank'][rank]}")
            break
    rank0 = (outdir / "rank-0.log").read_text(encoding="utf-8")
    if rank0 != "".join(f"{text}\n" for text in facts["rank0"]):
        problems.append("rank-0.log differs from rank 0's generated lines")
    if problems:
        raise RuntimeError(f"logpipe: wrong {binary} output in {outdir}: " + "; ".join(problems))
    shutil.rmtree(outdir)
    return seconds


def time_sed(path: Path, lines: int) -> float:
    """``sed`` stripping the labels, into a pipe drained here; checks every line came out."""
    argv = ["sed", "-E", SED_SCRIPT, str(path)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    count = _drain(proc)
    proc.wait()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0 or count != lines:
        raise RuntimeError(f"sed exited {proc.returncode} after {count} of {lines} lines")
    return seconds


def time_pipeline(
    path: Path, outdir: Path, extra: tuple[str, ...] = (), stdout: str = "pipe"
) -> tuple[float, Path, int | None]:
    """One headless run over ``path``: wall seconds, the run directory, lines printed.

    ``stdout``: ``"pipe"`` (drained here, lines counted) or ``"devnull"`` (None printed).
    """
    argv = [str(EZPZ_TUI), "--run", "--launcher", "none", "--outdir", str(outdir), *extra]
    argv += ["--", "cat", str(path)]
    env = {**os.environ, "NO_COLOR": "1"}
    err_path = outdir / "stderr.txt"
    printed = None
    limit = 60.0 + 60e-6 * _line_bound(path)
    pipe = stdout == "pipe"
    with open(err_path, "wb") as err:
        t0 = time.perf_counter()
        out = subprocess.PIPE if pipe else subprocess.DEVNULL
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=outdir)
        # A hung run must not hang the benchmark: a timer kills it (and its job).
        timer = threading.Timer(limit, _kill_tree, (proc.pid,))
        timer.start()
        try:
            printed = _drain(proc) if pipe else None
            code = proc.wait()
        finally:
            timer.cancel()
        seconds = time.perf_counter() - t0
    if seconds >= limit:
        raise RuntimeError(f"ezpz-tui --run still running after {limit:.0f} s: killed")
    if code != 0:
        tail = err_path.read_bytes().decode(errors="replace")[-2000:]
        raise RuntimeError(f"ezpz-tui --run exited {code}:\n{tail}")
    runs = sorted(p for p in outdir.iterdir() if p.is_dir())
    if len(runs) != 1:
        raise RuntimeError(f"expected one run directory in {outdir}, found {len(runs)}")
    return seconds, runs[0], printed


def verify(
    run_dir: Path, facts: dict, file_size: int, printed: int | None = None
) -> dict[str, Any]:
    """Check the run directory against what was generated; raises on any mismatch."""
    summary = json.loads((run_dir / "summary.json").read_text())
    ranks = summary["ranks"]
    problems = []
    if summary["exit_code"] != 0:
        problems.append(f"exit code {summary['exit_code']}")
    if printed is not None and printed != facts["lines"]:
        problems.append(f"{printed} lines printed to stdout, expected {facts['lines']}")
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


def _ours(
    path: Path, tmp: Path, name: str, facts: dict, size: int, **kwargs: Any
) -> tuple[float, float]:
    outdir = tmp / name
    outdir.mkdir()
    seconds, run_dir, printed = time_pipeline(path, outdir, **kwargs)
    checked = verify(run_dir, facts, size, printed)
    shutil.rmtree(outdir)
    return seconds, checked["run_duration_s"]


def run(
    lines: int = LINES,
    repeats: int = REPEATS,
    filtered: bool = True,
    workdir: Path | None = None,
    log: Callable[[str], None] = print,
    text: str = "training",
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="ezpz-bench-logpipe-", dir=workdir))
    load_start = os.getloadavg()
    awk, awk_version = awk_binary()
    awk_name = Path(awk).name
    try:
        path = tmp / "tagged.log"
        t0 = time.perf_counter()
        facts = generate(path, lines, text=text)
        size = path.stat().st_size
        log(
            f"logpipe: generated {lines:,} lines from {RANKS} ranks ({size / 1e6:.0f} MB, "
            f"{text} text) in {time.perf_counter() - t0:.1f} s; baseline {awk} ({awk_version})"
        )
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # page cache
        awk_s, sed_s, tui_s, in_run_s, null_s = [], [], [], [], []
        filtered_s = None
        for i in range(repeats):
            awk_s.append(time_awk(awk, path, tmp / f"awk-{i}", facts))
            sed_s.append(time_sed(path, lines))
            seconds, in_run = _ours(path, tmp, f"out-{i}", facts, size)
            tui_s.append(seconds)
            in_run_s.append(in_run)
            null_s.append(_ours(path, tmp, f"null-{i}", facts, size, stdout="devnull")[0])
            log(
                f"logpipe: run {i + 1}/{repeats}: ezpz-tui {seconds:.2f} s "
                f"({lines / seconds:,.0f} lines/s; stdout /dev/null {null_s[-1]:.2f} s), "
                f"{awk_name} split {awk_s[-1]:.2f} s, sed {sed_s[-1]:.2f} s; outputs verified"
            )
        if filtered:
            # Informational: with a noise filter active (the machine here has no
            # profile, so the default run never calls the filter).
            filtered_s = _ours(
                path, tmp, "out-filtered", facts, size, extra=("--filter-profile", "aurora")
            )[0]
            log(
                f"logpipe: with --filter-profile aurora: {filtered_s:.2f} s "
                f"({lines / filtered_s:,.0f} lines/s); output verified"
            )
        outdir_fs = filesystem(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rate = lines / statistics.median(tui_s)
    awk_rate = lines / statistics.median(awk_s)
    sed_rate = lines / statistics.median(sed_s)
    null_rate = lines / statistics.median(null_s)
    ratio_awk = rate / awk_rate
    return {
        "lines": lines,
        "ranks": RANKS,
        "file_bytes": size,
        "repeats": repeats,
        "config": {
            "input": {
                "lines": lines,
                "ranks": RANKS,
                "bytes": size,
                "bytes_per_line": round(size / lines, 1),
                "label": "Open MPI --tag-output, [1,N]<stdout|stderr>: text (3% stderr)",
                "order": "every rank once per step, in a freshly shuffled order",
                "text": text,
                "text_kind": "training-log lines (80% step=/loss= lines)"
                if text == "training"
                else "filler of the same lengths (no step=/loss=)",
                "source": "page cache (read once before the runs)",
            },
            "stdout": "pipe",
            "stdout_reader": "the harness: os.read of 1 MB, newlines counted",
            "outdir_fs": outdir_fs,
        },
        "command": "ezpz-tui --run --launcher none --outdir TMP -- cat FILE | (harness pipe)",
        "ezpz_tui_s": tui_s,
        "ezpz_tui_in_run_s": in_run_s,
        "median_s": statistics.median(tui_s),
        "lines_per_s": rate,
        "devnull": {
            "command": "ezpz-tui --run --launcher none --outdir TMP -- cat FILE >/dev/null",
            "s": null_s,
            "lines_per_s": null_rate,
            "judged": False,
        },
        "awk": {
            "binary": awk,
            "version": awk_version,
            "program": MAWK_PROGRAM,
            "command": f"{awk_name} -v dir=TMP '<program>' FILE (one file per rank)",
            "s": awk_s,
            "lines_per_s": awk_rate,
        },
        "sed": {
            "command": f"sed -E '{SED_SCRIPT}' FILE | (harness pipe)",
            "s": sed_s,
            "lines_per_s": sed_rate,
        },
        "ratio_vs_awk": ratio_awk,
        "ratio_vs_sed": rate / sed_rate,
        "verified": True,
        "filtered_s": filtered_s,
        "filtered_lines_per_s": lines / filtered_s if filtered_s else None,
        "loadavg": {"start": load_start, "end": os.getloadavg()},
        "targets": {
            "ratio_vs_awk": {
                "target": TARGET_RATIO_MAWK,
                "value": ratio_awk,
                "pass": ratio_awk >= TARGET_RATIO_MAWK,
            },
            "lines_per_s": {
                "target": TARGET_LINES_PER_S,
                "value": rate,
                "pass": rate >= TARGET_LINES_PER_S,
                "stretch": True,
            },
        },
    }


def profile(lines: int = LINES, top: int = 30, save: Path | None = None) -> None:
    """The same pipeline once under cProfile (stdout a pipe); prints the top functions."""
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
        env = {**os.environ, "NO_COLOR": "1"}
        with open(tmp / "stderr.txt", "wb") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, cwd=tmp, env=env)
            printed = _drain(proc)
            code = proc.wait()
            seconds = time.perf_counter() - t0
        if code != 0:
            raise RuntimeError((tmp / "stderr.txt").read_text(errors="replace")[-2000:])
        (run_dir,) = [p for p in outdir.iterdir() if p.is_dir()]
        verify(run_dir, facts, path.stat().st_size, printed)
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
    parser.add_argument("--text", choices=TEXTS, default="training", help="the lines' text")
    parser.add_argument("--no-filtered", action="store_true", help="skip the filtered run")
    parser.add_argument(
        "--profile", action="store_true", help="one run under cProfile: the top functions"
    )
    parser.add_argument("--save-profile", type=Path, help="with --profile: keep the .prof file")
    args = parser.parse_args(argv)
    try:
        if args.profile:
            profile(args.lines, save=args.save_profile)
            return 0
        result = run(args.lines, args.repeats, filtered=not args.no_filtered, text=args.text)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
