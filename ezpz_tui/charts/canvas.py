"""Braille charts rendered to rows of ``(text, role)`` segments, Textual-free.

A terminal cell holds a braille character of 2x4 dots, so a 78x22 box draws a
140x80 dot plot. The widget only maps roles to styles and prints the segments;
everything about the picture (axes, ticks, which layer owns a cell) is decided
here, over plain sequences, so it is tested with vectors and costs no Textual.

Each dot column shows the min..max of the points that fall in it as a vertical
stroke, so a one-step spike survives even at 1,000 points per column, and a line
joins neighbouring columns through their mid values so it reads as continuous.
Non-finite values (and, on a log axis, values <= 0) are never drawn: a line is
broken around them rather than bridged.

Rendering is pure Python and budgeted at a few milliseconds per frame: columns
are found by bisection over sorted x, aggregated with C-level ``min``/``max``
over slices, and dots are ORed into a flat list of ints that becomes braille
characters only at the end.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import le

MIN_WIDTH = 20  # cells: smaller boxes get a picture of blanks
MIN_HEIGHT = 5
NO_DATA = "no data"
TICK = "tick"  # role of tick labels
AXIS = "axis"  # role of the axis lines
PAD = 0.05  # auto y range: this fraction of the data's range added on each side
MAX_TICK_CHARS = 7

_INF = math.inf
_BRAILLE = 0x2800
# The bit of each dot of a braille cell, by sub column (0 left, 1 right) and dot row.
_DOT = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
# _SPAN[sub][top][bottom]: the bits of dot rows top..bottom of one sub column.
_SPAN = tuple(
    tuple(tuple(sum(_DOT[s][r] for r in range(a, b + 1)) for b in range(4)) for a in range(4))
    for s in range(2)
)
_FULL = (_SPAN[0][0][3], _SPAN[1][0][3])
# An empty cell is a space, not U+2800: some fonts draw the blank pattern wider.
_CHARS = tuple(" " if bits == 0 else chr(_BRAILLE + bits) for bits in range(256))


@dataclass(frozen=True)
class Series:
    """One line through ``mid``, with a vertical stroke ``lo``..``hi`` per column.

    The stroke keeps spikes visible however many points share a column; the line
    is broken (not joined) around a point whose ``gaps`` flag is set (its bucket
    held a NaN or inf) and around a non-finite ``mid``.
    """

    xs: Sequence[float]
    lo: Sequence[float]
    hi: Sequence[float]
    mid: Sequence[float]  # the value the line passes through (mean, or smoothed)
    gaps: Sequence[bool]
    role: str  # a style name the widget maps to a colour, e.g. "run0", "run0-raw"

    def __post_init__(self) -> None:
        _check_lengths(self.role, xs=self.xs, lo=self.lo, hi=self.hi, mid=self.mid, gaps=self.gaps)


@dataclass(frozen=True)
class Band:
    """A filled area ``lo``..``hi`` (min/max across ranks), drawn under the lines."""

    xs: Sequence[float]
    lo: Sequence[float]
    hi: Sequence[float]
    role: str

    def __post_init__(self) -> None:
        _check_lengths(self.role, xs=self.xs, lo=self.lo, hi=self.hi)


Segment = tuple[str, str | None]  # (text, role); None = default style


@dataclass(frozen=True)
class Picture:
    """A rendered chart: ``height`` rows of segments, each ``width`` cells in total."""

    rows: list[list[Segment]]
    y_range: tuple[float, float]
    x_range: tuple[float, float]
    dropped: int  # points not drawable (log-y and y <= 0)


def _check_lengths(role: str, **columns: Sequence[float] | Sequence[bool]) -> None:
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ValueError(f"layer {role!r} has columns of different lengths ({shown}); pass equal")


# -- ticks ------------------------------------------------------------------------


def nice_ticks(lo: float, hi: float, count: int) -> list[float]:
    """At most ``count`` round values in [lo, hi]: the finest step of 1, 2 or 5 times
    a power of ten that fits.

    Values are integer multiples divided by a power of ten, so 0.3 comes out as
    0.3, not 0.30000000000000004.
    """
    if count < 1 or not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        return [lo]
    exponent = math.floor(math.log10((hi - lo) / (count + 1)))
    while True:
        for multiple in (1, 2, 5):
            first, last = _tick_span(lo, hi, multiple, exponent)
            if last - first + 1 <= count:
                return [_tick_value(k, multiple, exponent) for k in range(first, last + 1)]
        exponent += 1


def _tick_span(lo: float, hi: float, multiple: int, exponent: int) -> tuple[int, int]:
    """First and last k with k * multiple * 10**exponent inside [lo, hi]."""
    step = multiple * 10.0**exponent
    return (math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9))


def _tick_value(k: int, multiple: int, exponent: int) -> float:
    if exponent >= 0:
        return float(k * multiple * 10**exponent)
    return k * multiple / 10 ** (-exponent)


_SUFFIXES = ("", "k", "M", "G", "T", "P", "E")


def format_tick(value: float) -> str:
    """A compact label of at most 7 characters: 0, 1.5, 250, 12k, 3.4M, 1.2e-05.

    As many significant digits as fit (up to 5), so neighbouring ticks such as
    100.5 and 101 stay distinct; thousands get k/M/G/... suffixes.
    """
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value == 0:
        return "0"
    for digits in range(5, 0, -1):
        for text in _formats(value, digits):
            if len(text) <= MAX_TICK_CHARS:
                return text
    return f"{value:.0e}"


def _formats(value: float, digits: int) -> tuple[str, ...]:
    """Spellings of ``value`` to ``digits`` significant digits, the preferred first."""
    rounded = float(f"{value:.{digits}g}")
    size = abs(rounded)
    exponent = f"{rounded:.{max(digits - 1, 0)}e}"
    if size < 1000:
        return (f"{rounded:.{digits}g}", exponent)
    power = min(int(math.log10(size) // 3), len(_SUFFIXES) - 1)
    scaled = rounded / 1000**power
    if abs(scaled) >= 1000:
        return (exponent,)
    return (f"{scaled:.{digits}g}{_SUFFIXES[power]}", exponent)


def _y_ticks(lo: float, hi: float, log_y: bool, count: int) -> list[float]:
    """Tick values in data units: 1-2-5 steps, or powers of ten on a log axis."""
    if not log_y:
        return nice_ticks(lo, hi, count)
    a, b = math.log10(lo), math.log10(hi)
    decades = [10.0**e for e in range(math.ceil(a - 1e-9), math.floor(b + 1e-9) + 1)]
    if len(decades) < 2:
        decades = [
            m * 10.0**e
            for e in range(math.floor(a), math.ceil(b) + 1)
            for m in (1, 2, 5)
            if lo <= m * 10.0**e <= hi
        ]
    if len(decades) < 2:
        return nice_ticks(lo, hi, count)
    every = math.ceil(len(decades) / count)
    return decades[::every]


# -- layers -----------------------------------------------------------------------


@dataclass
class _Prepared:
    """A layer's points inside the x range, cleaned: what the drawing loops read.

    ``lo`` holds +inf and ``hi`` -inf where a value is not drawable, so C-level
    ``min``/``max`` skip them; ``mid`` holds NaN there.
    """

    layer: Series | Band
    index: int  # the layer's place in the caller's list (for its role)
    xs: Sequence[float]
    lo: Sequence[float]
    hi: Sequence[float]
    mid: Sequence[float] | None
    gaps: Sequence[bool] | None  # None: no gap at all
    clean: bool  # every value drawable (nothing replaced)
    sorted: bool
    dropped: int


def _prepare(layer: Series | Band, index: int, x0: float, x1: float, log_y: bool) -> _Prepared:
    xs = layer.xs
    lo, hi = layer.lo, layer.hi
    mid = layer.mid if isinstance(layer, Series) else None
    gaps = layer.gaps if isinstance(layer, Series) else None
    in_order = all(map(le, xs, xs[1:]))
    if in_order:
        start, stop = bisect_left(xs, x0), bisect_right(xs, x1)
        if start != 0 or stop != len(xs):
            xs, lo, hi = xs[start:stop], lo[start:stop], hi[start:stop]
            mid = mid[start:stop] if mid is not None else None
            gaps = gaps[start:stop] if gaps is not None else None
    else:
        keep = [i for i, x in enumerate(xs) if x0 <= x <= x1]
        xs, lo, hi = [xs[i] for i in keep], [lo[i] for i in keep], [hi[i] for i in keep]
        mid = [mid[i] for i in keep] if mid is not None else None
        gaps = [gaps[i] for i in keep] if gaps is not None else None
    if gaps is not None and True not in gaps:
        gaps = None
    floor = 0.0 if log_y else -_INF
    total = sum(lo) + sum(hi) + (sum(mid) if mid is not None else 0.0)
    clean = math.isfinite(total)
    if clean and log_y and xs:
        clean = min(lo) > 0 and min(hi) > 0 and (mid is None or min(mid) > 0)
    dropped = 0
    if not clean:
        if log_y:
            bad = [(-_INF < a <= 0) or (-_INF < b <= 0) for a, b in zip(lo, hi, strict=True)]
            if mid is not None:
                bad = [d or (-_INF < m <= 0) for d, m in zip(bad, mid, strict=True)]
            dropped = sum(bad)
            if dropped and mid is not None:
                # A value the axis cannot show breaks the line like a NaN does.
                base = gaps if gaps is not None else [False] * len(bad)
                gaps = [g or d for g, d in zip(base, bad, strict=True)]
        lo = [v if floor < v < _INF else _INF for v in lo]
        hi = [v if floor < v < _INF else -_INF for v in hi]
        if mid is not None:
            mid = [v if floor < v < _INF else math.nan for v in mid]
    return _Prepared(layer, index, xs, lo, hi, mid, gaps, clean, in_order, dropped)


def _value_range(prep: _Prepared) -> tuple[float, float] | None:
    """(min, max) of the drawable values of a prepared layer, or None.

    Every column counts (a point may have only its ``hi`` drawable); the clean
    path needs no filtering, so it stays a handful of C-level passes.
    """
    if not prep.xs:
        return None
    if prep.clean:
        columns = [prep.lo, prep.hi] + ([prep.mid] if prep.mid is not None else [])
    else:
        columns = [
            [v for v in prep.lo if v != _INF],
            [v for v in prep.hi if v != -_INF],
        ]
        if prep.mid is not None:
            columns.append([v for v in prep.mid if not math.isnan(v)])
        columns = [c for c in columns if c]
        if not columns:
            return None
    return (min(min(c) for c in columns), max(max(c) for c in columns))


def _padded(low: float, high: float, log_y: bool) -> tuple[float, float]:
    """``PAD`` of the range added on each side; a flat range is widened."""
    if log_y:
        low, high = math.log10(low), math.log10(high)
    if high > low:
        pad = (high - low) * PAD
    elif log_y:
        pad = 0.1  # a decade's tenth: a flat positive series on a log axis
    else:
        pad = abs(low) * PAD if low != 0 else 1.0
    low, high = low - pad, high + pad
    if log_y:
        return (10.0**low, 10.0**high)
    return (low, high)


def _auto_range(preps: Sequence[_Prepared], log_y: bool) -> tuple[float, float] | None:
    ranges = [r for r in map(_value_range, preps) if r is not None]
    if not ranges:
        return None
    return _padded(min(r[0] for r in ranges), max(r[1] for r in ranges), log_y)


def _ordered(layers: Sequence[Series | Band]) -> list[tuple[int, Series | Band]]:
    """Bands first (they are drawn under lines), otherwise in the caller's order."""
    indexed = list(enumerate(layers))
    return [p for p in indexed if isinstance(p[1], Band)] + [
        p for p in indexed if not isinstance(p[1], Band)
    ]


