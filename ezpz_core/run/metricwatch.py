"""Where a running job's metrics come from, and the metrics themselves.

Three sources, best first:

1. the history file we asked for (``$EZPZ_HISTORY``, which our workload honours);
2. a history file an unmodified ezpz job writes under its working directory
   (``outputs/**/*.jsonl``, created after launch; the newest wins);
3. the ``step=N``/``iter=N`` lines in rank 0's log, or in the unlabelled stream
   when no rank is labelled.

The session feeds log blocks in as it writes them and calls ``poll`` about once a
second; ``current`` says which source wins now and hands out its series.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ezpz_core.history import HistoryTail, looks_like_history
from ezpz_core.logmetrics import BlockParser
from ezpz_core.metrics import MetricSeries
from ezpz_core.run.events import LAUNCHER
from ezpz_core.run.metricproc import OFFLOAD_BYTES, OffloadedParser

SCAN_DEPTH = 6  # directories below ``outputs/``
SCAN_ENTRIES = 50_000  # entries one scan looks at, at most


def _parse_file(parser: BlockParser, path: Path, chunk: int = 4 * 1024 * 1024) -> None:
    """Feed a log file to ``parser`` in blocks of whole lines."""
    try:
        handle = open(path, "rb")  # noqa: SIM115
    except OSError:
        return
    with handle:
        rest = b""
        while data := handle.read(chunk):
            data = rest + data
            end = data.rfind(b"\n") + 1
            rest = data[end:]
            if end:
                parser.feed(data[:end])
        if rest:
            parser.feed(rest + b"\n")


def history_roots(cwd: Path | None, env: dict[str, str] | None = None) -> list[Path]:
    """``outputs/`` under each directory an ezpz job may take as its working dir."""
    env = env or {}
    dirs = [env.get("PBS_O_WORKDIR"), env.get("SLURM_SUBMIT_DIR"), str(cwd) if cwd else None]
    roots: list[Path] = []
    for d in dirs:
        if d:
            root = Path(d) / "outputs"
            if root not in roots:
                roots.append(root)
    return roots


def scan_jsonl(roots: Iterable[Path], exclude: Iterable[Path]) -> dict[Path, float]:
    """``*.jsonl`` files under ``roots`` (not under ``exclude``) with their mtimes."""
    skip = {os.path.realpath(p) for p in exclude}
    found: dict[Path, float] = {}
    budget = SCAN_ENTRIES
    stack = [(str(root), 0) for root in roots]
    while stack and budget > 0:
        directory, depth = stack.pop()
        if os.path.realpath(directory) in skip:
            continue
        try:
            entries = os.scandir(directory)
        except OSError:
            continue
        with entries:
            for entry in entries:
                budget -= 1
                if budget <= 0:
                    break
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if depth < SCAN_DEPTH:
                            stack.append((entry.path, depth + 1))
                    elif entry.name.endswith(".jsonl") and entry.is_file():
                        found[Path(entry.path)] = entry.stat().st_mtime
                except OSError:
                    continue
    return found


@dataclass
class Source:
    """One history file being followed."""

    path: Path
    tail: HistoryTail
    series: MetricSeries

    def poll(self, final: bool = False) -> None:
        self.series.add(self.tail.poll(final))


class MetricsWatch:
    """Collects a run's metrics from every source; the best one wins."""

    def __init__(
        self,
        history: Path,
        roots: list[Path],
        exclude: list[Path],
        started: float,
        rank: int = 0,
        offload_after: int | None = OFFLOAD_BYTES,
    ) -> None:
        self.rank = rank
        self.explicit = Source(history, HistoryTail(history), MetricSeries(rank))
        self.roots = roots
        self.exclude = [*exclude, history]
        self.started = started
        self.known: set[Path] | None = None  # jsonl files that existed at launch
        self.found: Source | None = None
        # log lines: rank ``rank``'s own, and the unlabelled lane; parsed in process
        # at first, in a child process once a lane is busy
        parsers = self._log_parsers()
        self.log_rank = parsers[rank].series
        self.log_unlabelled = parsers[LAUNCHER].series
        self._lanes = {lane: OffloadedParser(p, offload_after) for lane, p in parsers.items()}
        self._announced: str | None = None
        self._lock = threading.Lock()  # discover runs in a worker thread during the run

    # -- log lines ------------------------------------------------------------
    def on_block(self, rank: int, block: bytes) -> None:
        """A block of one rank's lines, as the run store writes it."""
        lane = self._lanes.get(rank)
        if lane is None or self._history_has_rows():
            return  # a history file wins over log lines: no need to parse them
        lane.feed(block)

    def _log_parsers(self) -> dict[int, BlockParser]:
        return {
            self.rank: BlockParser(MetricSeries(rank=None), self.rank),
            LAUNCHER: BlockParser(MetricSeries(rank=None), None),
        }

    def _history_has_rows(self) -> bool:
        found = self.found
        return bool(self.explicit.series.rows or (found is not None and found.series.rows))

    async def room(self) -> None:
        """Back-pressure from the child processes that parse busy lanes."""
        for lane in self._lanes.values():
            await lane.room()

    def finish_logs(self, logs: Callable[[], Iterable[tuple[int, Path]]]) -> None:
        """The log series complete, from the children that parsed busy lanes. If a
        child failed, the lanes are parsed again from ``logs()``: (rank, path)
        of every attempt's rank files, in order (they hold every line)."""
        parsers = {rank: lane.finish() for rank, lane in self._lanes.items()}
        if any(lane.lost for lane in self._lanes.values()):
            parsers = self._log_parsers()
            for rank, path in logs():
                if rank in parsers:
                    _parse_file(parsers[rank], path)
        self.log_rank = parsers[self.rank].series
        self.log_unlabelled = parsers[LAUNCHER].series

    # -- history files --------------------------------------------------------
    def snapshot(self) -> None:
        """Remember the ``.jsonl`` files present at launch: they are not this job's."""
        self.known = set(scan_jsonl(self.roots, self.exclude))

    def discover(self) -> None:
        """Follow the newest history file created since launch (if newer than the
        one followed now)."""
        with self._lock:
            self._discover()

    def _discover(self) -> None:
        if self.known is None:
            return
        fresh = {
            path: mtime
            for path, mtime in scan_jsonl(self.roots, self.exclude).items()
            if path not in self.known and mtime >= self.started - 1
        }
        for path in sorted(fresh, key=lambda p: fresh[p], reverse=True):  # newest first
            if self.found is not None and path == self.found.path:
                return  # still the newest history
            if looks_like_history(path):
                self.found = Source(path, HistoryTail(path), MetricSeries(self.rank))
                return

    def poll(self, final: bool = False) -> str | None:
        """Read new rows from the followed files; returns a message when the winning
        source changes (for the user: where the charts come from)."""
        self.explicit.poll(final)
        with self._lock:
            found = self.found
        if found is not None:
            found.poll(final)
        source, _series = self.current()
        if source is not None and source != self._announced:
            self._announced = source
            return f"metrics from {source.replace(':', ' ', 1)}"
        return None

    def current(self) -> tuple[str | None, MetricSeries | None]:
        """``("history:<path>", series)``, ``("log", series)`` or ``(None, None)``."""
        for src in (self.explicit, self.found):
            if src is not None and src.series.rows:
                return f"history:{src.path}", src.series
        for series in (self.log_rank, self.log_unlabelled):
            if series.rows:
                return "log", series
        return None, None
