"""The Textual-free chart core: buckets, smoothing, viewport and the braille canvas.

All pure: vectors in, values or pictures out. Pictures are read back through the
braille standard (U+2800 plus one bit per dot), not through the renderer's tables.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest

from ezpz_tui.charts.buckets import CAPACITY, Buckets
from ezpz_tui.charts.canvas import (
    NO_DATA,
    Band,
    Picture,
    Series,
    _groups,
    auto_y_range,
    format_tick,
    nice_ticks,
    render,
)
from ezpz_tui.charts.smooth import WEIGHTS, ema, ema_buckets, step_weight
from ezpz_tui.charts.viewport import Viewport

NAN = math.nan
INF = math.inf

# -- helpers ----------------------------------------------------------------------

# Unicode braille: dot (sub column, row) of a cell is this bit of ``ord(ch) - 0x2800``.
BRAILLE_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


def same(a: float, b: float) -> bool:
    """Equal, with NaN equal to NaN (a bucket without finite values)."""
    return (math.isnan(a) and math.isnan(b)) or a == b


def plot_cells(picture: Picture) -> list[list[tuple[str, str | None]]]:
    """The plot area, cell by cell: (character, role); rows 0 and 1 of each row
    are the y tick label and the axis, the last two rows the x axis and labels."""
    out = []
    for row in picture.rows[:-2]:
        cells = [(ch, role) for text, role in row[2:] for ch in text]
        out.append(cells)
    return out


def dots(picture: Picture, role: str | None = None) -> set[tuple[int, int]]:
    """(dot column, dot row from the top) of every dot set in the plot area."""
    out = set()
    for r, cells in enumerate(plot_cells(picture)):
        for c, (ch, owner) in enumerate(cells):
            if not "\u2800" <= ch <= "\u28ff" or (role is not None and owner != role):
                continue
            bits = ord(ch) - 0x2800
            for sub in (0, 1):
                for k in range(4):
                    if bits & BRAILLE_BITS[sub][k]:
                        out.add((2 * c + sub, 4 * r + k))
    return out


def line(xs: list[float], ys: list[float], role: str = "run0") -> Series:
    """A raw line: each point's lo, hi and mid are its value; NaN/inf mark gaps."""
    return Series(xs, ys, ys, ys, [not math.isfinite(y) for y in ys], role)


def text_of(picture: Picture) -> list[str]:
    return ["".join(text for text, _ in row) for row in picture.rows]


# -- buckets ----------------------------------------------------------------------


def test_a_single_spike_among_100k_flat_points_survives_downsampling() -> None:
    b = Buckets()
    ys = [1.0] * 100_000
    ys[54_321] = 50.0
    b.extend(list(range(100_000)), ys)
    assert len(b.x0) <= CAPACITY
    assert b.per > 1
    assert max(b.hi) == 50.0
    assert min(b.lo) == 1.0


