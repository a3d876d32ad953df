"""A chatty job through the launcher, with and without ezpz-tui: wall time and memory.

Wall time (issue 16, item 3). 2 Open MPI ranks each run ``bench/chatty.py``, which
writes ``--lines`` lines of about 100 characters (default 1,000,000 per rank) as fast
as Python can. In the same run, alternating (bare, ours, bare, ours, ...), medians:

* **bare**: the plan's own argv, ``ezpz-tui --dry-run --json -n 2 --launcher mpirun
  -- python bench/chatty.py ...`` (field ``argv``: ``mpirun -np 2 --tag-output
  [--allow-run-as-root] python bench/chatty.py ...``), stdout to a file, stderr to
  a file: what the user would type without us;
* **ours**: ``ezpz-tui --run -n 2 --launcher mpirun --outdir TMP -- python
  bench/chatty.py ...``, stdout to a file.

Configurations: metric lines and plain lines in label mode (target: ours / bare
<= 1.3), and ``--rank-io wrapper`` with plain lines, judged against the same bare
``mpirun --tag-output`` argv (<= 1.5) and also reported (info) against the plan's
own wrapper argv (``mpirun ... python -m ezpz_core.rankio -- ...``). Both sides get
the same environment: ``.venv/bin`` first on PATH, ``NO_COLOR=1``,
``PYTHONUNBUFFERED=1`` (ezpz-tui sets it for its job, so the bare side gets it too).

Memory (issue 16, item 2). Peak RSS of the ``ezpz-tui --run`` process itself,
sampled with psutil every 50 ms (the whole tree's summed RSS and the launcher
process's are recorded too), after 0.5M, 5M and 50M lines in total (``--mem-points``),
plain lines, stdout a pipe drained (and counted) by the harness:

* through ``mpirun`` (2 ranks) for points up to ``MPIRUN_MEM_MAX`` lines: beyond
  that Open MPI's ``prterun`` queues GBs itself (as much without ezpz-tui);
* through ``--launcher none`` for every point: ``python bench/chatty.py --label
  openmpi --ranks 2`` writes both ranks' Open MPI-labelled lines interleaved, the
  label-mode pipeline's exact input, without prterun.

Every ours run is checked, not just timed (a wrong output stops the benchmark,
exit 2): exit code 0; ``summary.json`` counts N lines on ranks 0 and 1 and none in
the launcher lane; ``rank-0.log``/``rank-1.log`` hold exactly the generated lines
(SHA-256 of the expected text, newline count; for memory runs, sizes only); with
metric lines ``metrics.loss.count`` == N (every rank-0 step line counted);
``combined.log`` as large as the bare run's output file (the generated size, for
memory runs); stdout 2N printed lines.

Run alone: ``.venv/bin/python bench/livepipe.py [--lines N] [--pairs K]
[--mem-points 0.5e6,5e6,50e6] [--only wall|memory] [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chatty
from logpipe import filesystem
from overhead import EZPZ_TUI, bench_env, plan_argv

LINES = 1_000_000  # per rank
RANKS = 2
PAIRS = 3
MEM_POINTS = (500_000, 5_000_000, 50_000_000)  # lines in total (both ranks)
MPIRUN_MEM_MAX = 5_000_000  # beyond this prterun's own queue would exhaust memory
POLL_S = 0.05
TARGET_LABEL_RATIO = 1.3
TARGET_WRAPPER_RATIO = 1.5
TARGET_OWN_MB = 150.0
CHATTY = Path(__file__).resolve().parent / "chatty.py"
MB = 1e6


class WrongOutput(RuntimeError):
    """A run that did not produce what the job printed."""


class Killed(WrongOutput):
    """A run ended by SIGINT/SIGTERM/SIGKILL: on this shared machine, most likely
    someone else's clean-up; the run is retried once (and the retry recorded)."""


_KILLED = {-2, -9, -15, 130, 137, 143}
RETRIES = 1


def _failed(argv: Sequence[str], code: int, err: Path) -> WrongOutput:
    tail = err.read_bytes()[-2000:].decode(errors="replace")
    kind = Killed if code in _KILLED else WrongOutput
    return kind(f"{argv[0]} exited {code}: {' '.join(argv)}\n{tail}")


