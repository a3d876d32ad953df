"""One dump of a run's stacks: find its ranks, dump them, group, save.

Saved as ``stacks/<time>.json`` (the report: every rank's stacks, the groups,
the suspect) and ``stacks/<time>.txt`` (what ``--stacks`` prints) in the run
directory, so a dump taken by the watchdog before it stopped a job is still
there to read afterwards, and two dumps can be compared.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ezpz_core.errors import UsageError
from ezpz_core.hang.collect import (
    collect,
    find_py_spy,
    rank_processes,
    silence_of,
)
from ezpz_core.hang.groups import Report, build_report, render_text
from ezpz_core.hang.stacks import RankStack

STACKS = "stacks"


@dataclass(frozen=True)
class Dump:
    report: Report
    json_path: Path
    text_path: Path
    text: str


def _started(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``started`` event (the first line of ``events.jsonl``)."""
    try:
        with open(run_dir / "events.jsonl", "rb") as handle:
            first = handle.readline()
        event = json.loads(first)
    except (OSError, ValueError):
        return None
    return event if isinstance(event, dict) and event.get("event") == "started" else None


def _world(run_dir: Path, started: Mapping[str, Any]) -> int | None:
    world = started.get("world_size")
    return world if isinstance(world, int) and world > 0 else None


def take_dump(
    run_dir: Path,
    env: Mapping[str, str],
    reason: str = "asked",
    now: float | None = None,
) -> Dump:
    """Dump every rank of the run in ``run_dir`` that runs on this host."""
    started = _started(run_dir)
    if started is None:
        raise UsageError(f"--stacks: {run_dir} is no run directory of a started run")
    marker = started.get("marker")
    host = str(started.get("host") or "")
    if not isinstance(marker, str) or not marker:
        raise UsageError(
            f"--stacks: {run_dir} was started by an ezpz-tui without stack dumps; "
            "run the job again with this version"
        )
    py_spy = find_py_spy(env)  # None: each rank's faulthandler, where it has one
    procs = rank_processes(marker)
    if not procs:
        here = socket.gethostname()
        where = f" (its owner is on {host}; run --stacks there)" if host and host != here else ""
        raise UsageError(f"--stacks: no rank of this run is running on {here}{where}")
    t = time.time() if now is None else now
    stacks = collect(procs, py_spy, silence_of(run_dir, t), run_dir=run_dir)
    world = _world(run_dir, started)
    seen = {s.rank for s in stacks}
    if world is not None:
        here = socket.gethostname()
        stacks += [
            RankStack(rank, "none", error=f"no process of rank {rank} on {here}")
            for rank in range(world)
            if rank not in seen
        ]
    report = build_report(sorted(stacks, key=lambda s: s.rank), t)
    return save(run_dir, report, reason)


def save(run_dir: Path, report: Report, reason: str) -> Dump:
    folder = run_dir / STACKS
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(report.t))
    base, n = folder / stamp, 1
    while base.with_suffix(".json").exists():
        n += 1
        base = folder / f"{stamp}-{n}"
    data = {**report.to_json(), "reason": reason}
    json_path = base.with_suffix(".json")
    json_path.write_text(json.dumps(data, indent=1) + "\n")
    text = render_text(report)
    text_path = base.with_suffix(".txt")
    text_path.write_text(text if text.endswith("\n") else text + "\n")
    return Dump(report, json_path, text_path, text)


def latest_report(run_dir: Path) -> Report | None:
    """The newest dump saved for this run (to compare the next one with)."""
    from ezpz_core.jsonfile import read_json

    for path in sorted((run_dir / STACKS).glob("*.json"), reverse=True):
        report = Report.from_json(read_json(path))
        if report is not None:
            return report
    return None