@pytest.mark.parametrize("capacity", [2, 3, 16, 1024])
def test_memory_stays_bounded_by_the_capacity(capacity: int) -> None:
    b = Buckets(capacity)
    for start in range(0, 20_000, 997):
        b.extend(list(range(start, start + 997)), [float(i % 13) for i in range(997)])
        assert len(b.x0) <= capacity
        assert all(len(v) == len(b.x0) for v in (b.x1, b.lo, b.hi, b.mean, b.gap))
    assert b.count == len(range(0, 20_000, 997)) * 997


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("capacity", [2, 5, 16])
def test_extend_gives_the_buckets_of_add_one_by_one(seed: int, capacity: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(200, 3000)
    xs = [float(i) for i in range(n)]
    specials = [NAN, INF, -INF]
    ys = [rng.choice(specials) if rng.random() < 0.05 else rng.gauss(0, 10) for _ in range(n)]
    one, many = Buckets(capacity), Buckets(capacity)
    for x, y in zip(xs, ys, strict=True):
        one.add(x, y)
    i = 0
    while i < n:  # ragged chunks: some inside one bucket, some across merges
        k = rng.randint(0, 300)
        many.extend(xs[i : i + k], ys[i : i + k])
        i += k
    assert (many.per, many.count, many.nonfinite) == (one.per, one.count, one.nonfinite)
    assert many.x0 == one.x0
    assert many.x1 == one.x1
    assert many.gap == one.gap
    for name in ("lo", "hi"):
        assert all(map(same, getattr(many, name), getattr(one, name))), name
    # Python 3.12's sum() is compensated: a bucket mean may differ in the last bit.
    assert len(many.mean) == len(one.mean)
    for a, b in zip(many.mean, one.mean, strict=True):
        assert same(a, b) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def test_non_finite_values_are_counted_mark_a_gap_and_stay_out_of_the_stats() -> None:
    b = Buckets(8)
    b.extend([0, 1, 2, 3], [1.0, NAN, INF, 3.0])
    b.add(4, -INF)
    assert (b.count, b.nonfinite) == (5, 3)
    assert b.per == 1
    assert b.gap == [False, True, True, False, True]
    assert (b.lo[0], b.lo[3]) == (1.0, 3.0)
    assert all(math.isnan(b.mean[i]) for i in (1, 2, 4))
    # capacity 4 and per 1: the fifth point merges pairs first
    b2 = Buckets(4)
    b2.extend([0, 1, 2, 3, 4], [1.0, NAN, INF, 3.0, 5.0])
    assert b2.per == 2
    assert b2.gap == [True, True, False]
    assert (b2.lo, b2.hi, b2.mean) == ([1.0, 3.0, 5.0], [1.0, 3.0, 5.0], [1.0, 3.0, 5.0])


def test_merging_keeps_first_and_last_x_min_max_and_the_weighted_mean() -> None:
    b = Buckets(2)
    b.extend([10, 11, 12, 13], [4.0, NAN, 1.0, 7.0])
    # 10,11 -> one bucket (per 2); then 12,13 -> second; capacity 2 holds them
    assert b.per == 2
    assert (b.x0, b.x1) == ([10, 12], [11, 13])
    assert b.mean[0] == 4.0  # the NaN does not count in the mean
    b.add(14, 10.0)  # full: the two merge into one of 4 points, then a new bucket opens
    assert b.per == 4
    assert (b.x0, b.x1) == ([10, 14], [13, 14])
    assert (b.lo[0], b.hi[0]) == (1.0, 7.0)
    assert b.mean[0] == pytest.approx((4.0 + 1.0 + 7.0) / 3)  # weighted by finite points
    assert b.gap == [True, False]


def test_an_odd_capacity_leaves_the_last_bucket_open_after_a_merge() -> None:
    b = Buckets(3)
    b.extend(list(range(4)), [1.0, 2.0, 3.0, 4.0])
    assert b.per == 2
    assert (b.x0, b.x1) == ([0, 2], [1, 3])
    b.add(4, 5.0)  # opens a third bucket
    b.add(5, 6.0)  # fills it
    assert (b.x0, b.x1, b.hi) == ([0, 2, 4], [1, 3, 5], [2.0, 4.0, 6.0])


def test_x_going_backwards_is_appended_in_arrival_order() -> None:
    b = Buckets(64)
    b.extend([0, 1, 2, 3, 4, 5], [1.0] * 6)
    b.extend([3, 4, 5], [2.0] * 3)  # restarted from the checkpoint at step 3
    assert b.x0 == [0, 1, 2, 3, 4, 5, 3, 4, 5]
    assert b.x_span == (0, 5)
    assert b.window(3.5, 4.5) == range(4, 8)  # the first and the last overlapping bucket


@pytest.mark.parametrize(
    ("x_lo", "x_hi", "expected"),
    [
        (0, 9, range(0, 5)),
        (2, 3, range(1, 2)),
        (3, 4, range(1, 3)),  # touches the end of bucket 1 and the start of bucket 2
        (2.5, 2.6, range(1, 2)),
        (-5, -1, range(0, 0)),
        (10, 20, range(5, 5)),
        (9, 9, range(4, 5)),
        (5, 4, range(0, 0)),
    ],
)
def test_window_is_the_buckets_overlapping_the_range(
    x_lo: float, x_hi: float, expected: range
) -> None:
    b = Buckets(8)
    b.extend(list(range(10)), [1.0] * 10)  # per 2 after one merge: [0,1] [2,3] ... [8,9]
    b.extend([], [])
    assert b.per == 2
    assert b.window(x_lo, x_hi) == expected


def test_window_and_span_of_an_empty_series() -> None:
    b = Buckets()
    assert b.window(0, 10) == range(0, 0)
    assert b.x_span is None


def test_version_moves_on_every_change_and_clear_forgets_everything() -> None:
    b = Buckets()
    seen = [b.version]
    b.add(0, 1.0)
    seen.append(b.version)
    b.extend([1, 2], [2.0, 3.0])
    seen.append(b.version)
    b.clear()
    seen.append(b.version)
    assert seen == sorted(set(seen))
    assert (b.x0, b.count, b.nonfinite, b.per, b.x_span) == ([], 0, 0, 1, None)


def test_bad_arguments_say_what_to_pass() -> None:
    with pytest.raises(ValueError, match="2 or more"):
        Buckets(1)
    with pytest.raises(ValueError, match="equal lengths"):
        Buckets().extend([1, 2], [1.0])


# -- smoothing --------------------------------------------------------------------


@pytest.mark.parametrize("weight", WEIGHTS)
def test_a_constant_series_stays_constant(weight: float) -> None:
    assert ema([2.5] * 50, weight) == [2.5] * 50


def test_debiasing_keeps_the_first_points_at_their_level() -> None:
    smoothed = ema([2.0, 2.0, 2.0, 2.0, 30.0], 0.9)
    assert smoothed[:4] == pytest.approx([2.0] * 4)  # not dragged towards 0
    assert 2.0 < smoothed[4] < 30.0


@pytest.mark.parametrize(
    ("values", "weight", "expected"),
    [
        # last = last*w + (1-w)*v ; out = last / (1 - w**n)
        ([1.0, 2.0], 0.5, [1.0, 1.25 / 0.75]),
        ([0.0, 1.0, 1.0], 0.5, [0.0, 0.5 / 0.75, 0.75 / 0.875]),
        ([4.0, 0.0], 0.75, [4.0, 0.75 / (1 - 0.75**2)]),
        ([1.0, 2.0, 3.0], 0.0, [1.0, 2.0, 3.0]),
    ],
)
def test_ema_matches_vectors_computed_by_hand(
    values: list[float], weight: float, expected: list[float]
) -> None:
    assert ema(values, weight) == pytest.approx(expected)


def test_non_finite_values_pass_through_as_nan_and_do_not_enter_the_average() -> None:
    out = ema([1.0, NAN, INF, 3.0], 0.5)
    assert out[0] == 1.0
    assert math.isnan(out[1]) and math.isnan(out[2])
    assert out[3] == pytest.approx(1.75 / 0.75)  # the second finite value, n = 2
    off = ema([1.0, INF, -INF, NAN], 0.0)
    assert off[0] == 1.0 and all(math.isnan(v) for v in off[1:])


def test_bucket_smoothing_weights_each_bucket_as_per_points() -> None:
    means = [1.0, 3.0, NAN, 2.0, 5.0]
    got = ema_buckets(means, 0.9, 4)
    want = ema(means, 0.9**4)
    assert all(map(same, got, want))
    assert all(map(same, ema_buckets(means, 0.6, 1), ema(means, 0.6)))


@pytest.mark.parametrize(
    ("weight", "direction", "expected"),
    [
        (0.0, 1, 0.3),
        (0.6, 1, 0.8),
        (0.99, 1, 0.99),
        (0.6, -1, 0.3),
        (0.0, -1, 0.0),
        (0.5, 1, 0.6),  # between two steps: to the neighbour in that direction
        (0.5, -1, 0.3),
        (0.5, 0, 0.5),
    ],
)
def test_step_weight_moves_through_the_steps_clamped(
    weight: float, direction: int, expected: float
) -> None:
    assert step_weight(weight, direction) == expected


def test_a_weight_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="0 <= weight < 1"):
        ema([1.0], 1.0)
    with pytest.raises(ValueError, match="1 or more"):
        ema_buckets([1.0], 0.5, 0)


