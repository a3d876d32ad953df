"""One attached run directory, followed by polling: what every view of a run reads.

The console never parses the job's pipes: the ``--run`` session writes the run
directory and this model reads it (see docs/architecture.md), so watching a run
started here, by a batch script on a compute node or one that ended last week is
the same code. ``poll`` reads only new bytes: ``combined.log`` through a sparse
line index (labels parsed once per line, the rank of each line kept in an
array), ``events.jsonl`` for exits and notices, and the rank files of open
panes. Everything the views need is derived here, in bounded memory: which lines
are rows of the merged pane (collapsed across ranks or not, noise hidden or
not), error lines, search hits, rank state and activity over time.

``poll`` runs on the watcher thread; views read under ``lock``. A poll handles
at most ``BATCH_BYTES`` per step and hands the lock to any view waiting for it
between steps (``HandOverLock``), so a flood never holds the screen for longer
than one step.
"""

from __future__ import annotations

import threading
import time
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

from ezpz_core.errors import UsageError
from ezpz_core.kinds import RankIO
from ezpz_core.launch.styles import Style
from ezpz_core.run.events import LAUNCHER, decoded
from ezpz_core.run.filters import DisplayFilter, make_filter
from ezpz_core.run.labels import Attributor, LabelFormat, split_label
from ezpz_core.run.rundir import EventsTail, RunInfo, RunStatus, read_json, run_info
from ezpz_core.run.session import label_format_for
from ezpz_core.run.store import ERROR_LINE, error_words
from ezpz_tui.watch.collapse import WINDOW_LINES, Collapser
from ezpz_tui.watch.heatmap import Activity
from ezpz_tui.watch.lineindex import LineIndex
from ezpz_tui.watch.ranks import RankBoard, host_of_rank
from ezpz_tui.watch.rowset import RowSet
from ezpz_tui.watch.search import Search, SearchSpec
from ezpz_tui.watch.usage import UsageFeed

BATCH_BYTES = 256 << 10  # per step of a poll (~6 ms of work): the longest a view waits
HAND_OVER_GRACE_S = 0.01  # after a view took the lock: its frame runs with the GIL to itself
PREVIEW_BEHIND = 8 << 20  # this far behind on opening: show the newest lines first
PREVIEW_LINES = 500
LIVE_LAG_BYTES = 4 << 20  # behind the end by less than this: lines are "now"
INFO_EVERY_S = 1.0  # run status (owner alive?) is read this often


def label_format_of(plan: dict[str, Any]) -> LabelFormat:
    """How ``combined.log``'s lines are labelled, from ``plan.json`` (as the session
    chose); a plan.json too old or odd to say: whichever label a line carries."""
    try:
        return label_format_for(RankIO(plan.get("rank_io")), Style(plan.get("launch_style")))
    except ValueError:
        return LabelFormat.ANY


def collapse_window(plan: dict[str, Any]) -> int:
    """Lines a collapsed row stays open to joins: wide enough for every rank of the
    job to print its copy of a banner (20,000 ranks: one row, not five of 4,097)."""
    world = plan.get("world_size")
    return max(WINDOW_LINES, 2 * world) if isinstance(world, int) else WINDOW_LINES


def noise_filter_of(plan: dict[str, Any]) -> DisplayFilter:
    """The machine's noise filter (what ``--run`` hid on that machine)."""
    from ezpz_core.machines import machine_by_name

    try:
        machine = machine_by_name(str(plan.get("machine") or ""), "plan.json machine")
    except UsageError:  # a machine this version does not know
        return make_filter(None)
    return make_filter(machine.filter_profile)


@dataclass(frozen=True)
class PaneLine:
    """One row of a log pane, ready to draw."""

    rank: int
    text: str
    group: str = ""  # "x1,024 ranks 0-1023" (with a times sign) for a collapsed row
    members: int = 1
    line: int = 0  # line number in the pane's file
    hit: bool = False
    error: bool = False


@dataclass
class Notice:
    t: float
    level: str
    text: str


@dataclass
class Flow:
    """Where the merged pane's rows come from: the switches of the view."""

    collapse: bool = True
    noise: bool = True  # hide the machine's noise lines


