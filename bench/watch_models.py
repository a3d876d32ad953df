"""The console's log-pane models on a finished 10,000,000-line run (about 600 MB).

A finished run of 1,024 ranks can leave ``combined.log`` at 10M lines; the console
must show its first screen within a second and stay under 250 MB in all. This
times the Textual-free models of ``ezpz_tui/watch/`` on such a file (synthetic,
generated in a temporary directory: ``step=... loss=... rank N ...`` lines of
about 60 bytes, every rank once per step, one ``ERROR`` line in 10,007):

* **index**: ``LineIndex.update`` in its default 8 MB steps until the whole file
  is indexed (every line split out, as the watcher feeds them on). Baseline, timed
  in the same run, interleaved: ``f.read()`` of the whole file and
  ``count(b"\\n")`` (the least any line counter does; it holds the 600 MB);
* **first screen**: ``LineIndex(path).tail(50)`` on a fresh index (what the
  console shows before the index reaches the end). Target: <= 1 s;
* **last screen after indexing**: ``lines(count - 50, count)``, cold block cache;
  and 200 random screens of 50 lines (median);
* **collapse**: ``Collapser.feed`` over the file's batches (distinct texts: the
  rank is in each line) and over as many lines identical across ranks (every
  line but one per step joins a group), lines/s; against read+count's lines/s,
  and (distinct, info) ``dict.fromkeys`` of the same batches (the least an
  exact-text dedupe does);
* **search**: ``Search.feed`` over the file's batches for ``error`` (any case,
  rare) and the regex ``loss=0\\.9\\d+`` (a tenth of the lines), lines/s;
  baseline ``grep -c -i error`` and ``grep -c -E 'loss=0\\.9[0-9]+'`` on the file;
* **memory**: tracemalloc's peak and retained bytes while indexing the whole
  file (the transient peak is one batch and its lines), and what the models
  keep after the whole file (index offsets, one ``RowSet``, the collapser's
  frozen groups, the search hits). Target: the index's peak <= 64 MB; the
  models' total <= 250 MB (the console's whole budget).

Every run is checked: the line count, the last screen against the generated
lines, the collapse row counts, the search hit counts against grep's.

Run alone: ``.venv/bin/python bench/watch_models.py [--lines N] [--repeats K]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ezpz_tui.watch.collapse import Collapser
from ezpz_tui.watch.lineindex import LineIndex
from ezpz_tui.watch.rowset import RowSet
from ezpz_tui.watch.search import Search, SearchSpec

LINES = 10_000_000
RANKS = 1024
REPEATS = 3
SCREEN = 50
ERROR_EVERY = 10_007
TARGET_FIRST_SCREEN_S = 1.0
TARGET_INDEX_PEAK_MB = 64.0
TARGET_MODELS_MB = 250.0
SEARCHES = {
    "error (any case)": (SearchSpec("error"), ["grep", "-c", "-i", "error"]),
    r"regex loss=0\.9\d+": (
        SearchSpec(r"loss=0\.9\d+", regex=True, case=True),
        ["grep", "-c", "-E", r"loss=0\.9[0-9]+"],
    ),
}


def line_text(i: int) -> bytes:
    """Line ``i`` of the synthetic file (without its newline)."""
    rank = i % RANKS
    if i % ERROR_EVERY == ERROR_EVERY - 1:
        return b"ERROR: NCCL watchdog timeout on rank %d step %d" % (rank, i // RANKS)
    loss = (i * 7919) % 10_000
    return b"step=%d loss=0.%04d rank %d tok/s=%d lr=3.0e-04 epoch=%d" % (
        i // RANKS,
        loss,
        rank,
        1000 + (i * 31) % 9000,
        i // 2_000_000,
    )


def generate(path: Path, lines: int) -> int:
    """Write the file in 1 MB writes; returns its size."""
    with open(path, "wb") as fh:
        step = 16_384
        for a in range(0, lines, step):
            fh.write(b"".join(line_text(i) + b"\n" for i in range(a, min(lines, a + step))))
    return path.stat().st_size


def time_read_count(path: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        data = fh.read()
    n = data.count(b"\n")
    seconds = time.perf_counter() - t0
    del data
    return seconds, n


def time_index(path: Path) -> tuple[float, LineIndex]:
    index = LineIndex(path)
    t0 = time.perf_counter()
    while index.update()[1]:
        pass
    return time.perf_counter() - t0, index


def _check_screen(got: list[bytes], first: int, what: str) -> None:
    want = [line_text(i) for i in range(first, first + len(got))]
    if len(got) != SCREEN or got != want:
        raise RuntimeError(f"{what}: wrong lines from line {first} ({len(got)} lines)")


def screens(path: Path, lines: int, index: LineIndex) -> dict[str, Any]:
    """First screen (tail of a fresh index), last screen after indexing, random screens."""
    tail_s = []
    for _ in range(5):
        t0 = time.perf_counter()
        chunk = LineIndex(path).tail(SCREEN)
        tail_s.append(time.perf_counter() - t0)
        _check_screen(chunk.lines, lines - SCREEN, "tail")
    t0 = time.perf_counter()
    last = index.lines(index.count - SCREEN, index.count)
    last_s = time.perf_counter() - t0
    _check_screen(last, lines - SCREEN, "last screen")
    rng = random.Random(7)
    random_s = []
    for _ in range(200):
        first = rng.randrange(lines - SCREEN)
        t0 = time.perf_counter()
        got = index.lines(first, first + SCREEN)
        random_s.append(time.perf_counter() - t0)
        _check_screen(got, first, "random screen")
    return {
        "first_screen_s": statistics.median(tail_s),
        "last_screen_after_index_s": last_s,
        "random_screen_median_s": statistics.median(random_s),
        "random_screen_max_s": max(random_s),
    }


def models_pass(path: Path, lines: int) -> dict[str, Any]:
    """One pass of the watcher's pipeline: index, collapse, row bitmap, two searches,
    each component timed apart; the dict.fromkeys baseline on the same batches."""
    index = LineIndex(path)
    collapser = Collapser()
    rows = RowSet()
    searches = {name: Search(spec) for name, (spec, _) in SEARCHES.items()}
    spent = {"index": 0.0, "collapse": 0.0, "rowset": 0.0, "dedupe_baseline": 0.0}
    spent.update({name: 0.0 for name in searches})
    ranks_of = list(range(RANKS)) * ((1 << 20) // RANKS)  # sliced per batch, no per-line work
    while True:
        t0 = time.perf_counter()
        first, batch = index.update()
        t1 = time.perf_counter()
        spent["index"] += t1 - t0
        if not batch:
            break
        ranks = _ranks(first, len(batch), ranks_of)
        t0 = time.perf_counter()
        flags = collapser.feed(first, ranks, batch)
        t1 = time.perf_counter()
        rows.extend(flags)
        t2 = time.perf_counter()
        dict.fromkeys(batch)
        t3 = time.perf_counter()
        spent["collapse"] += t1 - t0
        spent["rowset"] += t2 - t1
        spent["dedupe_baseline"] += t3 - t2
        for name, search in searches.items():
            t0 = time.perf_counter()
            search.feed(first, ranks, batch)
            spent[name] += time.perf_counter() - t0
    if index.count != lines or rows.rows != lines:
        raise RuntimeError(f"models pass: {index.count} lines, {rows.rows} rows, want {lines}")
    kept = {
        "index": index.nbytes,
        "rowset": rows.nbytes,
        "collapser": collapser.nbytes,
        "search_hits": sum(s.hits.itemsize * len(s.hits) for s in searches.values()),
    }
    index.close()
    return {
        "s": spent,
        "hits": {name: s.total for name, s in searches.items()},
        "kept_bytes": kept,
    }


def _ranks(first: int, n: int, ranks_of: list[int]) -> list[int]:
    start = first % RANKS
    if start + n <= len(ranks_of):
        return ranks_of[start : start + n]
    return [(first + j) % RANKS for j in range(n)]


def collapse_identical(lines: int) -> tuple[float, float, int]:
    """Collapser.feed and the dict.fromkeys baseline over ``lines`` lines identical
    across ranks (one text per step), in batches of 131,072 lines; the groups' bytes."""
    batch = 131_072
    ranks = list(range(RANKS)) * (batch // RANKS)
    collapser = Collapser()
    ours = base = 0.0
    rows = 0
    for a in range(0, lines, batch):
        n = min(batch, lines - a)
        texts = [
            b"iteration %d done, loss 0.1234, lr 3.0e-04" % ((a + j) // RANKS) for j in range(n)
        ]
        t0 = time.perf_counter()
        flags = collapser.feed(a, ranks[:n], texts)
        t1 = time.perf_counter()
        dict.fromkeys(texts)
        base += time.perf_counter() - t1
        ours += t1 - t0
        rows += sum(flags)
    want = (lines + RANKS - 1) // RANKS
    if rows != want:
        raise RuntimeError(f"collapse identical: {rows} rows, want one per step ({want})")
    return ours, base, collapser.nbytes


def time_grep(argv: list[str], path: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.run([*argv, str(path)], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return seconds, int(proc.stdout.strip() or 0)


def index_memory(path: Path, lines: int) -> dict[str, float]:
    """tracemalloc's view of indexing the whole file (untimed: tracing slows it)."""
    gc.collect()
    tracemalloc.start()
    index = LineIndex(path)
    while index.update()[1]:
        pass
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if index.count != lines:
        raise RuntimeError(f"memory pass: {index.count} lines, want {lines}")
    index.close()
    return {"peak_mb": peak / 1e6, "retained_mb": current / 1e6, "offsets_bytes": index.nbytes}


def run(
    lines: int = LINES, repeats: int = REPEATS, workdir: Path | None = None, log=print
) -> dict[str, Any]:
    if lines < 2 * SCREEN:
        raise ValueError(f"--lines must be >= {2 * SCREEN}")
    tmp = Path(tempfile.mkdtemp(prefix="ezpz-bench-watch-", dir=workdir))
    load_start = os.getloadavg()
    try:
        path = tmp / "combined.log"
        t0 = time.perf_counter()
        size = generate(path, lines)
        log(
            f"watch: generated {lines:,} lines ({size / 1e6:.0f} MB) in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # page cache
        base_s, ours_s = [], []
        index = None
        for i in range(repeats):
            seconds, n = time_read_count(path)
            if n != lines:
                raise RuntimeError(f"read+count found {n:,} lines, want {lines:,}")
            base_s.append(seconds)
            gc.collect()
            seconds, index = time_index(path)
            if index.count != lines or index.end != size:
                raise RuntimeError(f"index: {index.count:,} lines to byte {index.end}")
            ours_s.append(seconds)
            log(
                f"watch: run {i + 1}/{repeats}: index {seconds:.2f} s "
                f"({lines / seconds:,.0f} lines/s), read+count {base_s[-1]:.2f} s"
            )
        assert index is not None
        screen = screens(path, lines, index)
        index.close()
        log(
            f"watch: first screen (tail {SCREEN}) {screen['first_screen_s'] * 1000:.1f} ms, "
            f"last screen after indexing {screen['last_screen_after_index_s'] * 1000:.2f} ms, "
            f"random screen median {screen['random_screen_median_s'] * 1000:.2f} ms"
        )
        passes = []
        greps: dict[str, list[float]] = {name: [] for name in SEARCHES}
        for i in range(repeats):
            for name, (_, argv) in SEARCHES.items():
                seconds, count = time_grep(argv, path)
                greps[name].append(seconds)
                greps.setdefault(f"{name} count", []).append(count)
            passes.append(models_pass(path, lines))
            for name in SEARCHES:
                if passes[-1]["hits"][name] != greps[f"{name} count"][-1]:
                    raise RuntimeError(
                        f"search {name}: {passes[-1]['hits'][name]} hits, grep counts "
                        f"{greps[f'{name} count'][-1]}"
                    )
            log(
                f"watch: models pass {i + 1}/{repeats}: "
                + ", ".join(f"{k} {v:.2f} s" for k, v in passes[-1]["s"].items())
            )
        identical = min(lines, 2_000_000)
        same_ours, same_base, same_bytes = collapse_identical(identical)
        memory = index_memory(path, lines)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def rate(component: str) -> float:
        return lines / statistics.median(p["s"][component] for p in passes)

    index_rate = lines / statistics.median(ours_s)
    base_rate = lines / statistics.median(base_s)
    dedupe_rate = rate("dedupe_baseline")
    search = {}
    for name in SEARCHES:
        grep_rate = lines / statistics.median(greps[name])
        search[name] = {
            "lines_per_s": rate(name),
            "grep_lines_per_s": grep_rate,
            "ratio_vs_grep": rate(name) / grep_rate,
            "ratio_vs_read_count": rate(name) / base_rate,
            "hits": passes[-1]["hits"][name],
        }
    kept = passes[-1]["kept_bytes"]
    models_mb = sum(kept.values()) / 1e6
    first_screen = screen["first_screen_s"]
    return {
        "lines": lines,
        "ranks": RANKS,
        "file_bytes": size,
        "repeats": repeats,
        "index": {
            "s": ours_s,
            "lines_per_s": index_rate,
            "baseline": "f.read() + count(b'\\n') of the whole file",
            "baseline_s": base_s,
            "baseline_lines_per_s": base_rate,
            "ratio_vs_read_count": index_rate / base_rate,
        },
        "screens": screen,
        "collapse": {
            "distinct_lines_per_s": rate("collapse"),
            "distinct_ratio_vs_read_count": rate("collapse") / base_rate,
            "distinct_dedupe_lines_per_s": dedupe_rate,
            "distinct_ratio_vs_dedupe": rate("collapse") / dedupe_rate,
            "identical_lines": identical,
            "identical_lines_per_s": identical / same_ours,
            "identical_ratio_vs_read_count": identical / same_ours / base_rate,
            "identical_dedupe_lines_per_s": identical / same_base,
            "identical_kept_bytes": same_bytes,
        },
        "rowset_lines_per_s": rate("rowset"),
        "search": search,
        "memory": {**memory, "models_kept_bytes": kept, "models_mb": models_mb},
        "verified": True,
        "loadavg": {"start": load_start, "end": os.getloadavg()},
        "targets": {
            "first_screen_s": {
                "target": TARGET_FIRST_SCREEN_S,
                "value": first_screen,
                "pass": first_screen <= TARGET_FIRST_SCREEN_S,
            },
            "index_peak_mb": {
                "target": TARGET_INDEX_PEAK_MB,
                "value": memory["peak_mb"],
                "pass": memory["peak_mb"] <= TARGET_INDEX_PEAK_MB,
            },
            "models_mb": {
                "target": TARGET_MODELS_MB,
                "value": models_mb,
                "pass": models_mb <= TARGET_MODELS_MB,
            },
        },
    }


def report(r: dict[str, Any], log: Callable[[str], None] = print) -> None:
    ix, sc, co, mem = r["index"], r["screens"], r["collapse"], r["memory"]
    log(
        f"watch: index {ix['lines_per_s']:,.0f} lines/s vs read+count "
        f"{ix['baseline_lines_per_s']:,.0f} lines/s: x{ix['ratio_vs_read_count']:.2f}"
    )
    log(
        f"watch: first screen {sc['first_screen_s'] * 1000:.1f} ms (target <= "
        f"{TARGET_FIRST_SCREEN_S * 1000:.0f} ms), last screen after indexing "
        f"{sc['last_screen_after_index_s'] * 1000:.2f} ms"
    )
    log(
        f"watch: collapse distinct {co['distinct_lines_per_s']:,.0f} lines/s "
        f"(x{co['distinct_ratio_vs_read_count']:.2f} read+count, "
        f"x{co['distinct_ratio_vs_dedupe']:.2f} dict.fromkeys), identical across ranks "
        f"{co['identical_lines_per_s']:,.0f} lines/s (x{co['identical_ratio_vs_read_count']:.2f}; "
        f"groups {co['identical_kept_bytes'] / co['identical_lines']:.1f} bytes/line)"
    )
    for name, s in r["search"].items():
        log(
            f"watch: search {name}: {s['lines_per_s']:,.0f} lines/s, grep "
            f"{s['grep_lines_per_s']:,.0f} lines/s: x{s['ratio_vs_grep']:.2f} ({s['hits']:,} hits)"
        )
    log(
        f"watch: index memory peak {mem['peak_mb']:.1f} MB, retained {mem['retained_mb']:.2f} MB;"
        f" models kept {mem['models_mb']:.1f} MB {mem['models_kept_bytes']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Targets: first screen <= 1 s, index peak <= 64 MB, models <= 250 MB.",
    )
    parser.add_argument("--lines", type=int, default=LINES, help=f"file size ({LINES:,})")
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"runs ({REPEATS})")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    results = run(args.lines, args.repeats)
    report(results)
    if args.json:
        print(json.dumps(results, indent=2))
    missed = [k for k, t in results["targets"].items() if not t["pass"]]
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