# -- viewport ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("view", "data", "expected"),
    [
        (Viewport(), (0, 1000), (0, 1000)),
        (Viewport(span=100), (0, 1000), (900, 1000)),
        (Viewport(span=5000), (0, 1000), (0, 1000)),  # clamped to the data
        (Viewport(follow=False, span=100, right=500), (0, 1000), (400, 500)),
        (Viewport(follow=False, span=100, right=50), (0, 1000), (0, 100)),
        (Viewport(follow=False, span=100, right=5000), (0, 1000), (900, 1000)),
        (Viewport(), (7, 7), (6.5, 7.5)),  # one step: never zero width
        (Viewport(span=10), (7, 7), (6.5, 7.5)),
    ],
)
def test_window_is_the_range_to_draw(
    view: Viewport, data: tuple[float, float], expected: tuple[float, float]
) -> None:
    assert view.window(*data) == expected


def test_zooming_in_while_following_keeps_the_right_edge_on_the_newest_step() -> None:
    view = Viewport().zoom(0.5, 0, 1000)
    assert (view.follow, view.span) == (True, 500)
    assert view.window(0, 1000) == (500, 1000)
    assert view.window(0, 1200) == (700, 1200)  # new steps scroll in


def test_zooming_while_pinned_keeps_the_right_edge_where_it_is() -> None:
    view = Viewport(follow=False, span=200, right=600).zoom(0.5, 0, 1000)
    assert view.window(0, 1000) == (500, 600)
    assert view.zoom(2.0, 0, 1000).window(0, 1000) == (400, 600)


