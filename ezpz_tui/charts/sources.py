"""Where the charts' metrics come from: one run's sources, followed by polling.

The console charts what ``--run`` summarises, from the same sources in the same
order (``docs/metrics.md``): the run's ``history.jsonl``, the ezpz history file
the session found (it says which in an ``events.jsonl`` ``metrics`` event), then
the step lines of the metrics rank's log. Any history file can be charted alone
(``ezpz-tui --history PATH``). Chart points are min/max buckets (``Buckets``), so
a spike survives however long the run.

A big file opens on a sample (rows at evenly spaced offsets, and every row of the
last stretch) so that the first chart comes at once; the whole file is then read
in steps in the background and replaces the sample when it is done. ``poll`` runs
on a worker thread; views read ``current()`` under ``lock``, which a poll holds
only for one small step.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from ezpz_core.history import HistoryTail, parse_line
from ezpz_core.logmetrics import BlockParser
from ezpz_core.metrics import MetricRow, MetricSeries
from ezpz_core.run.rundir import EventsTail, read_json
from ezpz_core.tail import LineTail
from ezpz_tui.charts.buckets import Buckets

STEP_BYTES = 1 << 20  # read per step of a poll: the longest a view waits for the lock
PREVIEW_BYTES = 8 << 20  # a history bigger than this opens on a sample
PREVIEW_ROWS = 4000  # rows sampled at evenly spaced offsets
PREVIEW_TAIL = 256 << 10  # and every row of this last stretch
PROBE_BYTES = 16 << 10  # read at each sampled offset
# ezpz's and our writer's rows start with the timestamp and the rank: another
# rank's row is skipped without decoding it (most rows of an N-rank ezpz job)
_RANK_AHEAD = re.compile(rb'\{"timestamp": [-+0-9.eE]+, "rank": (\d+)[,}]')


def chart_series(rank: int | None) -> MetricSeries:
    return MetricSeries(rank, make_points=Buckets)


def other_rank(line: bytes, rank: int | None) -> bool:
    """The line is a row of another rank than ``rank`` (decided without json)."""
    if rank is None:
        return False
    m = _RANK_AHEAD.match(line)
    return m is not None and int(m.group(1)) != rank


def add_rows(series: MetricSeries, rows: list[MetricRow]) -> None:
    """``series.add(rows)``, by columns where consecutive rows carry the same keys
    (every row of a job's history, nearly always): C-level folds, same result."""
    rank = series.rank
    if rank is not None:
        mine = [r for r in rows if (r.rank if r.rank is not None else 0) == rank]
        series.skipped += len(rows) - len(mine)
        rows = mine
    for _keys, group in groupby(rows, key=lambda r: tuple(r.values)):
        same = list(group)
        if len(same) < 4:
            series.add(same)  # rank checked above: ``add`` takes them all
            continue
        names = list(same[0].values)
        columns = zip(*(r.values.values() for r in same), strict=True)
        series.add_columns(
            {name: (None, list(col)) for name, col in zip(names, columns, strict=True)}, len(same)
        )
        times = [r.t for r in same if r.t is not None]
        if times:
            series.first_t = times[0] if series.first_t is None else series.first_t
            series.last_t = times[-1]


def sample_rows(path: Path, rank: int | None, size: int) -> list[MetricRow]:
    """Rows of ``rank`` at ``PREVIEW_ROWS`` evenly spaced offsets, then every row of
    the file's last ``PREVIEW_TAIL`` bytes: the shape of the whole, and its newest
    steps exact."""
    rows: list[MetricRow] = []
    tail_start = max(0, size - PREVIEW_TAIL)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return rows
    try:
        stride = max(PROBE_BYTES, tail_start // PREVIEW_ROWS)
        for offset in range(0, tail_start, stride):
            data = os.pread(fd, PROBE_BYTES, offset)
            lines = data.split(b"\n")[1:-1] if offset else data.split(b"\n")[:-1]
            for line in lines:
                if other_rank(line, rank):
                    continue
                row = parse_line(line)
                if row is not None and (rank is None or (row.rank or 0) == rank):
                    rows.append(row)
                    break
        data = os.pread(fd, size - tail_start, tail_start)
    finally:
        os.close(fd)
    lines = data.split(b"\n")[1 if tail_start else 0 : -1]
    rows.extend(row for line in lines if not other_rank(line, rank) and (row := parse_line(line)))
    return rows


class HistoryFollower:
    """One history file, its rows into a chart series; starts over (a fresh
    series) when the file is truncated or replaced."""

    def __init__(self, path: Path, rank: int | None) -> None:
        self.path = Path(path)
        self.rank = rank
        self.tail = HistoryTail(self.path, chunk=STEP_BYTES)
        self.series = chart_series(rank)
        self.preview: MetricSeries | None = None  # shown while a big file is read
        self._sampled_size = 0  # the file's size when the preview was made

    @property
    def behind(self) -> int:
        return max(0, max(self.tail.size, self._sampled_size) - self.tail.offset)

    def visible(self) -> MetricSeries:
        return self.preview if self.preview is not None else self.series

    def open_preview(self) -> bool:
        """Sample a big file before reading it whole; True if a preview was made."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return False
        if size <= PREVIEW_BYTES:
            return False
        preview = chart_series(self.rank)
        add_rows(preview, sample_rows(self.path, self.rank, size))
        self.preview = preview if preview.rows else None
        self._sampled_size = size  # all of it is still to read
        return self.preview is not None

    def step(self, final: bool = False) -> bool:
        """One step of at most ``STEP_BYTES``; True when rows (or a restart) came."""
        restarts = self.tail.restarts
        rows = self.tail.poll(final)
        restarted = self.tail.restarts != restarts
        if restarted:
            self.series = chart_series(self.rank)
            self.preview = None
            self._sampled_size = 0
        add_rows(self.series, rows)
        if self.preview is not None and not self.behind:
            self.preview = None  # read whole: the real series takes over
            return True
        return bool(rows) or restarted


class LogFollower:
    """The step lines of one rank's log files (each attempt's in turn)."""

    def __init__(self, rank: int | None) -> None:
        self.series = chart_series(None)
        self.parser = BlockParser(self.series, rank)
        self.tail: LineTail | None = None

    @property
    def path(self) -> Path | None:
        return self.tail.path if self.tail is not None else None

    @property
    def behind(self) -> int:
        return self.tail.behind if self.tail is not None else 0

    def follow(self, path: Path) -> None:
        """Read ``path`` from its start (a new attempt's log); the series keeps its
        rows, so a retried job's steps continue."""
        if path != self.path:
            self.tail = LineTail(path, STEP_BYTES, max_line=STEP_BYTES)

    def step(self) -> tuple[bool, bool]:
        """One step of at most ``STEP_BYTES``: (bytes were read, rows came)."""
        if self.tail is None:
            return False, False
        offset = self.tail.offset
        lines = self.tail.read()
        rows = self.series.rows
        if lines:
            self.parser.feed(b"\n".join(lines) + b"\n")
        return self.tail.offset != offset, self.series.rows != rows


def _rank_log(directory: Path, rank: int | None) -> Path:
    return directory / "ranks" / ("launcher.log" if rank is None else f"rank-{rank}.log")


@dataclass
class RunMetrics:
    """One run's (or one file's) metrics for the charts, from its best source."""

    label: str
    explicit: HistoryFollower
    run_dir: Path | None = None
    rank: int = 0
    found: HistoryFollower | None = None
    logs: list[LogFollower] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    version: int = 0  # bumped by every change a chart may show
    _events: EventsTail | None = None
    _opened: bool = False

    @classmethod
    def for_history(cls, path: Path, rank: int = 0) -> RunMetrics:
        return cls(label=Path(path).name, explicit=HistoryFollower(Path(path), rank), rank=rank)

    @classmethod
    def for_run(cls, run_dir: Path) -> RunMetrics:
        run_dir = Path(run_dir)
        plan = read_json(run_dir / "plan.json") or {}
        rank = plan.get("metrics_rank", 0)
        rank = rank if isinstance(rank, int) and not isinstance(rank, bool) else 0
        metrics = cls(
            label=run_dir.name,
            explicit=HistoryFollower(run_dir / "history.jsonl", rank),
            run_dir=run_dir,
            rank=rank,
            logs=[LogFollower(rank), LogFollower(None)],
            _events=EventsTail(run_dir / "events.jsonl"),
        )
        for log, lane in zip(metrics.logs, (rank, None), strict=True):
            log.follow(_rank_log(run_dir, lane))
        return metrics

    # -- reading ----------------------------------------------------------------------
    def current(self) -> tuple[str | None, MetricSeries | None]:
        """The winning source now (``history:<path>``, ``log``) and its series; hold
        ``lock`` while drawing from it."""
        for follower in (self.explicit, self.found):
            if follower is not None and follower.visible().rows:
                return f"history:{follower.path}", follower.visible()
        for log in self.logs:
            if log.series.rows:
                return "log", log.series
        return None, None

    @property
    def behind(self) -> int:
        """Bytes not read yet: of a history file shown by its preview, or of the
        logs while they are the source (their rows show as they come)."""
        files = sum(f.behind for f in (self.explicit, self.found) if f is not None and f.preview)
        logs = sum(log.behind for log in self.logs) if not self._history_rows() else 0
        # a log a job is writing is always a little behind: only a backlog counts
        return files + (logs if logs > STEP_BYTES else 0)

    @property
    def corrupt(self) -> int:
        return sum(f.tail.corrupt for f in (self.explicit, self.found) if f is not None)

    @property
    def restarts(self) -> int:
        return sum(f.tail.restarts for f in (self.explicit, self.found) if f is not None)

    def poll(self, final: bool = False, budget_s: float = 0.5) -> bool:
        """Read what is new, in steps, for about ``budget_s`` at most (a big file is
        read over several polls: ``behind`` says how much is left); True when
        something a chart shows changed."""
        deadline = time.monotonic() + budget_s
        changed = False
        if not self._opened:
            self._opened = True
            if self.explicit.open_preview():  # a first chart now, the rest later
                self.version += 1
                return True
        if self._events is not None:
            for event in self._events.poll():
                changed |= self._event(event)
        for follower in (self.explicit, self.found):
            if follower is not None:
                changed |= self._read(follower, final, deadline)
        if self.run_dir is not None and not self._history_rows():
            for log in self.logs:  # no history (yet): the step lines
                while time.monotonic() < deadline:
                    with self.lock:
                        progressed, grew = log.step()
                    changed |= grew
                    if not progressed:
                        break
        if changed:
            self.version += 1
        return changed

    def _history_rows(self) -> bool:
        return any(f is not None and f.visible().rows for f in (self.explicit, self.found))

    def _read(self, follower: HistoryFollower, final: bool, deadline: float) -> bool:
        changed = False
        while True:
            offset = follower.tail.offset
            if follower.preview is not None:
                # the series grows hidden behind the preview (no lock); the swap
                # to it is one assignment
                follower.step(final)
                changed |= follower.preview is None  # read whole, or started over
            else:
                with self.lock:
                    changed |= follower.step(final)
            if follower.tail.offset == offset or not follower.behind:
                return changed
            if time.monotonic() > deadline:
                return changed

    def _event(self, event: dict[str, Any]) -> bool:
        kind = event.get("event")
        if kind == "metrics":
            rank = event.get("rank")
            if isinstance(rank, int) and not isinstance(rank, bool) and rank != self.rank:
                self._set_rank(rank)  # plan.json was not there yet when we started
            source = event.get("source")
            if isinstance(source, str) and source.startswith("history:"):
                return self._found(Path(source.removeprefix("history:")))
        elif kind == "notice":  # runs journaled before the metrics event existed
            text = str(event.get("text") or "")
            if text.startswith("metrics from history "):
                return self._found(Path(text.removeprefix("metrics from history ")))
        elif kind == "attempt" and self.run_dir is not None:
            directory = Path(str(event.get("directory") or self.run_dir))
            for log, lane in zip(self.logs, (self.rank, None), strict=True):
                log.follow(_rank_log(directory, lane))
        return False

    def _set_rank(self, rank: int) -> None:
        """Chart another rank's rows (``--metrics-rank``): read again from the start."""
        with self.lock:
            self.rank = rank
            self.explicit = HistoryFollower(self.explicit.path, rank)
            if self.found is not None:
                self.found = HistoryFollower(self.found.path, rank)
            paths = [log.path for log in self.logs]
            self.logs = [LogFollower(rank), LogFollower(None)]
            for log, path in zip(self.logs, paths, strict=True):
                if path is not None:
                    log.follow(path)
            if paths and paths[0] is not None:
                self.logs[0].follow(paths[0].with_name(f"rank-{rank}.log"))
            self.version += 1

    def _found(self, path: Path) -> bool:
        if path == self.explicit.path or (self.found is not None and self.found.path == path):
            return False
        follower = HistoryFollower(path, self.rank)
        follower.open_preview()
        with self.lock:
            self.found = follower
        return True