def retried(what: str, attempt: Callable[[], Any], log: Callable, notes: list[str]) -> Any:
    """``attempt()``, run again (up to ``RETRIES`` times) if a signal killed it."""
    for n in range(RETRIES + 1):
        try:
            return attempt()
        except Killed as exc:
            if n == RETRIES:
                raise
            first = str(exc).splitlines()[0]
            notes.append(f"{what}: {first}; retried")
            log(f"livepipe: {what}: killed from outside ({first[:120]}...); retrying once")
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Config:
    """One wall-time configuration."""

    name: str
    metrics: bool
    rank_io: str | None  # None: the default (label); "wrapper"
    target: float


CONFIGS = (
    Config("label metrics", True, None, TARGET_LABEL_RATIO),
    Config("label plain", False, None, TARGET_LABEL_RATIO),
    Config("wrapper plain", False, "wrapper", TARGET_WRAPPER_RATIO),
)


def job(lines: int, metrics: bool, *extra: str) -> list[str]:
    argv = ["python", str(CHATTY), "--lines", str(lines), *extra]
    return [*argv, "--metrics"] if metrics else argv


def live_env() -> dict[str, str]:
    return {**bench_env(), "PYTHONUNBUFFERED": "1"}


def ours_argv(
    outdir: Path, command: Sequence[str], launcher: str = "mpirun", rank_io: str | None = None
) -> list[str]:
    argv = [str(EZPZ_TUI), "--run", "--launcher", launcher, "--outdir", str(outdir)]
    if launcher != "none":
        argv += ["-n", str(RANKS)]
    if rank_io:
        argv += ["--rank-io", rank_io]
    return [*argv, "--", *command]


def time_limit(total_lines: int) -> float:
    """Seconds after which a run counts as hung: 60 s + 60 us a line (the slowest
    pipeline measured here took 10 us a line)."""
    return 60.0 + 60e-6 * total_lines


def kill_tree(pid: int) -> None:
    """SIGKILL a process we started and everything under it (the launcher runs in
    a session of its own, so killing the group would miss it)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def timed_to_files(
    argv: Sequence[str], env: dict[str, str], out: Path, err: Path, cwd: Path, limit: float
) -> float:
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=stderr, cwd=cwd)
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.wait()
            raise WrongOutput(
                f"{argv[0]} still running after {limit:.0f} s: {' '.join(argv)}"
            ) from None
        seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise _failed(argv, proc.returncode, err)
    return seconds


def _newlines(path: Path) -> int:
    count = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            count += chunk.count(b"\n")
    return count


def _digest(path: Path) -> tuple[str, int]:
    """SHA-256 and newline count of a file, read in 1 MB chunks."""
    h, count = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            count += chunk.count(b"\n")
    return h.hexdigest(), count


_EXPECTED: dict[tuple[int, int, bool], tuple[str, int]] = {}


def expected_digest(rank: int, lines: int, metrics: bool) -> tuple[str, int]:
    """SHA-256 and size of a rank's generated lines (cached: the same for every run)."""
    key = (rank, lines, metrics)
    if key not in _EXPECTED:
        h, size = hashlib.sha256(), 0
        for text in chatty.rank_text(rank, lines, metrics):
            data = text.encode()
            h.update(data)
            size += len(data)
        _EXPECTED[key] = (h.hexdigest(), size)
    return _EXPECTED[key]


def run_dir_of(outdir: Path) -> Path:
    runs = sorted(p for p in outdir.iterdir() if p.is_dir())
    if len(runs) != 1:
        raise WrongOutput(f"expected one run directory in {outdir}, found {len(runs)}")
    return runs[0]