def test_zooming_out_past_the_data_shows_all_steps_and_in_stops_at_two_steps() -> None:
    assert Viewport(span=600).zoom(2.0, 0, 1000) == Viewport()
    tight = Viewport(span=3).zoom(0.1, 0, 1000)
    assert tight.span == 2
    with pytest.raises(ValueError, match="above 0"):
        Viewport().zoom(0, 0, 10)


def test_panning_left_stops_following_and_right_to_the_end_follows_again() -> None:
    view = Viewport(span=100).pan(-0.5, 0, 1000)
    assert (view.follow, view.right) == (False, 950)
    assert view.window(0, 2000) == (850, 950)  # stays put while steps arrive
    back = view.pan(0.25, 0, 1000).pan(0.5, 0, 1000)
    assert back.follow and back.right is None


def test_panning_stops_at_the_oldest_step_and_not_at_all_when_everything_shows() -> None:
    view = Viewport(span=100).pan(-50, 0, 1000)
    assert view.window(0, 1000) == (0, 100)
    assert Viewport().pan(-0.5, 0, 1000) == Viewport()
    assert Viewport(span=2000).pan(-0.5, 0, 1000) == Viewport(span=2000)


def test_reset_and_log_toggle() -> None:
    view = Viewport(follow=False, span=10, right=20).toggle_log()
    assert view.log_y
    assert view.reset() == Viewport(log_y=True)
    assert not view.toggle_log().log_y


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        (Viewport(), "all steps"),
        (Viewport(span=500), "last 500 steps"),
        (Viewport(follow=False, span=500, right=600), "steps 100-600"),
        (Viewport(span=12.5), "last 12.5 steps"),
    ],
)
def test_describe_says_what_the_window_shows(view: Viewport, expected: str) -> None:
    assert view.describe() == expected