@dataclass
class _Progress:
    offsets: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def add(self, offset: int, t: float) -> None:
        if not self.offsets or offset > self.offsets[-1]:
            self.offsets.append(offset)
            self.times.append(t)

    def time_at(self, offset: int) -> float | None:
        """When the byte at ``offset`` was written (the first progress after it)."""
        i = bisect_right(self.offsets, offset)
        if i < len(self.times):
            return self.times[i]
        return self.times[-1] if self.times else None

    def spans(
        self, start: int, lines: list[bytes], live: float | None
    ) -> list[tuple[int, int, float | None]]:
        """``(first, stop, t)``: when each line of a batch read from byte ``start``
        was written. A line the progress events cover takes the time of the first
        one past it; the others (not flushed when the last one was written) take
        ``live`` (now, while the reader keeps up), else the last known time. So a
        run attached after the fact has its real ages, silences and activity."""
        covered = self.offsets[-1] if self.offsets else 0
        if start >= covered:  # the usual live case: one span
            return [(0, len(lines), live if live is not None else self.time_at(start))]
        starts = list(accumulate((len(line) + 1 for line in lines), initial=start))
        spans: list[tuple[int, int, float | None]] = []
        i = 0
        while i < len(lines):
            k = bisect_right(self.offsets, starts[i])
            if k < len(self.offsets):
                stop = bisect_left(starts, self.offsets[k], i + 1, len(lines))
                spans.append((i, stop, self.times[k]))
            else:
                stop = len(lines)
                spans.append((i, stop, live if live is not None else self.times[-1]))
            i = stop
        return spans

    def offset_at(self, t: float) -> int | None:
        i = bisect_right(self.times, t)
        if i == 0:
            return 0 if self.offsets else None
        return self.offsets[i - 1]


