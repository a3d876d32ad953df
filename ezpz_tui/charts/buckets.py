"""Bounded min/max downsampling of one metric that keeps its spikes.

A run logs a loss every step for days; the chart cannot hold (or redraw) millions of
points, and a plain average would hide the one step where the loss exploded. So each
series keeps at most ``capacity`` buckets with the min, max and mean of the points
they hold. When the buckets are full, neighbours merge pairwise and ``per`` doubles:
memory stays bounded, each point costs O(1) amortised, and a spike survives every
merge because ``hi`` is a max of maxes.

Non-finite values (a diverged loss, a throughput divided by a zero time) are counted
but never plotted: they mark their bucket as a ``gap`` so the line breaks there.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from operator import le

CAPACITY = 1024


class Buckets:
    """(x, y) points of one metric, at most ``capacity`` buckets of ``per`` points each.

    Every bucket but the last holds exactly ``per`` points; the last one fills up
    before a new one opens. x is normally non-decreasing (steps); when it goes
    backwards (a job restarted from a checkpoint) points are still appended in
    arrival order, never sorted, so the chart shows both attempts.
    """

    def __init__(self, capacity: int = CAPACITY) -> None:
        if capacity < 2:
            raise ValueError(f"Buckets capacity {capacity} is too small; pass 2 or more")
        self.capacity = capacity
        self.version = 0
        self.clear()
        self.version = 0

    def clear(self) -> None:
        """Forget every point (a new run in the same chart); ``version`` still moves."""
        self.per = 1
        self.x0: list[float] = []
        self.x1: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.mean: list[float] = []
        self.gap: list[bool] = []
        self.count = 0
        self.nonfinite = 0
        # Sum and number of the finite values per bucket: what a merge needs to keep
        # the mean exact (weighted by finite points, not by bucket).
        self._sum: list[float] = []
        self._finite: list[int] = []
        # Points (finite or not) in the last bucket; the others hold ``per``.
        self._fill = 0
        self._sorted_version = -1
        self._sorted = True
        self.version += 1

    def __len__(self) -> int:
        return len(self.x0)

    @property
    def x_span(self) -> tuple[float, float] | None:
        """(first x, last x) or None when empty; with a restart, the last x may be smaller."""
        if not self.x0:
            return None
        return (self.x0[0], self.x1[-1])

    def add(self, x: float, y: float) -> None:
        """Add one point."""
        if self._needs_new_bucket():
            self._start(x, y)
        else:
            self._put(x, y)
        self.version += 1

    def extend(self, xs: Sequence[float], ys: Sequence[float]) -> None:
        """Add many points: the same buckets as :meth:`add` one by one, but fast.

        Whole runs of a bucket are filled by slices with C-level min/max/sum; a
        non-finite sum (a NaN or inf inside, or an overflow) sends that slice
        through the point-by-point path, which is exact by construction.
        """
        n = len(xs)
        if len(ys) != n:
            raise ValueError(f"extend got {n} x values and {len(ys)} y values; pass equal lengths")
        if n == 0:
            return
        i = 0
        while i < n:
            new = self._needs_new_bucket()
            take = min(self.per - (0 if new else self._fill), n - i)
            chunk = ys[i : i + take]
            start = 0.0 if new else self._sum[-1]
            total = sum(chunk, start)
            if not math.isfinite(total):
                for j in range(i, i + take):
                    if j == i and new:
                        self._start(xs[j], ys[j])
                    else:
                        self._put(xs[j], ys[j])
            elif new:
                self.x0.append(xs[i])
                self.x1.append(xs[i + take - 1])
                self.lo.append(min(chunk))
                self.hi.append(max(chunk))
                self._sum.append(total)
                self._finite.append(take)
                self.mean.append(total / take)
                self.gap.append(False)
                self._fill = take
                self.count += take
            else:
                low, high = min(chunk), max(chunk)
                # A bucket with only non-finite values so far has NaN lo/hi.
                self.lo[-1] = low if math.isnan(self.lo[-1]) else min(self.lo[-1], low)
                self.hi[-1] = high if math.isnan(self.hi[-1]) else max(self.hi[-1], high)
                self.x1[-1] = xs[i + take - 1]
                self._sum[-1] = total
                self._finite[-1] += take
                self.mean[-1] = total / self._finite[-1]
                self._fill += take
                self.count += take
            i += take
        self.version += 1

    def window(self, x_lo: float, x_hi: float) -> range:
        """Indexes of the buckets overlapping [x_lo, x_hi] (a superset after a restart).

        Sorted x (the usual case) is answered by bisection; after x went backwards
        the range spans the first to the last overlapping bucket.
        """
        n = len(self.x0)
        if n == 0 or x_hi < x_lo:
            return range(0, 0)
        if self._is_sorted():
            start = bisect_left(self.x1, x_lo)
            stop = bisect_right(self.x0, x_hi)
            return range(start, max(start, stop))
        hits = [
            i
            for i, (a, b) in enumerate(zip(self.x0, self.x1, strict=True))
            if min(a, b) <= x_hi and max(a, b) >= x_lo
        ]
        return range(hits[0], hits[-1] + 1) if hits else range(0, 0)

    # -- internals ---------------------------------------------------------------

    def _is_sorted(self) -> bool:
        """Whether bucket x ranges never go backwards (cached per version)."""
        if self._sorted_version != self.version:
            self._sorted = all(map(le, self.x0, self.x1)) and all(map(le, self.x1, self.x0[1:]))
            self._sorted_version = self.version
        return self._sorted

    def _needs_new_bucket(self) -> bool:
        """Whether the next point opens a bucket; merges first when the list is full."""
        if not self.x0:
            return True
        if self._fill < self.per:
            return False
        if len(self.x0) >= self.capacity:
            self._merge()
            # With an odd capacity the last bucket is left unpaired and half full.
            return self._fill >= self.per
        return True

    def _start(self, x: float, y: float) -> None:
        finite = math.isfinite(y)
        self.x0.append(x)
        self.x1.append(x)
        self.lo.append(y if finite else math.nan)
        self.hi.append(y if finite else math.nan)
        self.mean.append(y if finite else math.nan)
        self.gap.append(not finite)
        self._sum.append(y if finite else 0.0)
        self._finite.append(1 if finite else 0)
        self._fill = 1
        self.count += 1
        if not finite:
            self.nonfinite += 1

    def _put(self, x: float, y: float) -> None:
        self.x1[-1] = x
        self._fill += 1
        self.count += 1
        if not math.isfinite(y):
            self.nonfinite += 1
            self.gap[-1] = True
            return
        if self._finite[-1] == 0:
            self.lo[-1] = y
            self.hi[-1] = y
        else:
            if y < self.lo[-1]:
                self.lo[-1] = y
            if y > self.hi[-1]:
                self.hi[-1] = y
        self._sum[-1] += y
        self._finite[-1] += 1
        self.mean[-1] = self._sum[-1] / self._finite[-1]

    def _merge(self) -> None:
        """Merge adjacent pairs of buckets; ``per`` doubles."""
        n = len(self.x0)
        pairs = n // 2
        x0 = self.x0[0::2][:pairs]
        x1 = self.x1[1::2]
        lo = [_nanmin(a, b) for a, b in zip(self.lo[0::2], self.lo[1::2], strict=False)]
        hi = [_nanmax(a, b) for a, b in zip(self.hi[0::2], self.hi[1::2], strict=False)]
        sums = [a + b for a, b in zip(self._sum[0::2], self._sum[1::2], strict=False)]
        finite = [a + b for a, b in zip(self._finite[0::2], self._finite[1::2], strict=False)]
        gap = [a or b for a, b in zip(self.gap[0::2], self.gap[1::2], strict=False)]
        fill = self._fill + self.per  # the last pair: a full bucket and the last one
        if n % 2:
            x0.append(self.x0[-1])
            x1.append(self.x1[-1])
            lo.append(self.lo[-1])
            hi.append(self.hi[-1])
            sums.append(self._sum[-1])
            finite.append(self._finite[-1])
            gap.append(self.gap[-1])
            fill = self._fill
        self.x0, self.x1, self.lo, self.hi, self.gap = x0, x1, lo, hi, gap
        self._sum, self._finite = sums, finite
        self.mean = [s / k if k else math.nan for s, k in zip(sums, finite, strict=True)]
        self._fill = fill
        self.per *= 2


def _nanmin(a: float, b: float) -> float:
    """min of two bucket minima where NaN means "no finite value"."""
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return a if a <= b else b


def _nanmax(a: float, b: float) -> float:
    """max of two bucket maxima where NaN means "no finite value"."""
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return a if a >= b else b