# -- ticks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lo", "hi", "count", "expected"),
    [
        (0, 10, 6, [0, 2, 4, 6, 8, 10]),
        (0, 10, 5, [0, 5, 10]),
        (0, 1, 6, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0.1, 0.45, 4, [0.1, 0.2, 0.3, 0.4]),
        (-3, 3, 4, [-2, 0, 2]),
        (13, 97, 5, [20, 40, 60, 80]),
        (0, 1_000_000, 3, [0, 500_000, 1_000_000]),
        (5, 5, 3, [5]),
        (0, 0.0003, 4, [0, 0.0001, 0.0002, 0.0003]),
        (0, 10, 0, []),
        (0, NAN, 3, []),
    ],
)
def test_nice_ticks_are_1_2_5_steps(
    lo: float, hi: float, count: int, expected: list[float]
) -> None:
    assert nice_ticks(lo, hi, count) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"),
        (1.5, "1.5"),
        (250, "250"),
        (12_000, "12k"),
        (12_500, "12.5k"),
        (3_400_000, "3.4M"),
        (1.2e-05, "1.2e-05"),
        (0.30000000000000004, "0.3"),
        (100.5, "100.5"),
        (-2_000, "-2k"),
        (2.5e9, "2.5G"),
        (999_999, "1M"),
    ],
)
def test_format_tick_is_compact(value: float, expected: str) -> None:
    assert format_tick(value) == expected


def test_format_tick_never_exceeds_seven_characters() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        value = rng.choice([-1, 1]) * 10 ** rng.uniform(-30, 30) * rng.random()
        assert len(format_tick(value)) <= 7, value


# -- auto y range -----------------------------------------------------------------


def test_auto_y_range_pads_by_5_percent_and_ignores_nan_inf_and_points_outside() -> None:
    xs = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    ys = [100.0, 1.0, NAN, INF, 3.0, -50.0]
    assert auto_y_range([line(xs, ys)], (1, 4), False) == pytest.approx((0.9, 3.1))


def test_auto_y_range_on_a_log_axis_pads_in_decades_and_skips_values_below_zero() -> None:
    ys = [0.0, -1.0, 1.0, 100.0]
    low, high = auto_y_range([line([0, 1, 2, 3], ys)], (0, 3), True)  # type: ignore[misc]
    assert (math.log10(low), math.log10(high)) == pytest.approx((-0.1, 2.1))


def test_auto_y_range_of_a_flat_line_is_widened_and_of_nothing_is_none() -> None:
    low, high = auto_y_range([line([0, 1], [4.0, 4.0])], (0, 1), False)  # type: ignore[misc]
    assert low < 4.0 < high
    assert auto_y_range([line([0, 1], [NAN, INF])], (0, 1), False) is None
    assert auto_y_range([line([0, 1], [1.0, 2.0])], (5, 9), False) is None
    assert auto_y_range([], (0, 1), False) is None


def test_auto_y_range_covers_bands_and_smoothed_mids() -> None:
    band = Band([0, 1], [-5.0, 0.0], [1.0, 1.0], "band")
    smooth = Series([0, 1], [1.0, 1.0], [1.0, 1.0], [1.0, 9.0], [False, False], "s")
    assert auto_y_range([band, smooth], (0, 1), False) == pytest.approx((-5.7, 9.7))


# -- render -----------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(20, 5), (78, 22), (33, 7), (120, 40), (10, 3)])
def test_every_row_is_exactly_width_cells(width: int, height: int) -> None:
    xs = list(range(500))
    ys = [math.sin(x / 20) * 1e6 for x in xs]
    for layers in ([line(xs, ys)], []):
        picture = render(layers, width, height, (0, 499))
        assert len(picture.rows) == height
        assert all(sum(len(text) for text, _ in row) == width for row in picture.rows)


