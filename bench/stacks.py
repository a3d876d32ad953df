"""The hang doctor's pure half at Aurora's scale: group, range and judge 127,488 stacks.

127,488 synthetic ranks (Aurora: 10,624 nodes x 12), each with three threads (two
of threading's, then ``MainThread``, as py-spy lists them: newest first), the main
thread 30 frames deep in one of 6 shapes: the majority in ``all_reduce``; a few
ranks each in the same ``all_reduce`` reached from another line, in a ``barrier``,
in a ``Work.wait`` of a checkpoint, in an ``all_reduce`` two frames shallower; and
one rank starved by its data loader (``Condition.wait`` <- ``Queue.get`` <-
``next_batch``). Frames and stacks are interned as the parsers intern them
(``ezpz_core.hang.stacks.intern_frame``/``intern_stack``); every rank has its own
``RankStack`` and ``ThreadStack`` objects, as parsing gives.

Timed (median of ``--repeats``, ``gc.collect()`` before each): ``group_stacks`` +
``rank_ranges`` of every group + ``suspect``. Target: <= 200 ms. Baseline, timed in
the same run, interleaved: ``sorted()`` of the same per-rank keys (``(id(frames),
source)``, what ``group_stacks`` buckets on): the least a sort-based grouping pays.
Info: ``prefix_tree``, ``build_report`` and ``render_text`` of the whole report,
and ``group_stacks`` on the same stacks with their frame tuples not interned
(equal values, distinct objects: every tuple hashed by value, 30 ``Frame.__hash__``
calls a rank).

Every run is checked: 6 groups of the planned sizes and ranks, the majority's rank
ranges, the suspect is the starved rank (rule 1), and the tree's root holds every
rank; a wrong answer stops the benchmark (exit 2).

Run alone: ``.venv/bin/python bench/stacks.py [--ranks N] [--repeats K] [--quick]
[--json]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ezpz_core.hang.groups import (  # noqa: E402
    build_report,
    group_stacks,
    prefix_tree,
    rank_ranges,
    render_text,
    suspect,
)
from ezpz_core.hang.stacks import (  # noqa: E402
    Frame,
    RankStack,
    ThreadStack,
    intern_frame,
    intern_stack,
)

RANKS = 127_488  # Aurora: 10,624 nodes x 12 ranks
DEPTH = 30
REPEATS = 7
TARGET_MS = 200.0
T0 = 1_790_000_000.0
SITE = "/opt/venv/lib/python3.11/site-packages"
TORCH = f"{SITE}/torch/distributed"


class WrongOutput(Exception):
    """The code under test gave a wrong answer: the figures mean nothing."""


def _frames(spec: list[tuple[str, str, int]]) -> tuple[Frame, ...]:
    """Innermost first, as the parsers give them, interned as they intern them."""
    return intern_stack(tuple(intern_frame(n, f, line) for n, f, line in reversed(spec)))


def _outer(depth: int) -> list[tuple[str, str, int]]:
    """The ``depth`` outermost frames every rank shares: entry, trainer, loop."""
    spec = [("<module>", "/home/u/proj/train.py", 210), ("main", "/home/u/proj/train.py", 190)]
    spec += [("Trainer.fit", "/home/u/proj/trainer.py", 88)]
    spec += [("Trainer.epoch", "/home/u/proj/trainer.py", 120)]
    for i in range(depth - len(spec)):
        spec.append((f"Loop.advance_{i}", f"{SITE}/loops/loop_{i % 4}.py", 40 + i))
    return spec[:depth]


def shapes(depth: int = DEPTH) -> dict[str, tuple[Frame, ...]]:
    """The 6 main-thread stacks, ``depth`` frames each (``short`` two fewer)."""
    outer = _outer(depth - 8)
    step = [
        ("train_step", "/home/u/proj/train.py", 61),
        ("Model.backward", "/home/u/proj/model.py", 230),
        ("Reducer.sync", "/home/u/proj/ddp.py", 77),
        ("Reducer.bucket", "/home/u/proj/ddp.py", 101),
        ("Reducer.flush", "/home/u/proj/ddp.py", 140),
        ("_exception_logger.<locals>.wrapper", f"{TORCH}/c10d_logger.py", 83),
    ]
    reduce_ = [*step, ("all_reduce", f"{TORCH}/distributed_c10d.py", 3252)]
    majority = [*outer, *reduce_, ("_c10d_call", f"{TORCH}/distributed_c10d.py", 99)]
    other_line = list(majority)
    other_line[len(outer) + 2] = ("Reducer.sync", "/home/u/proj/ddp.py", 79)
    barrier = [*outer, *step[:2], ("barrier_step", "/home/u/proj/train.py", 70)]
    barrier += [("Sync.enter", "/home/u/proj/sync.py", 12)]
    barrier += [("Sync.all", "/home/u/proj/sync.py", 20)]
    barrier += [("_exception_logger.<locals>.wrapper", f"{TORCH}/c10d_logger.py", 83)]
    barrier += [("barrier", f"{TORCH}/distributed_c10d.py", 4791)]
    barrier += [("_c10d_call", f"{TORCH}/distributed_c10d.py", 99)]
    checkpoint = [*outer, ("save_checkpoint", "/home/u/proj/ckpt.py", 30)]
    checkpoint += [(f"Writer.stage_{i}", "/home/u/proj/ckpt.py", 40 + i) for i in range(5)]
    checkpoint += [("Future.result", "/home/u/proj/ckpt.py", 90)]
    checkpoint += [("Work.wait", f"{TORCH}/work.py", 12)]
    data = [*outer, ("data_step", "/home/u/proj/train.py", 50)]
    data += [("next_batch", "/home/u/proj/data.py", 33)]
    data += [
        (f"_DataIter.{name}", "/home/u/proj/data.py", 80 + i)
        for i, name in enumerate(("__next__", "_get", "_try"))
    ]
    data += [("Queue.get", "/usr/lib/python3.11/queue.py", 180)]
    data += [("Condition.wait", "/usr/lib/python3.11/threading.py", 331)]
    data += [("Condition._acquire", "/usr/lib/python3.11/threading.py", 320)]
    short = [*majority[:-3], majority[-2]]
    found = {
        "majority": majority,
        "other_line": other_line,
        "barrier": barrier,
        "checkpoint": checkpoint,
        "data": data,
        "short": short,
    }
    return {name: _frames(spec) for name, spec in found.items()}


def odd_ranks(ranks: int) -> dict[str, tuple[int, ...]]:
    """A few ranks in each odd shape, spread over the job (the rest: majority)."""
    last = ranks - 1
    return {
        "data": (ranks * 61 // 100,),
        "other_line": (1, ranks // 2, last),
        "barrier": (5, ranks * 7 // 10),
        "checkpoint": (100, 101, 102, 103),
        "short": (ranks // 4, ranks // 4 + 2),
    }


def make_stacks(ranks: int) -> tuple[list[RankStack], dict[str, tuple[int, ...]]]:
    """Every rank's dump, and which ranks have each shape."""
    stack_of = shapes()
    odd = odd_ranks(ranks)
    shape_of = {r: name for name, members in odd.items() for r in members}
    bootstrap = [("Thread._bootstrap", "/usr/lib/python3.11/threading.py", 1002)]
    pin = _frames([*bootstrap, ("Thread.run", "/usr/lib/python3.11/threading.py", 982),
                   ("_pin_memory_loop", f"{SITE}/torch/utils/data/pin_memory.py", 52)])  # fmt: skip
    beat = _frames([*bootstrap, ("Thread.run", "/usr/lib/python3.11/threading.py", 982),
                    ("heartbeat", "/home/u/proj/monitor.py", 14)])  # fmt: skip
    stacks = []
    for rank in range(ranks):
        frames = stack_of[shape_of.get(rank, "majority")]
        threads = (
            ThreadStack(3 * rank + 2, "pin_memory", pin, active=False),
            ThreadStack(3 * rank + 1, "heartbeat", beat, active=False),
            ThreadStack(3 * rank, "MainThread", frames, active=False),
        )
        stacks.append(
            RankStack(rank, "py-spy", threads, host=f"x{rank // 12:05d}", pid=1000 + rank % 12)
        )
    members = {name: odd.get(name, ()) for name in stack_of}
    odd_all = set(shape_of)
    members["majority"] = tuple(r for r in range(ranks) if r not in odd_all)
    return stacks, members