def verify(
    run_dir: Path,
    lines: int,
    metrics: bool,
    combined_bytes: int,
    printed: int | None,
    full: bool = True,
) -> dict[str, Any]:
    """Check a run directory against the generated lines; raises ``WrongOutput``.

    ``full``: hash both rank logs (else sizes only: the 10 GB of a 50M-line run are
    not read back).
    """
    summary = json.loads((run_dir / "summary.json").read_text())
    ranks = summary.get("ranks", {})
    problems = []
    if summary.get("exit_code") != 0:
        problems.append(f"summary.json exit code {summary.get('exit_code')}")
    if ranks.get("launcher", {}).get("lines", 0):
        problems.append(f"{ranks['launcher']['lines']} line(s) fell to the launcher lane")
    extra = sorted(set(ranks) - {"0", "1", "launcher"})
    if extra:
        problems.append(f"unexpected lanes in summary.json: {extra}")
    for rank in range(RANKS):
        info = ranks.get(str(rank), {})
        if info.get("lines") != lines:
            problems.append(f"summary.json: rank {rank} has {info.get('lines')} lines, not {lines}")
        digest, size = expected_digest(rank, lines, metrics) if full else (None, None)
        if size is None:
            size = chatty.rank_bytes(rank, lines, metrics)
        if "bytes" in info and info["bytes"] != size:
            problems.append(f"summary.json: rank {rank} has {info['bytes']} bytes, not {size}")
        log = run_dir / "ranks" / f"rank-{rank}.log"
        if not log.exists():
            problems.append(f"no {log.name}")
            continue
        if log.stat().st_size != size:
            problems.append(f"{log.name} is {log.stat().st_size} bytes, expected {size}")
        elif full:
            got, count = _digest(log)
            if count != lines or got != digest:
                problems.append(f"{log.name} differs from rank {rank}'s lines ({count} lines)")
    if metrics:
        loss = summary.get("metrics", {}).get("loss", {})
        if loss.get("count") != lines:
            problems.append(f"summary.json metrics.loss.count is {loss.get('count')}, not {lines}")
    combined = (run_dir / "combined.log").stat().st_size
    if combined != combined_bytes:
        problems.append(f"combined.log is {combined} bytes, expected {combined_bytes}")
    if printed is not None and printed != RANKS * lines:
        problems.append(f"stdout has {printed} lines, expected {RANKS * lines}")
    if problems:
        raise WrongOutput(f"livepipe: wrong output in {run_dir}: " + "; ".join(problems))
    return {"summary_lines": sum(ranks[str(r)]["lines"] for r in range(RANKS))}


def labelled_bytes(lines: int, metrics: bool) -> int:
    """Size of both ranks' lines with Open MPI's ``--tag-output`` labels."""
    return sum(chatty.rank_bytes(r, lines, metrics, "openmpi") for r in range(RANKS))


# --- wall time ---------------------------------------------------------------


def _bare(
    argv: list[str], env: dict[str, str], tmp: Path, expect: int | None, limit: float
) -> float:
    out, err = tmp / "bare.out", tmp / "bare.err"
    seconds = timed_to_files(argv, env, out, err, tmp, limit)
    size = out.stat().st_size
    if expect is not None and size != expect:
        raise WrongOutput(f"bare run wrote {size} bytes, expected {expect}: {' '.join(argv)}")
    return seconds


def wall_config(
    cfg: Config,
    lines: int,
    pairs: int,
    env: dict[str, str],
    tmp: Path,
    log: Callable,
    notes: list[str],
) -> dict[str, Any]:
    command = job(lines, cfg.metrics)
    bare = plan_argv(env, None, command)
    own = plan_argv(env, cfg.rank_io, command) if cfg.rank_io else None
    expect = labelled_bytes(lines, cfg.metrics)
    log(f"livepipe: {cfg.name}: bare = {' '.join(bare)}")
    # Warm-up (page cache, Open MPI's first start) with a small job.
    small = job(1000, cfg.metrics)
    limit = time_limit(RANKS * lines)
    _bare(plan_argv(env, None, small), env, tmp, None, limit)
    warm = ours_argv(tmp / "warm", small, rank_io=cfg.rank_io)
    timed_to_files(warm, env, tmp / "o.out", tmp / "o.err", tmp, limit)
    shutil.rmtree(tmp / "warm")
    bare_s: list[float] = []
    ours_s: list[float] = []
    own_s: list[float] = []

    def pair(i: int) -> tuple[float, float, float | None]:
        b = _bare(bare, env, tmp, expect, limit)
        outdir = tmp / f"out-{i}"
        shutil.rmtree(outdir, ignore_errors=True)
        outdir.mkdir()
        argv = ours_argv(outdir, command, rank_io=cfg.rank_io)
        o = timed_to_files(argv, env, tmp / "ours.out", tmp / "ours.err", tmp, limit)
        combined, w = expect, None
        if own is not None:
            w = _bare(own, env, tmp, None, limit)
            combined = (tmp / "bare.out").stat().st_size  # the wrapper's records
        verify(run_dir_of(outdir), lines, cfg.metrics, combined, _newlines(tmp / "ours.out"))
        shutil.rmtree(outdir)
        return b, o, w

    for i in range(pairs):
        b, o, w = retried(f"{cfg.name} pair {i + 1}", lambda i=i: pair(i), log, notes)
        bare_s.append(b)
        ours_s.append(o)
        if w is not None:
            own_s.append(w)
        log(
            f"livepipe: {cfg.name}: pair {i + 1}/{pairs}: bare {b:.2f} s, ours "
            f"{o:.2f} s (x{o / b:.2f})"
            + (f", bare wrapper argv {w:.2f} s" if w is not None else "")
            + "; output verified"
        )
    bare_med, ours_med = statistics.median(bare_s), statistics.median(ours_s)
    ratio = ours_med / bare_med
    row: dict[str, Any] = {
        "name": cfg.name,
        "lines": "metrics" if cfg.metrics else "plain",
        "rank_io": cfg.rank_io or "label",
        "lines_per_rank": lines,
        "bare_argv": bare,
        "ours_argv": ours_argv(Path("TMP"), command, rank_io=cfg.rank_io),
        "bare_s": bare_s,
        "ours_s": ours_s,
        "bare_median_s": bare_med,
        "ours_median_s": ours_med,
        "bare_lines_per_s": RANKS * lines / bare_med,
        "ours_lines_per_s": RANKS * lines / ours_med,
        "ratio": ratio,
        "target": {"target": cfg.target, "value": ratio, "pass": ratio <= cfg.target},
    }
    if own is not None:
        own_med = statistics.median(own_s)
        row["own_plan"] = {
            "argv": own,
            "bare_s": own_s,
            "bare_median_s": own_med,
            "ratio": ours_med / own_med,
            "judged": False,
        }
    log(
        f"livepipe: {cfg.name}: bare {bare_med:.2f} s ({row['bare_lines_per_s']:,.0f} lines/s), "
        f"ours {ours_med:.2f} s ({row['ours_lines_per_s']:,.0f} lines/s): x{ratio:.2f}"
        + (f"; vs its own wrapper argv x{row['own_plan']['ratio']:.2f}" if own else "")
    )
    return row