def test_a_rising_line_runs_from_bottom_left_to_top_right() -> None:
    xs = list(range(100))
    picture = render([line(xs, [float(x) for x in xs])], 60, 16, (0, 99))
    cells = plot_cells(picture)
    drawn = [[ch.strip() != "" for ch, _ in row] for row in cells]
    assert drawn[-1][0] and drawn[0][-1]
    assert not drawn[0][0] and not drawn[-1][-1]
    got = dots(picture)
    by_column: dict[int, list[int]] = {}
    for col, row in got:
        by_column.setdefault(col, []).append(row)
    tops = [min(by_column[c]) for c in sorted(by_column)]
    assert tops == sorted(tops, reverse=True)  # the line never goes down
    assert len(by_column) == 2 * len(cells[0])  # and has a dot in every dot column


def test_a_spike_among_flat_data_reaches_the_top_row() -> None:
    b = Buckets()
    ys = [1.0] * 100_000
    ys[77_777] = 9.0
    b.extend(list(range(100_000)), ys)
    mids = [(a + c) / 2 for a, c in zip(b.x0, b.x1, strict=True)]
    picture = render([Series(mids, b.lo, b.hi, b.mean, b.gap, "run0")], 78, 22, (0, 99_999))
    top_row = plot_cells(picture)[0]
    assert any(ch.strip() for ch, _ in top_row)


def test_a_gap_breaks_the_line() -> None:
    xs = list(range(100))
    ys = [5.0 + (x % 3) for x in xs]
    for x in range(40, 60):
        ys[x] = NAN
    width = 60
    picture = render([line(xs, ys)], width, 12, (0, 99))
    columns = 2 * len(plot_cells(picture)[0])
    col39 = int(39 * columns / 99)
    col60 = int(60 * columns / 99)
    got = dots(picture)
    assert {c for c, _ in got if col39 < c < col60} == set()
    assert any(c <= col39 for c, _ in got) and any(c >= col60 for c, _ in got)


def test_a_gap_flag_on_finite_values_draws_the_point_but_no_joins() -> None:
    xs = [0.0, 1.0, 2.0]
    ys = [0.0, 10.0, 0.0]
    joined = dots(render([Series(xs, ys, ys, ys, [False] * 3, "a")], 40, 10, (0, 2)))
    broken = dots(render([Series(xs, ys, ys, ys, [False, True, False], "a")], 40, 10, (0, 2)))
    assert len(broken) < len(joined)
    middle = {c for c, _ in broken if 0 < c < 2 * 37 - 1}
    assert middle  # the flagged point itself is still drawn


def test_a_restart_is_not_joined_back_to_the_start() -> None:
    xs = [float(x) for x in range(50)] * 2
    ys = [10.0] * 50 + [0.0] * 50
    picture = render([line(xs, ys)], 40, 12, (0, 49))
    got = dots(picture)
    last_column = max(c for c, _ in got)
    assert len({r for c, r in got if c == last_column}) == 2  # two flat lines, no stroke


def test_log_y_drops_values_at_or_below_zero_and_counts_them() -> None:
    xs = list(range(10))
    ys = [1.0, 10.0, 0.0, 100.0, -3.0, 1000.0, 5.0, -0.0, 50.0, 20.0]
    picture = render([line(xs, ys)], 40, 12, (0, 9), log_y=True)
    assert picture.dropped == 3
    assert picture.y_range[0] > 0
    linear = render([line(xs, ys)], 40, 12, (0, 9))
    assert linear.dropped == 0
    assert linear.y_range[0] < -3.0


