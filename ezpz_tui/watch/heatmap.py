"""Lines per rank over time, for the console's activity heatmap, in bounded memory.

``Activity`` counts lines per (rank, time bucket). Buckets start ``bucket_s`` wide;
when a line arrives past ``max_buckets`` buckets, neighbouring pairs are merged and
the width doubles, so a run of any length keeps at most ``max_buckets`` columns and
every line stays counted. Each bucket is one ``array('I')`` indexed by rank (4 bytes
per rank that printed in it, nothing for an empty bucket): 20,000 ranks over 240 full
buckets take about 19 MB. A dict per bucket would take ten times that.

``grid`` resamples the buckets to the screen: one row per rank when the ranks fit,
else one per host (when a host mapping is given and the hosts fit), else one per
block of consecutive ranks; one column per bucket, or per run of buckets when there
are more buckets than columns. A cell's value is lines per second per rank of its
row (so a host row of 12 ranks and a block of 400 compare fairly), and its level
0..8 is a log scale against the grid's brightest cell: 8 within a factor 2 of it, 7
within 4, ..., 1 for anything dimmer; 0 only for no lines at all. ``Grid.cell`` maps a
cell back to its ranks and time span, so the UI can jump there.
"""

from __future__ import annotations

import math
import operator
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ezpz_tui.report import duration_text

LEVELS = 8
BUCKET_S = 1.0
MAX_BUCKETS = 240

Grouping = Literal["rank", "host", "block"]


def level_of(rate: float, max_rate: float) -> int:
    """The level 0..8 of ``rate`` against the grid's ``max_rate`` (module docstring)."""
    if rate <= 0 or max_rate <= 0:
        return 0
    return max(1, min(LEVELS, LEVELS + math.ceil(math.log2(rate / max_rate))))


@dataclass(frozen=True)
class CellRef:
    """Where a heatmap cell points: its ranks, its time span ``[t0, t1)``, its lines."""

    ranks: range | list[int]
    t0: float
    t1: float
    lines: int


@dataclass(frozen=True)
class Grid:
    """A heatmap ready to draw: ``levels[row][col]`` in 0..8 (bytes per row).

    ``row_ranks[row]`` are the ranks a row sums, ``spans[col]`` the ``(t0, t1)`` a
    column covers, ``counts[row][col]`` its lines, ``max_rate`` the brightest cell in
    lines/s per rank, ``grouping`` what a row is (``rank``, ``host`` or ``block``).
    """

    labels: tuple[str, ...]
    row_ranks: tuple[tuple[range, ...], ...]
    spans: tuple[tuple[float, float], ...]
    counts: tuple[tuple[int, ...], ...]
    levels: tuple[bytes, ...]
    max_rate: float
    grouping: Grouping

    @property
    def rows(self) -> int:
        return len(self.labels)

    @property
    def cols(self) -> int:
        return len(self.spans)

    def label(self, row: int) -> str:
        """``rank 3``, a host name, or ``ranks 0-63``."""
        return self.labels[row]

    def level(self, row: int, col: int) -> int:
        return self.levels[row][col]

    def span_text(self) -> str:
        """The time the grid covers, for its caption: ``4m00s · 2s a column``."""
        if not self.spans:
            return ""
        total = self.spans[-1][1] - self.spans[0][0]
        return f"{duration_text(total)} · {duration_text(total / self.cols)} a column"

    def cell(self, row: int, col: int) -> CellRef:
        """The ranks and time span of a cell (``IndexError`` outside the grid)."""
        if not (0 <= row < self.rows and 0 <= col < self.cols):
            raise IndexError(f"cell ({row}, {col}) outside a {self.rows}x{self.cols} grid")
        runs = self.row_ranks[row]
        ranks: range | list[int] = runs[0] if len(runs) == 1 else [r for run in runs for r in run]
        t0, t1 = self.spans[col]
        return CellRef(ranks=ranks, t0=t0, t1=t1, lines=self.counts[row][col])


_EMPTY = array("I")