def _x_bounds(x_range: tuple[float, float]) -> tuple[float, float]:
    x0, x1 = x_range
    if x1 < x0:
        x0, x1 = x1, x0
    if x0 == x1:
        x0, x1 = x0 - 0.5, x1 + 0.5
    return (x0, x1)


def auto_y_range(
    layers: Sequence[Series | Band], x_range: tuple[float, float], log_y: bool
) -> tuple[float, float] | None:
    """The y range that shows every drawable point inside ``x_range``, padded by 5%.

    Only finite values count (and only values > 0 on a log axis), so one NaN
    loss does not flatten the chart; None when nothing is drawable.
    """
    x0, x1 = _x_bounds(x_range)
    preps = [_prepare(layer, i, x0, x1, log_y) for i, layer in enumerate(layers)]
    return _auto_range(preps, log_y)


# -- drawing ----------------------------------------------------------------------


def _groups(
    xs: Sequence[float], x0: float, scale: float, columns: int, in_order: bool
) -> list[tuple[int, int, int]]:
    """(dot column, start, stop) of each run of consecutive points in one column."""
    if not xs:
        return []
    cols = [int((x - x0) * scale) for x in xs]
    last = columns - 1
    if in_order:
        i = len(cols) - 1
        while i >= 0 and cols[i] > last:  # x == x1 (and rounding just below it)
            cols[i] = last
            i -= 1
        out = []
        start, n = 0, len(cols)
        while start < n:
            col = cols[start]
            stop = bisect_right(cols, col, start)
            out.append((col, start, stop))
            start = stop
        return out
    out = []
    start = 0
    prev = min(cols[0], last)
    for i in range(1, len(cols)):
        col = min(cols[i], last)
        if col != prev:
            out.append((prev, start, i))
            start, prev = i, col
    out.append((prev, start, len(cols)))
    return out