def test_a_band_is_drawn_under_the_line_and_the_line_wins_where_both_are() -> None:
    xs = [float(x) for x in range(50)]
    band = Band(xs, [0.0] * 50, [10.0] * 50, "band")
    mid = [5.0] * 50
    for layers in ([band, line(xs, mid, "run0")], [line(xs, mid, "run0"), band]):
        picture = render(layers, 40, 12, (0, 49), y_range=(0, 10))
        roles = {role for row in plot_cells(picture) for _, role in row}
        assert roles == {"band", "run0"}
        owned = {
            role: {r for r, row in enumerate(plot_cells(picture)) for _, who in row if who == role}
            for role in ("band", "run0")
        }
        assert owned["run0"] == {5}  # 5.0 of 0..10 over 10 rows: the line's cells
        assert owned["band"] == set(range(10)) - {5}  # every other row of 0..10


def test_later_series_are_drawn_on_top() -> None:
    xs = [0.0, 1.0, 2.0]
    ys = [1.0, 2.0, 3.0]
    picture = render([line(xs, ys, "first"), line(xs, ys, "second")], 30, 8, (0, 2))
    roles = {role for row in plot_cells(picture) for ch, role in row if ch.strip()}
    assert roles == {"second"}


def test_neighbouring_cells_of_one_role_are_one_segment() -> None:
    xs = [float(x) for x in range(200)]
    picture = render([line(xs, [x % 17 for x in xs])], 78, 22, (0, 199))
    for row in picture.rows:
        roles = [role for _, role in row[2:]]
        assert all(a != b for a, b in itertools.pairwise(roles))


def test_axes_and_ticks_carry_their_roles() -> None:
    xs = [float(x) for x in range(1000)]
    picture = render([line(xs, [x / 10 for x in xs])], 60, 12, (0, 999))
    y_labels = {
        r: row[0][0].strip() for r, row in enumerate(picture.rows[:-2]) if row[0][0].strip()
    }
    assert y_labels == {0: "100", 4: "50", 9: "0"}
    assert all(row[0][1] == "tick" and row[1][1] == "axis" for row in picture.rows[:-2])
    assert {row[1][0] for row in picture.rows[:-2]} == {"┤", "│"}
    axis_text, axis_role = picture.rows[-2][-1]
    assert axis_role == "axis" and axis_text.startswith("└") and axis_text.count("┬") == 5
    labels_text, labels_role = picture.rows[-1][-1]
    assert labels_role == "tick" and labels_text.split() == ["0", "200", "400", "600", "800"]
    marks = [i for i, ch in enumerate(axis_text) if ch == "┬"]
    assert all(labels_text[i - 1] != " " for i in marks)  # each label sits under its mark


def test_values_outside_a_given_y_range_are_clipped() -> None:
    xs = [0.0, 1.0, 2.0, 3.0]
    ys = [-100.0, 0.5, 100.0, 0.5]
    picture = render([line(xs, ys)], 30, 8, (0, 3), y_range=(0, 1))
    assert picture.y_range == (0, 1)
    rows = {r for _, r in dots(picture)}
    assert min(rows) == 0 and max(rows) == 4 * 6 - 1  # strokes end at the edges


def test_no_data_is_said_in_the_middle() -> None:
    picture = render([line([0, 1], [NAN, NAN])], 40, 9, (0, 1))
    row = text_of(picture)[4]
    assert row.strip() == NO_DATA
    assert row.index(NO_DATA) == (40 - len(NO_DATA)) // 2
    assert render([], 40, 9, (0, 1)).rows == picture.rows


def test_boxes_below_the_minimum_size_are_blank() -> None:
    picture = render([line([0, 1], [1.0, 2.0])], 19, 4, (0, 1))
    assert text_of(picture) == [" " * 19] * 4


def test_the_bisect_shortcut_groups_points_like_the_general_path() -> None:
    rng = random.Random(3)
    xs = [*sorted(rng.uniform(0, 1000) for _ in range(3000)), 1000.0]
    for columns in (1, 7, 140, 5000):
        scale = columns / 1000
        assert _groups(xs, 0.0, scale, columns, True) == _groups(xs, 0.0, scale, columns, False)


def test_layers_with_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="'run0'"):
        Series([0, 1], [1.0], [1.0, 2.0], [1.0, 2.0], [False, False], "run0")
