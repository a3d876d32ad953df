"""Per-rank state of a run for the console's rank table and job bar, for 20,000+ ranks.

The board keeps one slot per rank in flat arrays (line count, first and last time a
line was seen, exit code) instead of one object per rank, so 20,000 ranks cost a few
hundred kilobytes and a refresh touches only numbers. ``RankRow`` objects are built
only for the rows the table shows (``RankView.rows(start, stop)``).

Rules (the constants below are the knobs):

* **silent**: only while the run is running, for a rank that has printed and has not
  exited. Its current silence ``now - last line`` must exceed both
  ``max(MIN_SILENT_S, SILENT_GAP_FACTOR x typical gap)``, where the typical gap is the
  median, over the running ranks with two lines or more, of each rank's mean gap
  between lines (``(last - first) / (lines - 1)``, which the current silence does not
  stretch), and ``SILENT_PEER_FACTOR x`` the median current silence of its running
  peers (the other running ranks that have printed). The second condition keeps a
  quiet phase of the whole job (an evaluation, a checkpoint) from flagging everyone:
  a rank is silent only when it is much quieter than the others are right now. A rank
  with no running peers (a one-rank job) is never silent: there is nothing to compare.
* **never printed**: a rank in ``0..expected-1`` that has not exited and has no line
  yet, once ``NEVER_PRINTED_S`` have passed since the run started while at least one
  other rank has printed. Before that it is *waiting*. Once the run is over, every
  such rank is never-printed whatever the time. The run's start is ``start`` (the
  ``started`` event), else the first line seen.
* **lagging**: while running, a running rank with at least one line but fewer than
  ``LAGGING_FRACTION`` of the median line count of the running ranks that printed,
  once that median is at least ``LAGGING_MIN_LINES``.
* exited ranks are never silent, never-printed nor lagging; the launcher lane (rank -1)
  and other negative ranks are not ranks and are ignored. Lines of unknown time
  (``lines_seen(ranks, None)``) count, but a rank with no timed line has no age and
  is never silent.

A rank has one status, the first that applies in this order, which is also the order
of the ``status`` sort (worst first): failed (exit code > 0: often the root cause),
killed (by a signal: often the launcher tearing the job down), never printed, silent,
lagging, waiting, running, ended (the run is over and no exit of this rank was
recorded, as in label mode), exited (code 0).
"""

from __future__ import annotations

import math
import re
import signal
import statistics
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

# Under 10 s of quiet is a slow step, not a stuck rank, however chatty the job.
MIN_SILENT_S = 10.0
# Ten typical lines' worth of time without one: a rank printing every 3 s is silent
# after 30 s, one logging every 30 s after 5 minutes.
SILENT_GAP_FACTOR = 10.0
# Three times quieter than its peers are now; must be >= 2 (_silent_ranks relies on it).
SILENT_PEER_FACTOR = 3.0
# Imports and NCCL set-up on thousands of nodes take tens of seconds before a line.
NEVER_PRINTED_S = 60.0
# Line counts mean little before each rank has printed a screenful.
LAGGING_MIN_LINES = 20
LAGGING_FRACTION = 0.5

SortKey = Literal["rank", "silence", "lines", "status", "cpu", "gpu"]
HostMapping = Callable[[int], str | None] | Mapping[int, str | None] | Sequence[str | None]
SORT_KEYS: tuple[SortKey, ...] = ("rank", "silence", "lines", "status")
# by the latest resource sample (least first: the starved rank; unknown last)
USAGE_SORT_KEYS: tuple[SortKey, ...] = ("cpu", "gpu")


class RankState(StrEnum):
    """A rank's status; declared in the order of the ``status`` sort (worst first)."""

    FAILED = "failed"
    KILLED = "killed"
    NEVER_PRINTED = "never printed"
    SILENT = "silent"
    LAGGING = "lagging"
    WAITING = "waiting"
    RUNNING = "running"
    ENDED = "ended"
    EXITED = "exited"