class Activity:
    """Time-bucketed line counts per rank (module docstring).

    ``add`` is called once per batch of lines with the batch's arrival time. Lines
    older than the first batch count in the first bucket; negative ranks (the
    launcher lane) are not counted.
    """

    def __init__(self, bucket_s: float = BUCKET_S, max_buckets: int = MAX_BUCKETS) -> None:
        if bucket_s <= 0:
            raise ValueError(f"bucket_s must be > 0, not {bucket_s}")
        if max_buckets < 2:
            raise ValueError(f"max_buckets must be >= 2, not {max_buckets}")
        self.bucket_s = bucket_s
        self.max_buckets = max_buckets
        self._width = bucket_s
        self._origin: float | None = None
        self._cols: list[array[int]] = []
        self._versions: list[int] = []
        self._generation = 0
        self._ranks = 0
        self._total = 0
        # grid() sums per bucket and row, kept for buckets that did not change since
        self._sums_key: tuple[object, ...] | None = None
        self._sums: list[tuple[int, list[int]] | None] = []

    # --- feeding -------------------------------------------------------------------

    def add(self, ranks: Iterable[int], t: float) -> None:
        """Count a batch of lines (one entry of ``ranks`` per line) at time ``t``."""
        self._add(Counter(ranks), t)

    def add_counts(self, counts: Counter[int], t: float) -> None:
        """Add ``counts[rank]`` at time ``t``: lines, or any other amount per rank
        (the resource heatmap adds CPU and GPU percent per sample)."""
        self._add(Counter({rank: n for rank, n in counts.items() if n > 0}), t)

    def _add(self, counts: Counter[int], t: float) -> None:
        for rank in [r for r in counts if r < 0]:
            del counts[rank]
        if not counts:
            return
        if self._origin is None:
            self._origin = math.floor(t / self.bucket_s) * self.bucket_s
        index = self._index(t)
        while index >= self.max_buckets:
            self._coarsen()
            index = self._index(t)
        while len(self._cols) <= index:
            self._cols.append(_EMPTY)
            self._versions.append(0)
        top = max(counts) + 1
        col = self._cols[index]
        if col is _EMPTY:
            col = self._cols[index] = array("I", bytes(4 * top))
        elif len(col) < top:
            col.extend(array("I", bytes(4 * (top - len(col)))))
        for rank, count in counts.items():
            col[rank] += count
        self._versions[index] += 1
        self._ranks = max(self._ranks, top)
        self._total += counts.total()

    def _index(self, t: float) -> int:
        assert self._origin is not None
        return max(0, int((t - self._origin) // self._width))

    def _coarsen(self) -> None:
        """Merge neighbouring buckets pairwise; the width doubles, no line is lost.
        Pairs merge in place, old buckets dropped as they go: memory never doubles."""
        cols = self._cols
        merged: list[array[int]] = []
        for i in range(0, len(cols), 2):
            right = cols[i + 1] if i + 1 < len(cols) else _EMPTY
            merged.append(_merge(cols[i], right))
            cols[i] = cols[i + 1 if i + 1 < len(cols) else i] = _EMPTY
        self._cols = merged
        self._versions = [0] * len(merged)
        self._width *= 2
        self._generation += 1

    # --- reading -------------------------------------------------------------------

    @property
    def origin(self) -> float | None:
        """Start of bucket 0 (the first batch's time, floored to ``bucket_s``)."""
        return self._origin

    @property
    def width(self) -> float:
        """The current bucket width in seconds (``bucket_s`` times a power of 2)."""
        return self._width

    @property
    def buckets(self) -> int:
        """Buckets in use, up to the last one with a line."""
        return len(self._cols)

    @property
    def ranks(self) -> int:
        """Highest rank seen + 1."""
        return self._ranks

    @property
    def total(self) -> int:
        """Lines counted since the start."""
        return self._total

    @property
    def nbytes(self) -> int:
        """Bytes held by the counts (the bound that ``max_buckets`` keeps)."""
        return sum(col.itemsize * len(col) for col in self._cols)

    def bucket_span(self, index: int) -> tuple[float, float]:
        """``(t0, t1)`` of bucket ``index``."""
        origin = self._origin if self._origin is not None else 0.0
        return origin + index * self._width, origin + (index + 1) * self._width

    def count(self, rank: int, index: int | None = None) -> int:
        """Lines of ``rank`` in bucket ``index``, or in all buckets."""
        cols = self._cols if index is None else [self._cols[index]]
        return sum(col[rank] for col in cols if rank < len(col))

    def grid(
        self,
        rows: int,
        cols: int,
        hosts_of: Callable[[int], str | None] | None = None,
        ranks_count: int | None = None,
        now: float | None = None,
    ) -> Grid:
        """The heatmap for ``rows`` x ``cols`` cells (module docstring) over ranks
        ``0..ranks_count-1`` (default: every rank seen). ``now``, when given, ends the
        last bucket early for its rate, so a bucket still filling is not drawn dim."""
        n = self._ranks if ranks_count is None else max(0, ranks_count)
        grouping, labels, groups = _groups(rows, n, hosts_of)
        nb = len(self._cols)
        ncols = min(max(0, cols), nb) if groups else 0
        sums = self._bucket_sums(groups)
        spans: list[tuple[float, float]] = []
        per_col: list[list[int]] = []
        for j in range(ncols):
            lo, hi = j * nb // ncols, (j + 1) * nb // ncols
            spans.append((self.bucket_span(lo)[0], self.bucket_span(hi - 1)[1]))
            per_col.append([sum(sums[i][g] for i in range(lo, hi)) for g in range(len(groups))])
        sizes = [sum(len(run) for run in runs) for runs in groups]
        durations = [t1 - t0 for t0, t1 in spans]
        if now is not None and spans and spans[-1][0] < now < spans[-1][1]:
            durations[-1] = now - spans[-1][0]
        counts = tuple(tuple(per_col[j][g] for j in range(ncols)) for g in range(len(groups)))
        rates = [
            [counts[g][j] / (sizes[g] * durations[j]) for j in range(ncols)]
            for g in range(len(groups))
        ]
        max_rate = max((max(row) for row in rates if row), default=0.0)
        levels = tuple(bytes(level_of(rate, max_rate) for rate in row) for row in rates)
        return Grid(
            labels=tuple(labels),
            row_ranks=tuple(groups),
            spans=tuple(spans),
            counts=counts,
            levels=levels,
            max_rate=max_rate,
            grouping=grouping,
        )

    def _bucket_sums(self, groups: Sequence[tuple[range, ...]]) -> list[list[int]]:
        """Per bucket, the lines of each group; buckets unchanged since the last grid
        with the same groups are not summed again (only the filling one usually is)."""
        key = (
            self._generation,
            tuple((r.start, r.stop) for runs in groups for r in runs),
            tuple(len(runs) for runs in groups),
        )
        if key != self._sums_key:
            self._sums_key = key
            self._sums = []
        cache = self._sums
        while len(cache) < len(self._cols):
            cache.append(None)
        out = []
        for i, col in enumerate(self._cols):
            cached = cache[i]
            if cached is None or cached[0] != self._versions[i]:
                sums = [sum(sum(col[run.start : run.stop]) for run in runs) for runs in groups]
                cached = cache[i] = (self._versions[i], sums)
            out.append(cached[1])
        return out


def _merge(a: array[int], b: array[int]) -> array[int]:
    """Element-wise sum of two rank-indexed counts of any lengths, into the longer
    one (never ``_EMPTY``, which is shared)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return a
    a[: len(b)] = array("I", map(operator.add, a[: len(b)], b))
    return a


def _groups(
    rows: int, n: int, hosts_of: Callable[[int], str | None] | None
) -> tuple[Grouping, list[str], list[tuple[range, ...]]]:
    """Rows of the grid: (grouping, labels, ranks of each row as runs of ranks)."""
    if rows <= 0 or n <= 0:
        return "rank", [], []
    if n <= rows:
        return "rank", [f"rank {r}" for r in range(n)], [(range(r, r + 1),) for r in range(n)]
    if hosts_of is not None:
        runs: dict[str | None, list[range]] = {}
        for r in range(n):
            host = hosts_of(r)
            mine = runs.setdefault(host, [])
            if mine and mine[-1].stop == r:
                mine[-1] = range(mine[-1].start, r + 1)
            else:
                mine.append(range(r, r + 1))
        if len(runs) <= rows:
            labels = [host if host is not None else "(no host)" for host in runs]
            return "host", labels, [tuple(v) for v in runs.values()]
    size = -(-n // rows)
    blocks = [range(lo, min(n, lo + size)) for lo in range(0, n, size)]
    labels = [f"ranks {b.start}-{b.stop - 1}" if len(b) > 1 else f"rank {b.start}" for b in blocks]
    return "block", labels, [(b,) for b in blocks]
