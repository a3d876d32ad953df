"""Per-rank resource samples: reading ``<run_dir>/stats/rank-<N>.jsonl``.

The per-rank wrapper appends one JSON object per line to its rank's file, one
sample every ~2 s::

    {"t": 1764150000.12, "rank": 0, "host": "x1000c0s0b0n0", "pid": 1234,
     "cpu": 98.5, "rss": 123456789, "threads": 12, "procs": 3}

with, where a GPU is seen, ``gpu`` (util %), ``gpu_mem`` (bytes), ``gpu_src`` and
``gpu_dev``. ``cpu`` is % of one core (a rank using four cores shows 400).

The console follows these files while the run is written, often over a shared
filesystem, so ``StatsTail`` reads only bytes it has not read, stats a file before
opening it (an unchanged file costs one ``stat``), takes only whole lines (a line
still being written waits for its newline), counts and skips corrupt lines, picks up
files that appear later (a rank starting late), and reads a file again from its
start when it is truncated or replaced (a rank restarted). Stdlib only: the core
must not pull in the console.

Also here, as pure functions over samples: per-host sums (``by_host``), a
table's cells (``usage_text``) and whether a rank stopped reporting (``stale``).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ezpz_core.tail import LineTail

STATS_DIR = "stats"
SAMPLE_S = 2.0  # the wrapper's sampling period
RESCAN_S = 2.0  # how often the stats directory is listed for new files, at most
HISTORY_LEN = 1800  # samples kept per rank: an hour at one sample per 2 s
STALE_PERIODS = 3  # a rank silent for this many periods is gone or hung

_RANK_FILE = re.compile(r"rank-(\d+)\.jsonl")
_UNITS = ("B", "K", "M", "G", "T", "P")

HistoryPoint = tuple[float, float | None, float | None]  # (t, cpu, gpu)


@dataclass(frozen=True)
class Usage:
    """One rank's resource use at time ``t`` (epoch seconds)."""

    t: float
    rank: int
    host: str = ""
    cpu: float | None = None  # % of one core
    rss: int | None = None  # bytes
    threads: int | None = None
    procs: int | None = None
    gpu: float | None = None  # %
    gpu_mem: int | None = None  # bytes
    source: str = "wrapper"  # "wrapper" (stats file) or "local" (psutil, this host)


# -- one line ---------------------------------------------------------------------


def _real(value: Any) -> float | None:
    """A finite, non-negative number (bools and NaN are not measurements)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and value >= 0 else None


def _count(value: Any) -> int | None:
    """A non-negative whole number; a float that is whole (``1.2e9``) is taken."""
    number = _real(value)
    if number is None or number != int(number):
        return None
    return int(number)


def parse_sample(line: bytes) -> Usage | None:
    """One stats line as a ``Usage``; None for anything not a valid sample.

    A sample needs a finite ``t`` and a whole non-negative ``rank``. Optional fields
    of the wrong type (or negative, or NaN) are dropped rather than the sample: a
    wrapper on a machine whose GPU tool prints nonsense still shows its CPU."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    t, rank = data.get("t"), data.get("rank")
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
        return None
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
        return None
    host = data.get("host")
    return Usage(
        t=float(t),
        rank=rank,
        host=host if isinstance(host, str) else "",
        cpu=_real(data.get("cpu")),
        rss=_count(data.get("rss")),
        threads=_count(data.get("threads")),
        procs=_count(data.get("procs")),
        gpu=_real(data.get("gpu")),
        gpu_mem=_count(data.get("gpu_mem")),
    )


# -- following the files ------------------------------------------------------------


@dataclass
class _Followed:
    """One stats file and where it has been read to."""

    tail: LineTail
    rank: int  # from the file name: the order files are read in