_STATES = tuple(RankState)
_FAILED, _KILLED, _NEVER, _SILENT, _LAGGING, _WAITING, _RUNNING, _ENDED, _EXITED = range(9)
_ALIVE = frozenset({_SILENT, _LAGGING, _RUNNING})

# Filter words -> the status codes they match. "running" includes silent and lagging
# ranks (they are running, only quiet or slow); "exited" every rank with an exit code.
STATUS_WORDS: dict[str, frozenset[int]] = {
    "failed": frozenset({_FAILED, _KILLED}),
    "killed": frozenset({_KILLED}),
    "never": frozenset({_NEVER}),
    "never-printed": frozenset({_NEVER}),
    "silent": frozenset({_SILENT}),
    "lagging": frozenset({_LAGGING}),
    "waiting": frozenset({_WAITING}),
    "running": _ALIVE,
    "ended": frozenset({_ENDED}),
    "exited": frozenset({_FAILED, _KILLED, _EXITED}),
    "ok": frozenset({_EXITED}),
}
ERROR_WORDS = frozenset({"error", "errors"})

_NO_TIME = float("nan")  # first/last of a rank whose lines have no known time
_RANK_SPEC = re.compile(r"^\d+(-\d*)?(,\d+(-\d*)?)*,?$")


def host_of_rank(hosts: Sequence[str], ppn: int, rank: int) -> str | None:
    """The host of ``rank`` under block distribution (ranks ``k*ppn .. k*ppn+ppn-1`` on
    host ``k``, as every launcher we build places them); ``None`` when unknown."""
    if ppn <= 0 or rank < 0:
        return None
    index = rank // ppn
    return hosts[index] if index < len(hosts) else None


def exit_text(code: int) -> str:
    """``exit 1`` for a code, ``killed by SIGKILL`` for a negative one (signal -code)."""
    if code >= 0:
        return f"exit {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return f"killed by {name}"


@dataclass(frozen=True)
class RankRow:
    """One row of the rank table. ``age_s`` is the time since the rank's last line
    (``None`` before its first); ``status`` is the text shown, ``state`` its kind."""

    rank: int
    host: str | None
    lines: int
    age_s: float | None
    status: str
    state: RankState
    code: int | None
    first_error: str | None
    first_error_line: int | None
    silent: bool


@dataclass(frozen=True)
class RankSummary:
    """Counts for the job bar. ``running`` counts ranks that printed and are alive
    (silent and lagging ones included); ``failed`` includes ranks killed by a signal."""

    ranks: int
    running: int
    waiting: int
    never_printed: int
    silent: int
    lagging: int
    exited_ok: int
    failed: int
    ended: int


@dataclass(frozen=True)
class _Analysis:
    """What the rules say at one instant; shared by rows() and summary() of one tick."""

    states: bytearray
    silent: frozenset[int]
    never_printed: frozenset[int]
    lagging: frozenset[int]
    start: float | None


