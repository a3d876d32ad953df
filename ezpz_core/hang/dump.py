"""One dump of a run's stacks: find its ranks, dump them, group, save.

Saved as ``stacks/<time>.json`` (the report: every rank's stacks, the groups,
the suspect) and ``stacks/<time>.txt`` (what ``--stacks`` prints) in the run
directory, so a dump taken by the watchdog before it stopped a job is still
there to read afterwards, and two dumps can be compared.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterable, Mapping
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
from ezpz_core.jsonfile import read_json

STACKS = "stacks"
REQUEST = f"{STACKS}/request"  # created to ask a running --run for a dump via its wrappers


@dataclass(frozen=True)
class Dump:
    report: Report
    json_path: Path
    text_path: Path
    text: str


def _started(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``started`` event (the first line of ``events.jsonl``)."""
    from ezpz_core.run.rundir import EVENTS, first_event

    event = first_event(run_dir / EVENTS)
    return event if event is not None and event.get("event") == "started" else None


def _missing(
    world: int | None, have: Iterable[int], why: str, silence: Mapping[int, float]
) -> list[RankStack]:
    """A stackless entry for each rank of the world that gave none, saying why."""
    seen = set(have)
    return [
        RankStack(rank, "none", error=why.format(rank=rank), silent_s=silence.get(rank))
        for rank in range(world or 0)
        if rank not in seen
    ]


def _world(run_dir: Path, started: Mapping[str, Any]) -> int | None:
    world = started.get("world_size")
    return world if isinstance(world, int) and world > 0 else None


def take_dump(
    run_dir: Path,
    env: Mapping[str, str],
    reason: str = "asked",
    now: float | None = None,
) -> Dump:
    """Dump every rank of the run in ``run_dir``: through its wrappers when it
    has them (every host), else the ranks on this host with py-spy."""
    started = _started(run_dir)
    if started is None:
        raise UsageError(f"--stacks: {run_dir} is no run directory of a started run")
    if _wrappers_answer(run_dir, started):
        return ask_running(run_dir)
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
    silence = silence_of(run_dir, t)
    stacks = collect(procs, py_spy, silence, run_dir=run_dir)
    why = f"no process of rank {{rank}} on {socket.gethostname()}"
    stacks += _missing(_world(run_dir, started), (s.rank for s in stacks), why, {})
    report = build_report(sorted(stacks, key=lambda s: s.rank), t)
    return save(run_dir, report, reason)


def _wrappers_answer(run_dir: Path, started: Mapping[str, Any]) -> bool:
    """The run's ranks have wrappers that dump on request (``--rank-io wrapper``
    by a version that passes them ``--stacks``), and its ``--run`` still runs."""
    from ezpz_core.run.rundir import RunStatus, run_info

    argv = started.get("argv")
    if not isinstance(argv, list) or "--stacks" not in argv:
        return False
    return run_info(run_dir).status is RunStatus.RUNNING


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
    for path in sorted((run_dir / STACKS).glob("*.json"), reverse=True):
        report = Report.from_json(read_json(path))
        if report is not None:
            return report
    return None


def wrapper_report(
    run_dir: Path,
    replies: Mapping[int, str],
    world: int | None,
    t: float,
    reason: str,
    waited_s: float,
) -> Dump:
    """The report of the wrappers' answers (``RankStack`` JSON, one per rank),
    with each rank's silence, and the ranks that did not answer; saved."""
    import dataclasses

    silence = silence_of(run_dir, t)
    stacks: list[RankStack] = []
    for rank, text in sorted(replies.items()):
        try:
            stack = RankStack.from_json(json.loads(text))
        except ValueError:
            stack = None
        if stack is None:
            stack = RankStack(rank, "none", error="its wrapper's answer was not readable")
        stacks.append(dataclasses.replace(stack, silent_s=silence.get(rank)))
    why = f"its wrapper did not answer within {waited_s:g} s (its host down, or no wrapper)"
    stacks += _missing(world, replies, why, silence)
    report = build_report(sorted(stacks, key=lambda s: s.rank), t)
    return save(run_dir, report, reason)


def ask_running(run_dir: Path, timeout_s: float = 30.0) -> Dump:
    """Ask the run's own ``--run`` for a dump through its wrappers (every host)
    and wait for it: the way for runs with ``--rank-io wrapper``."""
    folder = run_dir / STACKS
    folder.mkdir(exist_ok=True)
    before = {p.name for p in folder.glob("*.json")}
    (run_dir / REQUEST).write_text(f"{time.time()}\n")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        fresh = sorted(p for p in folder.glob("*.json") if p.name not in before)
        if fresh:
            path = fresh[-1]
            text_path = path.with_suffix(".txt")
            for _ in range(100):  # the .txt is written right after the .json
                if text_path.exists():
                    break
                time.sleep(0.02)
            report = Report.from_json(read_json(path))
            if report is not None and text_path.exists():
                return Dump(report, path, text_path, text_path.read_text())
        time.sleep(0.1)
    with contextlib.suppress(OSError):
        (run_dir / REQUEST).unlink()
    raise UsageError(
        f"--stacks: the run's ezpz-tui --run did not answer within {timeout_s:g} s "
        "(is it still running? an older version?)"
    )