def uninterned(stacks: list[RankStack]) -> list[RankStack]:
    """The same stacks with every frame tuple its own object (equal values)."""
    out = []
    for s in stacks:
        threads = tuple(
            ThreadStack(t.thread_id, t.name, tuple(list(t.frames)), t.active, t.owns_gil)
            for t in s.threads
        )
        out.append(RankStack(s.rank, s.source, threads, s.host, s.pid))
    return out


def check(result: tuple[list[Any], list[str], Any], members: dict[str, tuple[int, ...]]) -> None:
    """Raise WrongOutput unless the groups, ranges and suspect are the planned ones."""
    groups, ranges, found = result
    want = sorted(members.values(), key=lambda m: (-len(m), m[0]))
    got = [g.ranks for g in groups]
    if got != want:
        raise WrongOutput(f"groups {[len(g) for g in got]}, planned {[len(m) for m in want]}")
    if ranges[0] != rank_ranges(members["majority"]):
        raise WrongOutput(f"majority's ranges {ranges[0][:60]!r}")
    if found is None or found.ranks != members["data"]:
        raise WrongOutput(f"suspect {found!r}, planned ranks {members['data']}")


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values) * 1000,
        "min": min(values) * 1000,
        "max": max(values) * 1000,
    }


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run(
    ranks: int = RANKS,
    repeats: int = REPEATS,
    quick: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    if quick:
        repeats = 2
    t0 = time.perf_counter()
    stacks, members = make_stacks(ranks)
    keys = [(id(s.threads[-1].frames), s.source) for s in stacks]
    log(f"stacks: {ranks:,} ranks x {DEPTH} frames built in {time.perf_counter() - t0:.1f} s")

    def ours() -> tuple[list[Any], list[str], Any]:
        groups = group_stacks(stacks)
        ranges = [rank_ranges(g.ranks) for g in groups]
        return groups, ranges, suspect(groups)

    parts: dict[str, list[float]] = {"group_stacks": [], "rank_ranges": [], "suspect": []}
    ours_s, base_s, tree_s = [], [], []
    for _ in range(repeats):
        seconds, _sorted = _timed(lambda: sorted(keys))
        base_s.append(seconds)
        seconds, result = _timed(ours)
        ours_s.append(seconds)
        check(result, members)
        groups = result[0]
        # the parts apart (untimed above): where the time goes
        parts["group_stacks"].append(_timed(lambda: group_stacks(stacks))[0])
        parts["rank_ranges"].append(_timed(lambda: [rank_ranges(g.ranks) for g in groups])[0])  # noqa: B023
        parts["suspect"].append(_timed(lambda: suspect(groups))[0])  # noqa: B023
        seconds, tree = _timed(lambda: prefix_tree(groups))  # noqa: B023
        tree_s.append(seconds)
        if tree.ranks != tuple(range(ranks)):
            raise WrongOutput("the tree's root does not hold every rank")
    report_s, report = _timed(lambda: build_report(stacks, T0))
    render_s, text = _timed(lambda: render_text(report))
    if report.suspect is None or report.suspect.ranks != members["data"]:
        raise WrongOutput(f"build_report's suspect {report.suspect!r}")
    loose = uninterned(stacks)
    loose_s, loose_groups = _timed(lambda: group_stacks(loose))
    if [g.ranks for g in loose_groups] != [g.ranks for g in groups]:
        raise WrongOutput("uninterned stacks grouped differently")
    ours_ms, base_ms = _ms(ours_s), _ms(base_s)
    value = ours_ms["median"]
    results = {
        "ranks": ranks,
        "frames": DEPTH,
        "shapes": len(members),
        "threads_per_rank": 3,
        "repeats": repeats,
        "ours_ms": ours_ms,
        "sorted_keys_ms": base_ms,
        "ratio_vs_sorted": value / base_ms["median"],
        "parts_ms": {name: statistics.median(v) * 1000 for name, v in parts.items()},
        "prefix_tree_ms": _ms(tree_s),
        "build_report_ms": report_s * 1000,
        "render_text_ms": render_s * 1000,
        "render_lines": text.count("\n"),
        "uninterned_group_stacks_ms": loose_s * 1000,
        "targets": {
            "group_ranges_suspect_ms": {
                "target": TARGET_MS,
                "value": value,
                "pass": value <= TARGET_MS,
            }
        },
    }
    log(
        f"stacks: group_stacks + rank_ranges + suspect median {value:.1f} ms "
        f"(sorted() of the keys {base_ms['median']:.1f} ms, x{results['ratio_vs_sorted']:.2f}); "
        f"prefix_tree {results['prefix_tree_ms']['median']:.1f} ms; verified"
    )
    return results


def table_rows(st: dict[str, Any]) -> list[tuple[str, ...]]:
    """``run_all``'s table rows (benchmark, measured, baseline, ratio, target, result)."""
    t, ours, parts = st["targets"]["group_ranges_suspect_ms"], st["ours_ms"], st["parts_ms"]
    return [
        (
            f"stacks {st['ranks']:,} ranks x {st['frames']} frames, {st['shapes']} shapes: "
            "group + ranges + suspect",
            f"{ours['median']:.1f} ms (min {ours['min']:.1f}, max {ours['max']:.1f})",
            f"sorted() of the keys: {st['sorted_keys_ms']['median']:.1f} ms",
            f"x{st['ratio_vs_sorted']:.2f}",
            f"<= {t['target']:g} ms",
            "pass" if t["pass"] else "MISS",
        ),
        (
            "  parts: group_stacks / rank_ranges / suspect",
            f"{parts['group_stacks']:.1f} / {parts['rank_ranges']:.1f} / {parts['suspect']:.2f} ms",
            "",
            "",
            "info",
            "",
        ),
        (
            "  prefix_tree / build_report / render_text",
            f"{st['prefix_tree_ms']['median']:.1f} / {st['build_report_ms']:.0f} / "
            f"{st['render_text_ms']:.0f} ms",
            f"group_stacks not interned: {st['uninterned_group_stacks_ms']:.0f} ms",
            "",
            "info",
            "",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=RANKS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--quick", action="store_true", help="two repeats")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    try:
        results = run(args.ranks, args.repeats, args.quick)
    except WrongOutput as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for row in table_rows(results):
            print("  ".join(cell for cell in row if cell))
    judged = results["targets"]["group_ranges_suspect_ms"]
    return 1 if args.strict and not judged["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