class RankBoard:
    """What each rank of one attempt has done: lines, times, exits, first errors.

    Feed it as events arrive (``lines_seen`` per batch of lines, ``exited`` per
    ``rank_exit``); ask it at each refresh (``view``/``rows``, ``summary``). ``now`` is
    always passed in, so the rules are pure functions of the fed events and the clock.
    """

    def __init__(self, start: float | None = None) -> None:
        self._lines = array("Q")
        self._first = array("d")
        self._last = array("d")
        self._code = array("q")
        self._exited = bytearray()
        self._cpu = array("d")  # latest CPU % per rank (inf: no sample)
        self._gpu = array("d")
        self._errors: dict[int, tuple[int, str]] = {}
        self._host_fn: Callable[[int], str | None] | None = None
        self._hosts: list[str | None] = []  # _host_fn of each rank, filled up to size
        self._expected = 0
        self._start = start
        self._first_seen: float | None = None
        self._printed = False
        self._version = 0
        self._cache: tuple[tuple[int, float, bool], _Analysis] | None = None
        self._base_cache: tuple[int, _Base] | None = None

    # --- feeding -------------------------------------------------------------------

    def started(self, t: float) -> None:
        """The run (attempt) started at ``t``: the never-printed grace counts from here."""
        self._start = t
        self._version += 1

    def expected(self, n: int) -> None:
        """The run has ranks ``0..n-1`` (world size): unseen ones show as waiting."""
        self._expected = max(0, n)
        self._grow(self._expected)
        self._version += 1

    def hosts(self, mapping: HostMapping) -> None:
        """Which host each rank runs on: a function of the rank
        (``lambda r: host_of_rank(hosts, ppn, r)``), ``{rank: host}`` or a list
        indexed by rank. Asked once per rank, as ranks appear."""
        if callable(mapping):
            self._host_fn = mapping
        elif isinstance(mapping, Mapping):
            self._host_fn = mapping.get
        else:
            names = list(mapping)
            self._host_fn = lambda rank: names[rank] if rank < len(names) else None
        self._hosts = []
        self._version += 1

    def _host_names(self) -> list[str | None]:
        """The host of every rank on the board, extended as the board grows."""
        fn, hosts = self._host_fn, self._hosts
        if fn is not None and len(hosts) < self.size:
            hosts.extend(fn(r) for r in range(len(hosts), self.size))
        return hosts

    def lines_seen(self, ranks: Iterable[int], t: float | None) -> None:
        """A batch of lines arrived at ``t``, one entry of ``ranks`` per line.

        ``t=None``: lines whose time is not known (a finished run read without a
        progress map): they are counted, and a rank with no timed line has no age
        and is never judged silent."""
        counts = Counter(ranks)
        counts.pop(-1, None)
        if not counts:
            return
        top = max(counts)
        if top >= len(self._lines):
            self._grow(top + 1)
        lines, first, last = self._lines, self._first, self._last
        for rank, count in counts.items():
            if rank < 0:
                continue
            if t is None:
                if not lines[rank]:
                    first[rank] = last[rank] = _NO_TIME
            elif lines[rank] and last[rank] == last[rank]:  # timed before (NaN != NaN)
                first[rank] = min(first[rank], t)
                last[rank] = max(last[rank], t)
            else:
                first[rank] = last[rank] = t
            lines[rank] += count
        if t is not None and (self._first_seen is None or t < self._first_seen):
            self._first_seen = t
        self._printed = True
        self._version += 1

    def exited(self, rank: int, code: int) -> None:
        """Rank ``rank`` exited with ``code`` (negative: killed by signal ``-code``)."""
        if rank < 0:
            return
        self._grow(rank + 1)
        self._exited[rank] = 1
        self._code[rank] = code
        self._version += 1

    def all_exited(self, code: int) -> None:
        """The job ended with ``code`` and no rank said otherwise: launchers exit 0
        only when every rank did, so ranks with no code of their own get ``code``."""
        for rank in range(self.size):
            if not self._exited[rank]:
                self._exited[rank] = 1
                self._code[rank] = code
        self._version += 1

    def first_error(self, rank: int, line_no: int, text: str) -> None:
        """An error line of ``rank``; only the first one per rank is kept."""
        if rank < 0 or rank in self._errors:
            return
        self._grow(rank + 1)
        self._errors[rank] = (line_no, text)
        self._version += 1

    def usage(self, rank: int, cpu: float | None, gpu: float | None) -> None:
        """The rank's latest resource sample (for the cpu and gpu sorts)."""
        if rank < 0:
            return
        self._grow(rank + 1)
        self._cpu[rank] = math.inf if cpu is None else cpu
        self._gpu[rank] = math.inf if gpu is None else gpu
        self._version += 1

    def _grow(self, size: int) -> None:
        extra = size - len(self._lines)
        if extra <= 0:
            return
        self._lines.extend(array("Q", bytes(8 * extra)))
        self._first.extend(array("d", bytes(8 * extra)))
        self._last.extend(array("d", bytes(8 * extra)))
        self._code.extend(array("q", bytes(8 * extra)))
        self._exited.extend(bytes(extra))
        self._cpu.extend(array("d", [math.inf]) * extra)
        self._gpu.extend(array("d", [math.inf]) * extra)

    # --- reading -------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Ranks on the board: the expected ones and any other rank seen."""
        return len(self._lines)

    def host_of(self, rank: int) -> str | None:
        """The host of ``rank`` from ``hosts()``, or ``None``."""
        if not 0 <= rank < self.size:
            return None
        hosts = self._host_names()
        return hosts[rank] if rank < len(hosts) else None

    def host_width(self) -> int:
        """The longest host name (the table's host column), 0 without hosts."""
        return max((len(h) for h in set(self._host_names()) if h), default=0)

    def lines(self, rank: int) -> int:
        """Lines seen from ``rank``."""
        return self._lines[rank] if 0 <= rank < len(self._lines) else 0

    def silent(self, now: float, running: bool) -> set[int]:
        """Ranks silent at ``now`` (module docstring); none once the run is over."""
        return set(self._analyse(now, running).silent)

    def never_printed(self, now: float, running: bool = True) -> set[int]:
        """Expected ranks that have not printed and are past the grace (module docstring)."""
        return set(self._analyse(now, running).never_printed)

    def lagging(self, now: float, running: bool) -> set[int]:
        """Running ranks far behind their peers' line count (module docstring)."""
        return set(self._analyse(now, running).lagging)

    def state(self, rank: int, now: float, running: bool) -> RankState:
        """The status of one rank at ``now``."""
        return _STATES[self._analyse(now, running).states[rank]]

    def summary(self, now: float, running: bool) -> RankSummary:
        """Counts of ranks per status for the job bar."""
        a = self._analyse(now, running)
        per = Counter(a.states)
        return RankSummary(
            ranks=self.size,
            running=sum(per[c] for c in _ALIVE),
            waiting=per[_WAITING],
            never_printed=per[_NEVER],
            silent=len(a.silent),
            lagging=len(set(a.lagging).difference(a.silent)),  # one flag per rank: silent wins
            exited_ok=per[_EXITED],
            failed=per[_FAILED] + per[_KILLED],
            ended=per[_ENDED],
        )

    def view(
        self,
        sort: SortKey = "rank",
        reverse: bool = False,
        filter: str = "",
        now: float = 0.0,
        running: bool = True,
    ) -> RankView:
        """The ranks that pass ``filter``, in ``sort`` order, without building rows.

        Sorts are ascending, ``reverse`` flips them; ties stay in rank order either
        way. ``silence``: time since the last line (since the start for ranks that
        have not printed; exited ranks before every running one, so reversed, the
        longest silent come first and exited ranks last); ``lines``: line count;
        ``status``: the status order of the module docstring (worst first).
        ``filter``: see ``parse_filter``.
        """
        if sort not in SORT_KEYS + USAGE_SORT_KEYS:
            known = ", ".join(SORT_KEYS + USAGE_SORT_KEYS)
            raise ValueError(f"unknown rank sort {sort!r}; use one of {known}")
        a = self._analyse(now, running)
        ranks = self._filtered(parse_filter(filter), a)
        if sort == "rank":
            if reverse:
                ranks.reverse()
        else:
            ranks.sort(key=self._sort_key(sort, a, now).__getitem__, reverse=reverse)
        return RankView(self, ranks, a, now)

    def rows(
        self,
        sort: SortKey = "rank",
        reverse: bool = False,
        filter: str = "",
        now: float = 0.0,
        running: bool = True,
        start: int = 0,
        stop: int | None = None,
    ) -> list[RankRow]:
        """``view(...).rows(start, stop)``: the table rows ``start..stop-1`` only."""
        return self.view(sort, reverse, filter, now, running).rows(start, stop)

    def count(self, filter: str = "", now: float = 0.0, running: bool = True) -> int:
        """How many ranks pass ``filter`` (the table's row count)."""
        if not filter.strip():
            return self.size
        return len(self._filtered(parse_filter(filter), self._analyse(now, running)))

    def row(self, rank: int, now: float, running: bool = True) -> RankRow:
        """The table row of one rank."""
        return self._row(rank, self._analyse(now, running), now)

    # --- internals -----------------------------------------------------------------

    def _sort_key(self, sort: SortKey, a: _Analysis, now: float) -> Sequence[float]:
        """A key per rank (a reversed sort keeps ties in rank order: sort is stable)."""
        n = self.size
        if sort == "lines":
            return self._lines
        if sort in USAGE_SORT_KEYS:
            return self._cpu if sort == "cpu" else self._gpu
        if sort == "status":
            return a.states
        since_start = now - a.start if a.start is not None else 0.0
        lines, last, exited = self._lines, self._last, self._exited
        keys = array(
            "d",
            [
                float("-inf") if exited[r] else (now - last[r] if lines[r] else since_start)
                for r in range(n)
            ],
        )
        if self._untimed():  # lines of unknown time: not known to be silent at all
            for r in range(n):
                if keys[r] != keys[r]:
                    keys[r] = 0.0
        return keys

    def _filtered(self, terms: list[FilterTerm], a: _Analysis) -> list[int]:
        n = self.size
        ranks: list[int] | None = None
        for term in terms:
            if term.kind == "ranks":
                wanted = _spec_ranks(term.ranks, n)
                if ranks is None:
                    ranks = wanted
                else:
                    keep = set(wanted)
                    ranks = [r for r in ranks if r in keep]
            elif term.kind == "status":
                codes, states = term.codes, a.states
                pool = range(n) if ranks is None else ranks
                ranks = [r for r in pool if states[r] in codes]
            elif term.kind == "error":
                errors = self._errors
                pool = range(n) if ranks is None else ranks
                ranks = [r for r in pool if r in errors]
            else:
                needle = term.text.casefold()
                hosts = self._host_names()
                matches = {h for h in set(hosts) if h is not None and needle in h.casefold()}
                pool = range(min(n, len(hosts))) if ranks is None else ranks
                ranks = [r for r in pool if r < len(hosts) and hosts[r] in matches]
        return list(range(n)) if ranks is None else ranks

    def _row(self, rank: int, a: _Analysis, now: float) -> RankRow:
        lines = self._lines[rank]
        state = _STATES[a.states[rank]]
        code = self._code[rank] if self._exited[rank] else None
        error = self._errors.get(rank)
        status = exit_text(code) if code is not None else state.value
        return RankRow(
            rank=rank,
            host=self.host_of(rank),
            lines=lines,
            age_s=now - self._last[rank]
            if lines and self._last[rank] == self._last[rank]
            else None,
            status=status,
            state=state,
            code=code,
            first_error=error[1] if error else None,
            first_error_line=error[0] if error else None,
            silent=rank in a.silent,
        )

    def _untimed(self) -> bool:
        """Whether some rank has lines but no timed one."""
        base = self._base()
        return len(base.by_last) < base.alive  # by_last holds the timed ones

    def _analyse(self, now: float, running: bool) -> _Analysis:
        key = (self._version, now, running)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        analysis = self._compute(now, running)
        self._cache = (key, analysis)
        return analysis

    def _base(self) -> _Base:
        """What the rules need that changes only with the events, not with the clock."""
        if self._base_cache is not None and self._base_cache[0] == self._version:
            return self._base_cache[1]
        n = self.size
        lines, first, last, exited, code = (
            self._lines,
            self._first,
            self._last,
            self._exited,
            self._code,
        )
        alive = [r for r in range(n) if lines[r] and not exited[r]]
        timed = [r for r in alive if last[r] == last[r]]  # NaN: no timed line
        by_last = sorted(timed, key=last.__getitem__)
        gaps = [(last[r] - first[r]) / (lines[r] - 1) for r in timed if lines[r] > 1]
        lagging: frozenset[int] = frozenset()
        if len(alive) > 1:
            median_lines = statistics.median([lines[r] for r in alive])
            if median_lines >= LAGGING_MIN_LINES:
                floor = LAGGING_FRACTION * median_lines
                lagging = frozenset(r for r in alive if lines[r] < floor)
        states = bytearray([_RUNNING]) * n
        for r in range(n):
            if exited[r]:
                c = code[r]
                states[r] = _EXITED if c == 0 else (_FAILED if c > 0 else _KILLED)
            elif not lines[r]:
                states[r] = _WAITING
        base = _Base(
            alive=len(alive),
            by_last=by_last,
            lasts=[last[r] for r in by_last],
            typical_gap=statistics.median(gaps) if gaps else 0.0,
            lagging=lagging,
            unprinted=[r for r in range(min(n, self._expected)) if not lines[r] and not exited[r]],
            states=states,
        )
        self._base_cache = (self._version, base)
        return base

    def _compute(self, now: float, running: bool) -> _Analysis:
        base = self._base()
        start = self._start if self._start is not None else self._first_seen
        silent: frozenset[int] = frozenset()
        lagging: frozenset[int] = frozenset()
        if running:
            lagging = base.lagging
            if len(base.by_last) > 1:
                silent = _silent_ranks(base, now)
        printed = self._printed
        if not running:
            never = frozenset(base.unprinted) if printed else frozenset()
        elif printed and start is not None and now - start > NEVER_PRINTED_S:
            never = frozenset(base.unprinted)
        else:
            never = frozenset()
        states = base.states.copy() if running else base.states.translate(_OVER)
        for r in lagging:
            states[r] = _LAGGING
        for r in silent:
            states[r] = _SILENT
        for r in never:
            states[r] = _NEVER
        return _Analysis(
            states=states, silent=silent, never_printed=never, lagging=lagging, start=start
        )