class StatsTail:
    """Follows every ``stats/rank-*.jsonl`` of a run dir; reads only new bytes.

    ``poll`` returns the samples appended since the last poll, file by file in rank
    order, each file's in file order. ``latest`` holds the last sample read per rank
    (the file order, not the largest ``t``: a clock stepped back must not freeze a
    rank). ``history`` keeps, per rank, a bounded ``deque`` of ``(t, cpu, gpu)`` for
    the activity heatmap, ``maxlen=history_len`` (1800: an hour at one sample per
    2 s; about 250 kB a rank when full, so lower it for runs of many thousands of
    ranks). ``corrupt`` counts whole lines that were not samples.

    ``max_bytes`` bounds what one poll reads over all files together; the file read
    first turns round from poll to poll, so a busy file cannot starve the others. A
    line longer than ``max_bytes`` is skipped (and counted corrupt). The directory is
    listed for new files at most every ``RESCAN_S`` seconds (``now`` is monotonic
    seconds; pass it in tests)."""

    def __init__(
        self, run_dir: Path, max_bytes: int = 8 << 20, history_len: int = HISTORY_LEN
    ) -> None:
        self.run_dir = Path(run_dir)
        self.stats_dir = self.run_dir / STATS_DIR
        self.max_bytes = max(1, max_bytes)
        self.history_len = history_len
        self.latest: dict[int, Usage] = {}
        self.history: dict[int, deque[HistoryPoint]] = {}
        self.corrupt = 0
        self.restarts = 0  # files seen truncated or replaced
        self._files: dict[str, _Followed] = {}
        self._order: list[_Followed] = []
        self._turn = 0  # which file reads first this poll
        self._scanned: float | None = None

    @property
    def seen(self) -> bool:
        """A stats file has been found (the run has wrapper stats); it stays true
        if the files go away later."""
        return bool(self._files)

    def poll(self, now: float | None = None) -> list[Usage]:
        """The samples of the whole lines appended since the last call."""
        now = time.monotonic() if now is None else now
        if self._scanned is None or now - self._scanned >= RESCAN_S:
            self._scanned = now
            self._scan()
        samples: list[Usage] = []
        budget = self.max_bytes
        count = len(self._order)
        for i in range(count):
            if budget <= 0:
                break
            followed = self._order[(self._turn + i) % count]
            budget -= self._read(followed, budget, samples)
        if count:
            self._turn = (self._turn + 1) % count
        for sample in samples:
            self._remember(sample)
        return samples

    def _scan(self) -> None:
        try:
            entries = list(os.scandir(self.stats_dir))
        except OSError:
            return
        added = False
        for entry in entries:
            match = _RANK_FILE.fullmatch(entry.name)
            if match is None or entry.name in self._files:
                continue
            tail = LineTail(entry.path, self.max_bytes, max_line=self.max_bytes)
            followed = _Followed(tail, int(match.group(1)))
            self._files[entry.name] = followed
            added = True
        if added:
            self._order = sorted(self._files.values(), key=lambda f: f.rank)

    def _read(self, followed: _Followed, budget: int, out: list[Usage]) -> int:
        """Append ``followed``'s new samples to ``out``; the bytes read."""
        tail = followed.tail
        if tail.unchanged():
            return 0  # the usual case: nothing new, one stat
        offset, restarts, overlong = tail.offset, tail.restarts, tail.overlong
        lines = tail.read(budget)
        self.restarts += tail.restarts - restarts
        self.corrupt += tail.overlong - overlong  # no sample is that long: skipped
        for line in lines:
            if not line.strip():
                continue
            sample = parse_sample(line)
            if sample is None:
                self.corrupt += 1
            else:
                out.append(sample)
        return tail.offset - offset if tail.restarts == restarts else tail.offset

    def _remember(self, sample: Usage) -> None:
        self.latest[sample.rank] = sample
        if not self.history_len:  # the reader keeps no history of its own
            return
        points = self.history.get(sample.rank)
        if points is None:
            points = self.history[sample.rank] = deque(maxlen=self.history_len)
        points.append((sample.t, sample.cpu, sample.gpu))


# -- hosts, cells, staleness ---------------------------------------------------------


@dataclass(frozen=True)
class HostUsage:
    """The ranks of one host, summed."""

    host: str
    ranks: int
    cpu: float | None  # sum over the host's ranks (% of one core)
    rss: int | None  # sum
    gpu: float | None  # mean over ranks that report one
    gpu_mem: int | None  # sum
    newest: float  # newest sample time


def _sum_or_none(values: list[float]) -> float | None:
    return sum(values) if values else None


def by_host(
    latest: Mapping[int, Usage], host_of: Callable[[int], str | None] | None = None
) -> list[HostUsage]:
    """The latest samples grouped by host, sorted by host name.

    A sample's own host wins, else ``host_of(rank)`` (the run's placement), else
    ``"?"``. Sums and the mean skip ranks that do not report the quantity; a
    quantity no rank on the host reports is None (not 0: unknown is not idle)."""
    groups: dict[str, list[Usage]] = {}
    for rank, usage in latest.items():
        host = usage.host or (host_of(rank) if host_of is not None else None) or "?"
        groups.setdefault(host, []).append(usage)
    hosts = []
    for host in sorted(groups):
        group = groups[host]
        gpus = [u.gpu for u in group if u.gpu is not None]
        rss = [u.rss for u in group if u.rss is not None]
        mem = [u.gpu_mem for u in group if u.gpu_mem is not None]
        hosts.append(
            HostUsage(
                host=host,
                ranks=len(group),
                cpu=_sum_or_none([u.cpu for u in group if u.cpu is not None]),
                rss=sum(rss) if rss else None,
                gpu=sum(gpus) / len(gpus) if gpus else None,
                gpu_mem=sum(mem) if mem else None,
                newest=max(u.t for u in group),
            )
        )
    return hosts


def bytes_text(size: int) -> str:
    """``size`` in a few characters, powers of 1024: ``512B``, ``9.5M``, ``1.2G``, ``40G``."""
    value = float(size)
    unit = 0
    while value >= 1000 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    if unit == 0:
        return f"{size}B"
    return f"{value:.1f}{_UNITS[unit]}" if value < 9.95 else f"{value:.0f}{_UNITS[unit]}"


def percent_text(value: float) -> str:
    return f"{value:.0f}%"


def usage_text(u: Usage | None) -> tuple[str, str, str]:
    """A rank's ``(cpu, rss, gpu)`` cells for a table: ``("98%", "1.2G", "87% 40G")``;
    ``"-"`` for what is not known (the GPU cell shows whichever of util and memory is)."""
    if u is None:
        return "-", "-", "-"
    cpu = percent_text(u.cpu) if u.cpu is not None else "-"
    rss = bytes_text(u.rss) if u.rss is not None else "-"
    gpu_parts = []
    if u.gpu is not None:
        gpu_parts.append(percent_text(u.gpu))
    if u.gpu_mem is not None:
        gpu_parts.append(bytes_text(u.gpu_mem))
    return cpu, rss, " ".join(gpu_parts) or "-"


def stale(u: Usage, now: float, every: float = SAMPLE_S) -> bool:
    """The rank has not reported for more than ``STALE_PERIODS`` sample periods
    (gone or hung); ``now`` is epoch seconds, like the sample's ``t``."""
    return now - u.t > STALE_PERIODS * every
