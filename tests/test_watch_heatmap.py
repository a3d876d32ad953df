"""The activity heatmap: time buckets per rank, coarsening, grids per rank/host/block.

Every expectation is recomputed from the raw (rank, time) events the test fed, so
the bucket width, the merging and the resampling are checked against their
definitions rather than against remembered numbers.
"""

from __future__ import annotations

import itertools
import math
import random
import tracemalloc
from collections import Counter
from collections.abc import Callable

import pytest

from ezpz_tui.watch.heatmap import LEVELS, Activity, Grid, duration_text, level_of
from ezpz_tui.watch.ranks import host_of_rank

Event = tuple[list[int], float]


def feed(activity: Activity, events: list[Event]) -> None:
    for ranks, t in events:
        activity.add(ranks, t)


def rebucket(events: list[Event], origin: float, width: float) -> Counter[tuple[int, int]]:
    """(rank, bucket) -> lines, bucketing the raw events directly at ``width``."""
    counts: Counter[tuple[int, int]] = Counter()
    for ranks, t in events:
        for rank in ranks:
            if rank >= 0:
                counts[rank, max(0, int((t - origin) // width))] += 1
    return counts


def random_events(seed: int, ranks: int, seconds: float, batches: int) -> list[Event]:
    rng = random.Random(seed)
    times = sorted(rng.uniform(0, seconds) for _ in range(batches))
    return [([rng.randrange(ranks) for _ in range(rng.randint(1, 30))], 500.0 + t) for t in times]


# --- bucketing ---------------------------------------------------------------------------


def test_lines_land_in_the_bucket_of_their_batch_time() -> None:
    activity = Activity(bucket_s=2.0)
    feed(activity, [([0, 0, 1], 101.0), ([1], 102.5), ([0], 107.9)])
    origin = math.floor(101.0 / 2.0) * 2.0
    assert activity.origin == origin
    assert [activity.count(0, i) for i in range(activity.buckets)] == [2, 0, 0, 1]
    assert [activity.count(1, i) for i in range(activity.buckets)] == [1, 1, 0, 0]
    assert activity.bucket_span(3) == (origin + 6.0, origin + 8.0)


def test_the_launcher_lane_is_not_counted() -> None:
    activity = Activity()
    activity.add([-1, -1, 3], 10.0)
    activity.add([-1], 11.0)
    assert activity.total == 1
    assert activity.ranks == 4


def test_lines_older_than_the_first_batch_count_in_the_first_bucket() -> None:
    activity = Activity()
    activity.add([0], 10.0)
    activity.add([1], 3.0)
    assert activity.count(1, 0) == 1
    assert activity.buckets == 1


@pytest.mark.parametrize("seed", range(6))
def test_coarsening_keeps_every_line_in_the_bucket_its_time_falls_in(seed: int) -> None:
    events = random_events(seed, ranks=7, seconds=100.0, batches=300)
    activity = Activity(bucket_s=1.0, max_buckets=8)
    feed(activity, events)
    assert activity.buckets <= activity.max_buckets
    doublings = math.log2(activity.width / activity.bucket_s)
    assert doublings == int(doublings) and doublings > 0
    assert activity.origin is not None
    expected = rebucket(events, activity.origin, activity.width)
    got = Counter(
        {
            (rank, i): activity.count(rank, i)
            for rank in range(activity.ranks)
            for i in range(activity.buckets)
            if activity.count(rank, i)
        }
    )
    assert got == expected
    assert activity.total == sum(len(ranks) for ranks, _ in events)


def test_a_long_jump_in_time_coarsens_as_many_times_as_needed() -> None:
    activity = Activity(bucket_s=1.0, max_buckets=4)
    activity.add([0], 0.0)
    activity.add([1], 1000.0)
    assert activity.width >= 1000.0 / activity.max_buckets
    assert activity.buckets <= activity.max_buckets
    assert (activity.count(0), activity.count(1), activity.total) == (1, 1, 2)


def test_twenty_thousand_ranks_over_every_bucket_stay_under_25_mb() -> None:
    ranks = list(range(20_000))
    tracemalloc.start()
    try:
        activity = Activity(bucket_s=1.0, max_buckets=240)
        for t in range(activity.max_buckets):
            activity.add(ranks, 1000.0 + t)
        full = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        activity.add(ranks, 1000.0 + activity.max_buckets)  # forces a coarsening
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert activity.width == 2.0
    assert activity.total == len(ranks) * (activity.max_buckets + 1)
    assert activity.nbytes <= full <= 25e6
    assert peak <= 25e6


# --- levels ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "level"),
    [(1.0, 8), (0.75, 8), (0.5, 7), (0.3, 7), (0.25, 6), (2**-7, 1), (1e-9, 1), (0.0, 0)],
)
def test_levels_are_octaves_below_the_brightest_cell(ratio: float, level: int) -> None:
    assert level_of(ratio * 40.0, 40.0) == level


def test_levels_never_decrease_as_the_rate_grows() -> None:
    rates = [i / 1000 for i in range(1001)]
    levels = [level_of(r, 1.0) for r in rates]
    assert levels == sorted(levels)
    assert (levels[0], levels[-1]) == (0, LEVELS)


# --- grids -------------------------------------------------------------------------------


def naive_cell(events: list[Event], ranks, t0: float, t1: float) -> int:
    members = set(ranks)
    return sum(1 for batch, t in events if t0 <= t < t1 for r in batch if r in members)


def check_cells(grid: Grid, events: list[Event]) -> None:
    """Every cell's lines are the fed lines of its ranks in its time span."""
    for row in range(grid.rows):
        for col in range(grid.cols):
            ref = grid.cell(row, col)
            assert ref.lines == naive_cell(events, ref.ranks, ref.t0, ref.t1), (row, col)


def test_a_grid_has_one_row_per_rank_when_they_fit() -> None:
    events = random_events(1, ranks=5, seconds=30.0, batches=100)
    activity = Activity()
    feed(activity, events)
    grid = activity.grid(rows=10, cols=200)
    assert grid.grouping == "rank"
    assert [grid.label(r) for r in range(grid.rows)] == [f"rank {r}" for r in range(5)]
    assert [grid.cell(r, 0).ranks for r in range(grid.rows)] == [range(r, r + 1) for r in range(5)]
    assert grid.cols == activity.buckets  # fewer buckets than columns: one each
    check_cells(grid, events)


def test_a_grid_has_one_row_per_host_when_ranks_do_not_fit() -> None:
    hosts = ["nodeA", "nodeB", "nodeC"]
    ppn = 4
    events = random_events(2, ranks=len(hosts) * ppn, seconds=30.0, batches=100)
    activity = Activity()
    feed(activity, events)
    grid = activity.grid(rows=5, cols=200, hosts_of=lambda r: host_of_rank(hosts, ppn, r))
    assert grid.grouping == "host"
    assert [grid.label(r) for r in range(grid.rows)] == hosts
    assert [grid.cell(i, 0).ranks for i in range(3)] == [
        range(i * ppn, (i + 1) * ppn) for i in range(3)
    ]
    check_cells(grid, events)


def test_a_host_with_scattered_ranks_lists_them() -> None:
    events = [(list(range(8)), 10.0)]
    activity = Activity()
    feed(activity, events)
    grid = activity.grid(rows=3, cols=10, hosts_of=lambda r: f"node{r % 2}")  # round robin
    assert grid.grouping == "host"
    assert grid.cell(0, 0).ranks == [0, 2, 4, 6]
    assert grid.cell(1, 0).ranks == [1, 3, 5, 7]
    check_cells(grid, events)


@pytest.mark.parametrize(
    "hosts_of", [None, lambda r: f"node{r}"], ids=["no hosts", "more hosts than rows"]
)
def test_a_grid_falls_back_to_blocks_of_ranks(hosts_of: Callable[[int], str] | None) -> None:
    n, rows = 103, 10
    events = random_events(3, ranks=n, seconds=20.0, batches=200)
    activity = Activity()
    feed(activity, events)
    grid = activity.grid(rows=rows, cols=50, hosts_of=hosts_of, ranks_count=n)
    assert grid.grouping == "block"
    assert grid.rows <= rows
    blocks = [grid.cell(r, 0).ranks for r in range(grid.rows)]
    assert [rank for block in blocks for rank in block] == list(range(n))  # each rank once
    for block in blocks:
        assert isinstance(block, range)
        label = f"ranks {block[0]}-{block[-1]}" if len(block) > 1 else f"rank {block[0]}"
        assert grid.label(blocks.index(block)) == label
    check_cells(grid, events)


def test_columns_resample_the_buckets_and_cover_the_whole_span() -> None:
    events = random_events(4, ranks=6, seconds=200.0, batches=400)
    activity = Activity(max_buckets=240)
    feed(activity, events)
    cols = 37  # does not divide the bucket count
    assert activity.buckets > cols
    grid = activity.grid(rows=6, cols=cols)
    assert grid.cols == cols
    spans = [grid.cell(0, c) for c in range(cols)]
    assert spans[0].t0 == activity.bucket_span(0)[0]
    assert spans[-1].t1 == activity.bucket_span(activity.buckets - 1)[1]
    assert all(a.t1 == b.t0 for a, b in itertools.pairwise(spans))
    for row in range(grid.rows):
        assert sum(grid.cell(row, c).lines for c in range(cols)) == activity.count(row)
    check_cells(grid, events)


def test_the_brightest_cell_is_level_8_and_empty_cells_level_0() -> None:
    events = random_events(5, ranks=4, seconds=20.0, batches=50)
    activity = Activity()
    feed(activity, events)
    grid = activity.grid(rows=4, cols=100)
    cells = [
        (grid.level(r, c), grid.cell(r, c).lines)
        for r in range(grid.rows)
        for c in range(grid.cols)
    ]
    assert max(level for level, _ in cells) == LEVELS
    assert all((level == 0) == (lines == 0) for level, lines in cells)


def test_rates_are_per_rank_so_a_busy_host_is_not_brighter_for_having_more_ranks() -> None:
    def host(rank: int) -> str:
        return "big" if rank < 8 else "small"

    activity = Activity()
    for t in range(10):
        activity.add(list(range(9)), 100.0 + t)  # every rank one line a second
    grid = activity.grid(rows=2, cols=20, hosts_of=host)
    assert [grid.label(r) for r in range(2)] == ["big", "small"]
    assert grid.levels[0] == grid.levels[1] == bytes([LEVELS] * grid.cols)


def test_now_inside_the_last_bucket_rates_it_for_the_time_it_had() -> None:
    activity = Activity(bucket_s=10.0)
    activity.add([0] * 10, 100.0)  # a full bucket: 1 line/s
    activity.add([0] * 5, 115.0)  # half of the next bucket so far, same rate
    dim = activity.grid(rows=1, cols=10)
    fair = activity.grid(rows=1, cols=10, now=115.0)
    assert dim.levels[0][1] < dim.levels[0][0]
    assert fair.levels[0][1] == fair.levels[0][0] == LEVELS


def test_a_grid_after_more_lines_counts_them() -> None:
    activity = Activity()
    events: list[Event] = [([0, 1], 10.0), ([1], 11.0)]
    feed(activity, events)
    first = activity.grid(rows=2, cols=10)
    check_cells(first, events)
    later: list[Event] = [([0, 0], 10.5), ([1], 12.0)]  # into a summed bucket and a new one
    feed(activity, later)
    check_cells(activity.grid(rows=2, cols=10), events + later)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.5, "0.5s"), (45.0, "45s"), (60.0, "1m00s"), (245.0, "4m05s"), (7380.0, "2h03m")],
)
def test_durations_read_short(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_the_caption_gives_the_span_and_the_column_width() -> None:
    activity = Activity(bucket_s=2.0)
    activity.add([0], 100.0)
    activity.add([0], 100.0 + 2.0 * 59)  # 60 buckets of 2 s
    grid = activity.grid(rows=1, cols=30)
    assert grid.span_text() == f"{duration_text(120.0)} · {duration_text(4.0)} a column"
    assert Activity().grid(rows=1, cols=30).span_text() == ""


def test_an_empty_activity_gives_rows_without_columns() -> None:
    grid = Activity().grid(rows=4, cols=10, ranks_count=3)
    assert (grid.rows, grid.cols) == (3, 0)
    with pytest.raises(IndexError):
        grid.cell(0, 0)


def test_twenty_thousand_ranks_grid_per_host_and_per_block() -> None:
    n, ppn = 20_000, 12
    hosts = [f"x{1000 + h // 8}c0s{h % 8}b0n0" for h in range(-(-n // ppn))]
    rng = random.Random(7)
    events = [([rng.randrange(n) for _ in range(2000)], 100.0 + t) for t in range(30)]
    activity = Activity()
    feed(activity, events)
    per_block = activity.grid(rows=40, cols=30, hosts_of=lambda r: host_of_rank(hosts, ppn, r))
    assert per_block.grouping == "block"  # 1,667 hosts do not fit in 40 rows
    assert (
        sum(per_block.counts[r][c] for r in range(per_block.rows) for c in range(per_block.cols))
        == activity.total
    )
    per_host = activity.grid(rows=2000, cols=30, hosts_of=lambda r: host_of_rank(hosts, ppn, r))
    assert per_host.grouping == "host" and per_host.rows == len(hosts)
    for row in rng.sample(range(per_host.rows), 5):
        ref = per_host.cell(row, rng.randrange(per_host.cols))
        assert ref.ranks == range(row * ppn, min(n, (row + 1) * ppn))
        assert ref.lines == naive_cell(events, ref.ranks, ref.t0, ref.t1)