@dataclass(frozen=True)
class _Base:
    """The clock-free part of the rules, kept until the next event: how many running
    ranks printed, those with a timed line by last line (oldest first) with their
    last times, the typical gap, the lagging ranks, expected ranks with no line, the
    statuses before the clock's."""

    alive: int
    by_last: list[int]
    lasts: list[float]
    typical_gap: float
    lagging: frozenset[int]
    unprinted: list[int]
    states: bytearray


# Once the run is over, running and waiting ranks have ended.
_OVER = bytes(_ENDED if c in (_RUNNING, _WAITING) else c for c in range(256))


def _silent_ranks(base: _Base, now: float) -> frozenset[int]:
    """The silent rule of the module docstring over the running ranks that printed."""
    lasts = base.lasts
    longest = now - lasts[0]
    threshold = max(MIN_SILENT_S, SILENT_GAP_FACTOR * base.typical_gap)
    if longest <= threshold:
        return frozenset()  # the usual case: everyone printed lately
    # A rank's peers are the others: its own silence is left out of their median.
    # Leaving out any silence of the upper half gives the median of the list without
    # its largest; a rank of the lower half is never above 2x that (nor above 2x the
    # median of its own peers), so with SILENT_PEER_FACTOR >= 2 one median serves all.
    # Silences are now - last: the largest is the oldest last, lasts[0].
    m = len(lasts) - 1
    median_last = (lasts[1 + (m - 1) // 2] + lasts[1 + m // 2]) / 2
    peers = max(0.0, now - median_last)
    bar = max(threshold, SILENT_PEER_FACTOR * peers)
    k = bisect_left(lasts, now - bar)  # then exactly: silent while now - last > bar
    while k < len(lasts) and now - lasts[k] > bar:
        k += 1
    while k > 0 and not now - lasts[k - 1] > bar:
        k -= 1
    return frozenset(base.by_last[:k])


# --- the filter ------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterTerm:
    """One word of the filter: ranks (a spec like ``0-3,7``), a status word, ranks
    with an error line, or a host name substring."""

    kind: Literal["ranks", "status", "error", "host"]
    text: str
    ranks: tuple[tuple[int, int | None], ...] = ()
    codes: frozenset[int] = frozenset()


def parse_filter(text: str) -> list[FilterTerm]:
    """The rank table's filter: words separated by spaces, all of which must match.

    A word is a rank spec (``0-3,7``; ``100-`` means 100 and up), a status word
    (``silent``, ``failed``, ``running``, ``exited``, ``killed``, ``never`` or
    ``never printed``, ``lagging``, ``waiting``, ``ended``, ``ok``), ``error`` (ranks
    with an error line), else a host name substring (case-insensitive). ``rank:``,
    ``host:`` and ``status:`` prefixes force a reading (``host:1001`` for a host
    named by digits). A malformed word never raises: it is read as a host substring.
    """
    words = re.sub(r"(?i)\bnever\s+printed\b", "never-printed", text).split()
    terms = []
    for word in words:
        prefix, _, rest = word.partition(":")
        forced = prefix.lower() if rest and prefix.lower() in ("rank", "host", "status") else ""
        body = rest if forced else word
        lowered = body.lower()
        if forced != "host" and forced != "status" and _RANK_SPEC.match(body):
            terms.append(FilterTerm("ranks", body, ranks=_parse_spec(body)))
        elif forced != "host" and forced != "rank" and lowered in STATUS_WORDS:
            terms.append(FilterTerm("status", body, codes=STATUS_WORDS[lowered]))
        elif forced != "host" and forced != "rank" and lowered in ERROR_WORDS:
            terms.append(FilterTerm("error", body))
        else:
            terms.append(FilterTerm("host", body))
    return terms


def _parse_spec(spec: str) -> tuple[tuple[int, int | None], ...]:
    """``"0-3,7,10-"`` -> ((0, 3), (7, 7), (10, None)); a reversed range is put right."""
    parts: list[tuple[int, int | None]] = []
    for part in spec.split(","):
        if not part:
            continue
        lo_text, dash, hi_text = part.partition("-")
        lo = int(lo_text)
        if not dash:
            parts.append((lo, lo))
        elif not hi_text:
            parts.append((lo, None))
        else:
            hi = int(hi_text)
            parts.append((min(lo, hi), max(lo, hi)))
    return tuple(parts)


def _spec_ranks(spec: tuple[tuple[int, int | None], ...], n: int) -> list[int]:
    """The ranks of a parsed spec among ``0..n-1``, ascending, each once."""
    chosen: set[int] = set()
    for lo, hi in spec:
        top = n - 1 if hi is None else min(hi, n - 1)
        chosen.update(range(lo, top + 1))
    return sorted(chosen)


class RankView:
    """The filtered, sorted ranks of one refresh; rows are built on demand, so a
    virtualised table builds only what it shows."""

    def __init__(self, board: RankBoard, ranks: list[int], analysis: _Analysis, now: float) -> None:
        self._board = board
        self.ranks = ranks
        self._analysis = analysis
        self._now = now

    def __len__(self) -> int:
        return len(self.ranks)

    def rows(self, start: int = 0, stop: int | None = None) -> list[RankRow]:
        """Rows ``start..stop-1`` of the view (slice semantics)."""
        board, a, now = self._board, self._analysis, self._now
        return [board._row(r, a, now) for r in self.ranks[start:stop]]

    def index_of(self, rank: int) -> int | None:
        """Where ``rank`` is in the view (to keep the cursor on it across refreshes)."""
        try:
            return self.ranks.index(rank)
        except ValueError:
            return None