# --- memory --------------------------------------------------------------------


def _drain(stream, counter: list[int]) -> None:
    fd = stream.fileno()
    while chunk := os.read(fd, 1 << 20):
        counter[0] += chunk.count(b"\n")


_LAUNCHERS = ("prterun", "mpirun", "mpiexec", "prte")


def sampled_run(
    argv: list[str], env: dict[str, str], cwd: Path, err: Path, limit: float
) -> dict[str, Any]:
    """Run ``argv`` (stdout a pipe drained here) sampling RSS every ``POLL_S``."""
    counter = [0]
    with open(err, "wb") as stderr:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=stderr, cwd=cwd)
        drain = threading.Thread(target=_drain, args=(proc.stdout, counter), daemon=True)
        drain.start()
        root = psutil.Process(proc.pid)
        own_peak = tree_peak = launcher_peak = samples = 0
        launcher_name = None
        names: dict[int, str] = {}
        while proc.poll() is None:
            if time.perf_counter() - t0 > limit:
                kill_tree(proc.pid)
                proc.wait()
                raise WrongOutput(
                    f"{argv[0]} still running after {limit:.0f} s: {' '.join(argv)}"
                ) from None
            try:
                own = root.memory_info().rss
                children = root.children(recursive=True)
            except psutil.Error:
                break
            total = own
            for child in children:
                with contextlib.suppress(psutil.Error):
                    rss = child.memory_info().rss
                    total += rss
                    if child.pid not in names:
                        names[child.pid] = child.name()
                    if names[child.pid] in _LAUNCHERS and rss > launcher_peak:
                        launcher_peak, launcher_name = rss, names[child.pid]
            own_peak, tree_peak = max(own_peak, own), max(tree_peak, total)
            samples += 1
            time.sleep(POLL_S)
        proc.wait()
        drain.join()
        seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise _failed(argv, proc.returncode, err)
    return {
        "wall_s": seconds,
        "own_peak_mb": own_peak / MB,
        "tree_peak_mb": tree_peak / MB,
        "launcher_peak_mb": launcher_peak / MB if launcher_peak else None,
        "launcher_process": launcher_name,
        "samples": samples,
        "printed_lines": counter[0],
    }