class HandOverLock:
    """A re-entrant lock that the watcher hands over between the steps of a poll.

    A plain ``RLock`` released and taken again at once by the same thread is
    nearly always taken by it again: the view waiting for it (woken, but not yet
    running) waited out the whole poll, 150 ms and more while catching up. Here a
    thread that must wait is counted, and ``hand_over`` (called without the lock)
    returns only once every such thread has had it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._count = threading.Lock()
        self._waiting = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._lock.acquire(False):
            return True
        if not blocking:
            return False
        with self._count:
            self._waiting += 1
        try:
            return self._lock.acquire(True, timeout)
        finally:
            with self._count:
                self._waiting -= 1

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def hand_over(self, limit_s: float = 0.05) -> None:
        """Wait (not holding the lock) until the threads waiting for it have had it,
        then a little more: the view that took it is in the middle of a frame, which
        takes the lock again and draws; sharing the GIL would make it twice as slow."""
        if not self._waiting:
            return
        deadline = time.monotonic() + limit_s
        while self._waiting and time.monotonic() < deadline:
            time.sleep(0.0002)
        time.sleep(HAND_OVER_GRACE_S)


class RunWatch:
    def __init__(self, path: Path, clock: Any = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self.lock = HandOverLock()
        self.plan: dict[str, Any] = {}
        self.summary: dict[str, Any] | None = None
        self.info: RunInfo | None = None
        self.fmt = LabelFormat.ANY
        self.noise = DisplayFilter()
        self.flow = Flow()
        self.generation = 0  # bumped by every change the views may show
        self.notices: list[Notice] = []
        self.finished: dict[str, Any] | None = None
        self.attempt = 0
        self.started_at: float | None = None
        self._events = EventsTail(self.path / "events.jsonl")
        self._info_at = 0.0
        self._progress = _Progress()
        self._plan_read = False
        self.search: Search | None = None
        self.filter: Search | None = None
        self._search_to = 0  # lines fed to the search (it catches up from 0)
        self._filter_to = 0
        self._filter_rows = RowSet()
        self.rank_panes: dict[int, LineIndex] = {}
        self.usage = UsageFeed(self.path)
        self._reset(self.path)

    # -- state of one attempt's logs -------------------------------------------
    def _reset(self, directory: Path) -> None:
        self.directory = directory
        self.combined = LineIndex(directory / "combined.log")
        self.ranks_of = array("i")
        self.collapser = Collapser(collapse_window(self.plan))
        self.views = {(c, n): RowSet() for c in (True, False) for n in (True, False)}
        self.errors = array("Q")
        self.board = RankBoard()
        for sample in self.usage.latest.values():  # a new attempt: the figures stay
            self.board.usage(sample.rank, sample.cpu, sample.gpu)
        self.activity = Activity()
        self.hidden = 0
        for index in self.rank_panes.values():
            index.close()
        self.rank_panes = {}
        if self.search is not None:
            self.search = Search(self.search.spec)
        if self.filter is not None:
            self.filter = Search(self.filter.spec)
        self._filter_rows = RowSet()
        self._search_to = self._filter_to = 0
        self._attributor = Attributor(self.fmt, "stdout")
        self._progress = _Progress()
        self.preview: list[PaneLine] = []  # the newest lines while a big file is indexed
        self._previewed = False
        self.generation += 1

    # -- polling ------------------------------------------------------------------
    def poll(self, budget_s: float = 0.15) -> bool:
        """Read what is new; True when something the views show changed."""
        changed = False
        now = self.clock()
        if not self._plan_read:
            changed |= self._read_plan()
        for event in self._events.poll():
            with self.lock:
                changed |= self._event(event)
        # (a queued job's run starts any moment: its owner.json is looked for every poll)
        starting = self.info is None or self.info.status in (RunStatus.STARTING, RunStatus.QUEUED)
        if starting or now - self._info_at >= INFO_EVERY_S:
            self._info_at = now
            info = run_info(self.path, now=now)
            with self.lock:
                if self.info is None or info != self.info:
                    self.info = info
                    changed = True
                if self.summary is None and info.status is RunStatus.FINISHED:
                    self.summary = read_json(self.path / "summary.json")
                    changed = True
                fresh = self.usage.poll(
                    now, info.rank_io, info.host, info.pid, info.status is RunStatus.RUNNING
                )
                for sample in fresh:  # the board keeps each rank's latest
                    self.board.usage(sample.rank, sample.cpu, sample.gpu)
                changed |= bool(fresh)
        if not self._previewed and self._plan_read:
            self._previewed = True
            if self.behind > PREVIEW_BEHIND:
                self._read_preview()
                changed = True
        deadline = time.monotonic() + budget_s
        while True:
            with self.lock:
                added = self._step(now)
            changed |= added
            if not added or time.monotonic() > deadline:
                break
            self.lock.hand_over()  # a frame waiting for the lock goes first
        with self.lock:
            for index in self.rank_panes.values():
                _first, lines = index.update()
                changed |= bool(lines)
            if changed:
                self.generation += 1
        return changed

    @property
    def behind(self) -> int:
        """Bytes of ``combined.log`` not read yet (catching up on a big run)."""
        try:
            return max(0, self.combined.path.stat().st_size - self.combined.end)
        except OSError:
            return 0

    def _read_preview(self) -> None:
        """The last screens of a big ``combined.log``, read from its end, shown
        while the whole file is indexed from its start (no collapse, no search)."""
        chunk = self.combined.tail(PREVIEW_LINES)
        fmt = self.fmt
        preview = []
        for raw in chunk.lines:
            rank, text = split_label(fmt, raw)
            preview.append(PaneLine(rank=rank, text=decoded(text), line=-1))
        with self.lock:
            self.preview = preview

    @property
    def previewing(self) -> bool:
        """Still indexing a big file: the merged pane shows ``preview``."""
        return bool(self.preview) and self.behind > 0

    def _read_plan(self) -> bool:
        plan = read_json(self.path / "plan.json")
        if plan is None:
            return False
        self._plan_read = True
        with self.lock:
            self.plan = plan
            self.fmt = label_format_of(plan)
            self._attributor = Attributor(self.fmt, "stdout")
            self.noise = noise_filter_of(plan)
            hosts, ppn = list(plan.get("hosts") or []), plan.get("ppn")
            world = plan.get("world_size")
            if isinstance(world, int):
                self.board.expected(world)
                if not len(self.ranks_of):  # nothing read yet: size the window for them
                    self.collapser = Collapser(collapse_window(plan))
            if hosts and isinstance(ppn, int) and ppn > 0:
                self.board.hosts(lambda rank: host_of_rank(hosts, ppn, rank))
        return True

    def _event(self, event: dict[str, Any]) -> bool:
        kind = event.get("event")
        t = float(event.get("t") or 0.0)
        if kind == "started":
            self.started_at = t
            self.board.started(t)
        elif kind == "attempt":
            attempt = int(event.get("attempt") or 1)
            directory = Path(str(event.get("directory") or self.path))
            if attempt != self.attempt and attempt > 1:
                self._reset(directory)
            self.attempt = attempt
        elif kind == "rank_exit":
            if int(event.get("attempt") or self.attempt or 1) == (self.attempt or 1):
                self.board.exited(int(event["rank"]), int(event["code"]))
        elif kind == "notice":
            self.notices.append(Notice(t, str(event.get("level", "info")), str(event.get("text"))))
        elif kind == "progress":
            if int(event.get("attempt") or 1) == (self.attempt or 1):
                self._progress.add(int(event.get("bytes") or 0), t)
        elif kind == "finished":
            self.finished = event
            if event.get("code") == 0:
                self.board.all_exited(0)
        else:
            return False
        return True

    def _step(self, now: float) -> bool:
        """One batch of new whole lines of ``combined.log`` through every model."""
        start_offset = self.combined.end
        first, lines = self.combined.update(max_bytes=BATCH_BYTES)
        if first != len(self.ranks_of):  # truncated or replaced: read it again
            self._reset(self.directory)
            return True
        if not lines:
            if self.preview and not self.behind:
                self.preview = []  # indexed to the end: the real rows take over
                return True
            return False
        ranks, texts = self._labels(lines)
        self.ranks_of.extend(ranks)
        live = now if self.behind < LIVE_LAG_BYTES else None
        for a, b, t in self._progress.spans(start_offset, lines, live):
            span = ranks[a:b]
            rank_lines = [r for r in span if r != LAUNCHER] if LAUNCHER in span else span
            self.board.lines_seen(rank_lines, t)  # t None: counted, but no age known
            if t is not None:
                self.activity.add(rank_lines, t)
        self._errors(first, ranks, texts)
        joins = self.collapser.feed(first, ranks, texts)
        shown = self._shown(ranks, texts)
        views = self.views
        views[(False, False)].extend([True] * len(lines))
        views[(True, False)].extend(joins)
        views[(False, True)].extend(shown)
        views[(True, True)].extend([a and b for a, b in zip(joins, shown, strict=True)])
        end = first + len(lines)
        if self.search is not None and self._search_to == first:
            self.search.feed(first, ranks, texts)
            self._search_to = end
        if self.filter is not None and self._filter_to == first:
            self._filter_rows.extend(self.filter.matches(texts))
            self._filter_to = end
        return True

    def _labels(self, lines: list[bytes]) -> tuple[list[int], list[bytes]]:
        block = b"\n".join(lines) + b"\n"
        # ANY too: the attributor guesses the block's one format, and answers None
        # (every line on its own below) for a block it cannot read whole
        fast = self._attributor.batch(block)
        if fast is not None and len(fast[0]) == len(lines):
            ranks, texts, _ = fast
            return ranks, [t.removesuffix(b"\n") for t in texts]
        fmt = self.fmt
        pairs = [split_label(fmt, line) for line in lines]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def _shown(self, ranks: list[int], texts: list[bytes]) -> list[bool]:
        noise = self.noise
        if not noise.active or noise.shows_all(texts):
            return [True] * len(texts)
        before = sum(noise.hidden.values())
        mask = noise.shown([(r, "stdout", decoded(t)) for r, t in zip(ranks, texts, strict=True)])
        self.hidden += sum(noise.hidden.values()) - before
        return mask

    def _errors(self, first: int, ranks: list[int], texts: list[bytes]) -> None:
        joined = b"\n".join(texts)
        if not any(word in joined for word in error_words(joined)):
            return
        search = ERROR_LINE.search
        for i, text in enumerate(texts):
            if ranks[i] != LAUNCHER and search(text):
                self.errors.append(first + i)
                self.board.first_error(ranks[i], first + i, decoded(text)[:300])

    # -- what the views ask -----------------------------------------------------------
    def rows(self) -> RowSet:
        """The merged pane's rows for the current switches (or the filter's)."""
        if self.filter is not None:
            return self._filter_rows
        return self.views[(self.flow.collapse, self.flow.noise)]

    def merged_line(self, row: int) -> PaneLine:
        rows = self.rows()
        line = rows.line_of(row)
        rank, text = split_label(self.fmt, self.combined.line(line))
        group = self.collapser.group(line) if self.flow.collapse else None
        hit = self.search is not None and self.search.is_hit(line)
        return PaneLine(
            rank=rank,
            text=decoded(text),
            group=group.label() if group is not None and group.count > 1 else "",
            members=group.count if group is not None else 1,
            line=line,
            hit=hit,
            error=_is_error(self.errors, line),
        )

    def members(self, line: int) -> list[PaneLine]:
        """The lines a collapsed row stands for (rank, its own line), to expand in place."""
        out = []
        for rank, member in self.collapser.members(line):
            _, text = split_label(self.fmt, self.combined.line(member))
            out.append(PaneLine(rank=rank, text=decoded(text), line=member))
        return out

    def open_rank(self, rank: int) -> LineIndex:
        index = self.rank_panes.get(rank)
        if index is None:
            name = "launcher.log" if rank == LAUNCHER else f"rank-{rank}.log"
            index = self.rank_panes[rank] = LineIndex(self.directory / "ranks" / name)
            index.update(max_bytes=64 << 20)
        return index

    def close_rank(self, rank: int) -> None:
        index = self.rank_panes.pop(rank, None)
        if index is not None:
            index.close()

    def rank_line(self, rank: int, i: int) -> PaneLine:
        index = self.rank_panes[rank]
        return PaneLine(rank=rank, text=decoded(index.line(i)), line=i)

    def rank_line_at(self, rank: int, merged_line: int) -> int:
        """Which line of ``rank``'s own log is its line at ``merged_line`` (or before)."""
        return self.ranks_of[:merged_line].count(rank)

    def merged_line_at(self, t: float) -> int:
        offset = self._progress.offset_at(t)
        if offset is None:
            return 0
        return self.combined.line_at_offset(offset)

    def set_search(self, spec: SearchSpec | None) -> None:
        """A new search starts over from the first line (``catch_up`` feeds it)."""
        with self.lock:
            self.search = Search(spec) if spec is not None else None
            self._search_to = 0
            self.generation += 1

    def set_filter(self, spec: SearchSpec | None) -> None:
        with self.lock:
            self.filter = Search(spec) if spec is not None else None
            self._filter_rows = RowSet()
            self._filter_to = 0
            self.generation += 1

    def catch_up(self, budget_s: float = 0.1) -> bool:
        """Feed a new search or filter the lines read before it started."""
        pending = [
            (s, attr) for s, attr in ((self.search, "_search_to"), (self.filter, "_filter_to"))
            if s is not None and getattr(self, attr) < len(self.ranks_of)
        ]  # fmt: skip
        if not pending:
            return False
        deadline = time.monotonic() + budget_s
        for search, attr in pending:
            while time.monotonic() < deadline:
                with self.lock:
                    done = getattr(self, attr)
                    end = min(len(self.ranks_of), done + 4096)
                    if done >= end:
                        break
                    texts = [
                        split_label(self.fmt, raw)[1] for raw in self.combined.lines(done, end)
                    ]
                    ranks = self.ranks_of[done:end].tolist()
                    if search is self.filter:
                        self._filter_rows.extend(search.matches(texts))
                    else:
                        search.feed(done, ranks, texts)
                    setattr(self, attr, end)
                    self.generation += 1
        return True

    def now(self) -> float:
        """The time ages are measured at: now while the run runs, its end after."""
        info = self.info
        if info is not None and info.status is not RunStatus.RUNNING and info.end:
            return min(self.clock(), info.end)
        return self.clock()

    @property
    def catching_up(self) -> bool:
        """A search or filter still reads the lines from before it began."""
        return any(
            s is not None and pos < len(self.ranks_of)
            for s, pos in ((self.search, self._search_to), (self.filter, self._filter_to))
        )

    @property
    def running(self) -> bool:
        return self.info is not None and self.info.status is RunStatus.RUNNING

    def close(self) -> None:
        self.combined.close()
        for index in self.rank_panes.values():
            index.close()


def _is_error(errors: array[int], line: int) -> bool:
    from bisect import bisect_left

    i = bisect_left(errors, line)
    return i < len(errors) and errors[i] == line