class _Grid:
    """Dot bits and the owning layer of each cell of the plot area."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.dots = height * 4  # dot rows
        self.bits = [0] * (width * height)
        self.owner = [-1] * (width * height)

    def stroke(self, col: int, top: float, bottom: float, layer: int) -> None:
        """Set the dots of dot column ``col`` between float dot rows ``top``..``bottom``.

        Rows outside the plot are clipped; a stroke entirely outside draws nothing.
        """
        dots = self.dots
        if bottom < 0 or top > dots:
            return
        r0 = int(top) if top > 0 else 0
        r1 = int(bottom)
        if r1 >= dots:
            r1 = dots - 1
        if r0 >= dots:
            r0 = dots - 1
        sub = col & 1
        cell = col >> 1
        span = _SPAN[sub]
        c0, c1 = r0 >> 2, r1 >> 2
        bits, owner, width = self.bits, self.owner, self.width
        if c0 == c1:
            i = c0 * width + cell
            bits[i] |= span[r0 & 3][r1 & 3]
            owner[i] = layer
            return
        i = c0 * width + cell
        bits[i] |= span[r0 & 3][3]
        owner[i] = layer
        full = _FULL[sub]
        for row in range(c0 + 1, c1):
            i = row * width + cell
            bits[i] |= full
            owner[i] = layer
        i = c1 * width + cell
        bits[i] |= span[0][r1 & 3]
        owner[i] = layer


def _draw_band(
    grid: _Grid, prep: _Prepared, groups: list[tuple[int, int, int]], row_of: _RowOf
) -> None:
    """Fill lo..hi per dot column; columns between two points are interpolated."""
    lo, hi = prep.lo, prep.hi
    prev: tuple[int, float, float] | None = None
    for col, start, stop in groups:
        if stop - start == 1:
            low, high = lo[start], hi[start]
        else:
            low, high = min(lo[start:stop]), max(hi[start:stop])
        if low == _INF and high == -_INF:
            prev = None
            continue
        if low == _INF:
            low = high
        elif high == -_INF:
            high = low
        top, bottom = row_of(high), row_of(low)
        grid.stroke(col, top, bottom, prep.index)
        if prev is not None and col - prev[0] > 1:
            pcol, ptop, pbottom = prev
            d = col - pcol
            for k in range(1, d):
                t = k / d
                grid.stroke(
                    pcol + k, ptop + (top - ptop) * t, pbottom + (bottom - pbottom) * t, prep.index
                )
        prev = (col, top, bottom)


def _draw_series(
    grid: _Grid, prep: _Prepared, groups: list[tuple[int, int, int]], row_of: _RowOf
) -> None:
    """A stroke lo..hi per column, joined to its neighbours through the mids."""
    lo, hi, gaps = prep.lo, prep.hi, prep.gaps
    mid = prep.mid
    assert mid is not None
    n = len(groups)
    cols = [0] * n
    tops = [0.0] * n
    bottoms = [0.0] * n
    drawn = [False] * n
    mids: list[float | None] = [None] * n
    broken_before = [False] * n  # a gap among this column's points
    broken_after = [False] * n  # its last point is a gap
    for j, (col, start, stop) in enumerate(groups):
        cols[j] = col
        if stop - start == 1:
            low, high = lo[start], hi[start]
        else:
            low, high = min(lo[start:stop]), max(hi[start:stop])
        m = mid[stop - 1]
        if gaps is not None:
            broken_after[j] = gaps[stop - 1]
            broken_before[j] = True in gaps[start:stop] if stop - start > 1 else gaps[start]
        top = bottom = None
        if m == m:  # not NaN
            mrow = row_of(m)
            mids[j] = mrow
            top = bottom = mrow
        if high != -_INF:
            r = row_of(high)
            top = r if top is None or r < top else top
            bottom = r if bottom is None or r > bottom else bottom
        if low != _INF:
            r = row_of(low)
            top = r if top is None or r < top else top
            bottom = r if bottom is None or r > bottom else bottom
        if top is not None and bottom is not None:
            tops[j], bottoms[j], drawn[j] = top, bottom, True
    layer = prep.index
    for j in range(1, n):
        ra, rb = mids[j - 1], mids[j]
        if ra is None or rb is None or broken_after[j - 1] or broken_before[j]:
            continue
        d = cols[j] - cols[j - 1]
        if d <= 0:  # x went backwards (a restart): not joined across
            continue
        slope = (rb - ra) / d
        ea, eb = ra + slope * 0.5, rb - slope * 0.5  # the line at the column borders
        if ea < tops[j - 1]:
            tops[j - 1] = ea
        elif ea > bottoms[j - 1]:
            bottoms[j - 1] = ea
        if eb < tops[j]:
            tops[j] = eb
        elif eb > bottoms[j]:
            bottoms[j] = eb
        pcol = cols[j - 1]
        for k in range(1, d):
            a, b = ra + slope * (k - 0.5), ra + slope * (k + 0.5)
            grid.stroke(pcol + k, a if a < b else b, b if a < b else a, layer)
    for j in range(n):
        if drawn[j]:
            grid.stroke(cols[j], tops[j], bottoms[j], layer)


class _RowOf:
    """Maps a value (data units) to a float dot row, 0 at the top of the plot."""

    def __init__(self, y0: float, y1: float, dots: int, log_y: bool) -> None:
        self.log_y = log_y
        self.top = math.log10(y1) if log_y else y1
        bottom = math.log10(y0) if log_y else y0
        self.scale = dots / (self.top - bottom)

    def __call__(self, value: float) -> float:
        if self.log_y:
            value = math.log10(value)
        return (self.top - value) * self.scale


# -- the picture ------------------------------------------------------------------


def _blank(width: int, height: int) -> list[list[Segment]]:
    return [[(" " * width, None)] if width > 0 else [] for _ in range(max(height, 0))]


def _no_data(width: int, height: int) -> list[list[Segment]]:
    rows = _blank(width, height)
    if height > 0 and width >= len(NO_DATA):
        left = (width - len(NO_DATA)) // 2
        right = width - left - len(NO_DATA)
        segments: list[Segment] = []
        if left:
            segments.append((" " * left, None))
        segments.append((NO_DATA, TICK))
        if right:
            segments.append((" " * right, None))
        rows[height // 2] = segments
    return rows


def _y_range(
    given: tuple[float, float] | None, auto: tuple[float, float], log_y: bool
) -> tuple[float, float]:
    if given is None:
        return auto
    low, high = given
    if high < low:
        low, high = high, low
    if log_y and low <= 0:
        raise ValueError(f"y range {given} has values <= 0; a log axis needs a positive range")
    if low == high:
        return _padded(low, high, log_y)
    return (low, high)


def render(
    layers: Sequence[Series | Band],
    width: int,
    height: int,
    x_range: tuple[float, float],
    y_range: tuple[float, float] | None = None,
    log_y: bool = False,
) -> Picture:
    """The whole chart box: y ticks, axes, x ticks and the braille plot.

    Bands are drawn first, then series, each in the order given; a cell's dots
    are the OR of all layers and its role that of the last layer with a dot there.
    ``y_range`` None: :func:`auto_y_range`. Boxes under 20x5 come back blank, and a
    chart with nothing drawable in ``x_range`` says "no data".
    """
    x0, x1 = _x_bounds(x_range)
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        return Picture(_blank(width, height), y_range or (0.0, 1.0), (x0, x1), 0)
    preps = [_prepare(layer, i, x0, x1, log_y) for i, layer in _ordered(layers)]
    dropped = sum(p.dropped for p in preps)
    auto = _auto_range(preps, log_y)
    if auto is None:
        return Picture(_no_data(width, height), y_range or (0.0, 1.0), (x0, x1), dropped)
    y0, y1 = _y_range(y_range, auto, log_y)

    plot_rows = height - 2  # an axis row and a label row below the plot
    ticks = _y_ticks(y0, y1, log_y, max(2, min(plot_rows // 3 + 1, 8)))
    row_of_tick = _RowOf(y0, y1, plot_rows, log_y)
    labels: dict[int, str] = {}
    for value in ticks:
        row = min(max(int(row_of_tick(value)), 0), plot_rows - 1)
        labels.setdefault(row, format_tick(value))
    label_width = max((len(t) for t in labels.values()), default=1)
    plot_width = width - label_width - 1

    grid = _Grid(plot_width, plot_rows)
    row_of = _RowOf(y0, y1, grid.dots, log_y)
    dot_columns = plot_width * 2
    scale = dot_columns / (x1 - x0)
    for prep in preps:
        groups = _groups(prep.xs, x0, scale, dot_columns, prep.sorted)
        if isinstance(prep.layer, Band):
            _draw_band(grid, prep, groups, row_of)
        else:
            _draw_series(grid, prep, groups, row_of)

    roles = [layer.role for layer in layers]
    rows: list[list[Segment]] = []
    bits, owner = grid.bits, grid.owner
    for r in range(plot_rows):
        label = labels.get(r)
        row: list[Segment] = [
            ((label or "").rjust(label_width), TICK),
            ("┤" if label is not None else "│", AXIS),
        ]
        base = r * plot_width
        at = base
        for who, run in groupby(owner[base : base + plot_width]):
            n = sum(1 for _ in run)
            text = "".join([_CHARS[b] for b in bits[at : at + n]])
            row.append((text, roles[who] if who >= 0 else None))
            at += n
        rows.append(row)
    rows.extend(_x_axis(x0, x1, label_width, plot_width))
    return Picture(rows, (y0, y1), (x0, x1), dropped)


def _x_axis(x0: float, x1: float, label_width: int, plot_width: int) -> list[list[Segment]]:
    """The axis row (with a mark per tick) and the tick labels under it."""
    marks = ["─"] * plot_width
    text = [" "] * plot_width
    free = 0  # first cell a label may use (one blank between labels)
    for value in nice_ticks(x0, x1, max(2, plot_width // 10)):
        col = min(max(int((value - x0) / (x1 - x0) * plot_width), 0), plot_width - 1)
        label = format_tick(value)
        start = min(max(col - len(label) // 2, 0), plot_width - len(label))
        if start < free:
            continue
        marks[col] = "┬"
        text[start : start + len(label)] = label
        free = start + len(label) + 1
    return [
        [(" " * label_width, None), ("└" + "".join(marks), AXIS)],
        [(" " * (label_width + 1), None), ("".join(text), TICK)],
    ]