def memory_point(
    launcher: str, total: int, env: dict[str, str], tmp: Path, log: Callable, notes: list[str]
) -> dict[str, Any]:
    lines = total // RANKS
    if launcher == "none":
        command = job(lines, False, "--label", "openmpi", "--ranks", str(RANKS))
    else:
        command = job(lines, False)
    outdir = tmp / f"mem-{launcher}-{total}"

    def attempt() -> dict[str, Any]:
        shutil.rmtree(outdir, ignore_errors=True)
        outdir.mkdir()
        try:
            argv = ours_argv(outdir, command, launcher=launcher)
            point = sampled_run(argv, env, tmp, tmp / "mem.err", time_limit(RANKS * lines))
            expect = labelled_bytes(lines, False)
            verify(run_dir_of(outdir), lines, False, expect, point["printed_lines"], full=False)
        finally:
            shutil.rmtree(outdir, ignore_errors=True)
        return point

    point = retried(f"memory {launcher} {total:,}", attempt, log, notes)
    point.update(
        launcher=launcher,
        lines=RANKS * lines,
        argv=ours_argv(Path("TMP"), command, launcher=launcher),
        target={
            "target": TARGET_OWN_MB,
            "value": point["own_peak_mb"],
            "pass": point["own_peak_mb"] <= TARGET_OWN_MB,
        },
    )
    prte = point["launcher_peak_mb"]
    log(
        f"livepipe: memory, {launcher}, {RANKS * lines / 1e6:g}M lines: ezpz-tui peak "
        f"{point['own_peak_mb']:.0f} MB, tree {point['tree_peak_mb']:.0f} MB"
        + (f", {point['launcher_process']} {prte:.0f} MB" if prte else "")
        + f" ({point['wall_s']:.1f} s, {point['samples']} samples); output verified"
    )
    return point


# --- driver ----------------------------------------------------------------------


def run(
    lines: int = LINES,
    pairs: int = PAIRS,
    mem_points: Sequence[int] = MEM_POINTS,
    wall: bool = True,
    memory: bool = True,
    workdir: Path | None = None,
    log: Callable = print,
) -> dict[str, Any]:
    env = live_env()
    tmp = Path(tempfile.mkdtemp(prefix="ezpz-bench-livepipe-", dir=workdir))
    rows, points = [], []
    notes: list[str] = []
    try:
        if wall:
            for cfg in CONFIGS:
                rows.append(wall_config(cfg, lines, pairs, env, tmp, log, notes))
        if memory:
            for total in mem_points:
                if total <= MPIRUN_MEM_MAX:
                    points.append(memory_point("mpirun", total, env, tmp, log, notes))
                points.append(memory_point("none", total, env, tmp, log, notes))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    targets = {f"{r['name']} ratio": r["target"] for r in rows}
    for p in points:
        targets[f"memory {p['launcher']} {p['lines'] / 1e6:g}M own_mb"] = p["target"]
    return {
        "ranks": RANKS,
        "lines_per_rank": lines,
        "pairs": pairs,
        "job": "python bench/chatty.py --lines N [--metrics] (sys.stdout.write of "
        f"{chatty.PERIOD} lines at a time, ~100-character lines)",
        "env": "PATH=.venv/bin:..., NO_COLOR=1, PYTHONUNBUFFERED=1 (both sides)",
        "bare": "plan argv (--dry-run --json, field argv), stdout and stderr to files",
        "ours": "ezpz-tui --run -n 2 --launcher mpirun --outdir TMP -- ..., stdout to a file",
        "outdir_fs": filesystem(tmp),
        "wall": rows,
        "memory": {
            "poll_s": POLL_S,
            "method": "psutil RSS of the ezpz-tui process (own), summed over its process "
            "tree (tree) and of the launcher process, sampled every 50 ms, peak kept; "
            "plain lines; stdout a pipe drained by the harness",
            "mpirun_max_lines": MPIRUN_MEM_MAX,
            "points": points,
        },
        "targets": targets,
        "retried": notes,
    }


def parse_points(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=float, default=LINES, help="lines per rank (wall)")
    parser.add_argument("--pairs", type=int, default=PAIRS)
    parser.add_argument(
        "--mem-points",
        type=parse_points,
        default=list(MEM_POINTS),
        help="total lines of the memory runs, e.g. 0.5e6,5e6,50e6",
    )
    parser.add_argument("--only", choices=["wall", "memory"])
    parser.add_argument("--quick", action="store_true", help="100,000 lines, 1 pair, small memory")
    args = parser.parse_args(argv)
    lines, pairs, mem = int(args.lines), args.pairs, args.mem_points
    if args.quick:
        lines, pairs, mem = 100_000, 1, [200_000]
    try:
        result = run(lines, pairs, mem, wall=args.only != "memory", memory=args.only != "wall")
    except WrongOutput as exc:
        print(exc, file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
