"""The rank board: silence, never-printed and lagging rules, status, sort and filter.

Timelines are synthetic (lines fed at chosen times, ``now`` passed in), and every
expected result is derived in the test from the timeline and the module's constants,
so the thresholds can be tuned without rewriting the tests.
"""

from __future__ import annotations

import random
import signal
import statistics
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from ezpz_tui.watch.ranks import (
    LAGGING_FRACTION,
    LAGGING_MIN_LINES,
    MIN_SILENT_S,
    NEVER_PRINTED_S,
    SILENT_GAP_FACTOR,
    SILENT_PEER_FACTOR,
    RankBoard,
    RankState,
    exit_text,
    host_of_rank,
    parse_filter,
)


def steady(board: RankBoard, ranks: range | list[int], t0: float, t1: float, gap: float) -> float:
    """Every rank of ``ranks`` prints one line every ``gap`` seconds in ``[t0, t1]``;
    returns the time of the last batch."""
    t = t0
    last = t0
    while t <= t1 + 1e-9:
        board.lines_seen(list(ranks), t)
        last = t
        t += gap
    return last


# --- host_of_rank ------------------------------------------------------------------------

HOSTS = ["h0", "h1", "h2"]


@pytest.mark.parametrize(
    ("ppn", "rank", "expected"),
    [
        (4, 0, "h0"),
        (4, 3, "h0"),
        (4, 4, "h1"),
        (4, 11, "h2"),
        (4, 12, None),  # past the last host
        (4, -1, None),  # the launcher lane
        (0, 0, None),  # unknown ppn
        (1, 2, "h2"),
    ],
)
def test_host_of_rank_is_block_distribution(ppn: int, rank: int, expected: str | None) -> None:
    assert host_of_rank(HOSTS, ppn, rank) == expected


# --- feeding -----------------------------------------------------------------------------


def test_lines_seen_counts_lines_and_keeps_first_and_last_time() -> None:
    board = RankBoard(start=0.0)
    board.lines_seen([0, 0, 1], 5.0)
    board.lines_seen([0], 9.0)
    row = board.row(0, now=12.0)
    assert (row.lines, row.age_s) == (3, 12.0 - 9.0)
    assert board.lines(1) == 1
    assert board.row(1, now=12.0).age_s == 12.0 - 5.0


def test_lines_of_unknown_time_are_counted_without_an_age() -> None:
    board = RankBoard(start=0.0)
    board.expected(3)
    board.lines_seen([0, 0, 1], None)
    board.lines_seen([1], 5.0)
    rows = board.rows(now=5.0 + 10 * QUIET_FOR)
    assert [(r.lines, r.age_s) for r in rows[:2]] == [(2, None), (2, 10 * QUIET_FOR)]
    assert 0 not in board.silent(5.0 + 10 * QUIET_FOR, running=True)
    silence_order = [r.rank for r in board.rows("silence", True, now=5.0 + 10 * QUIET_FOR)]
    assert silence_order == [2, 1, 0]  # 2 never printed; 0 is not known to be quiet


def test_the_launcher_lane_is_not_a_rank() -> None:
    board = RankBoard()
    board.lines_seen([-1, -1, 2], 1.0)
    board.exited(-1, 1)
    assert board.size == 3
    assert sum(board.lines(r) for r in range(board.size)) == 1


def test_expected_ranks_appear_before_they_print() -> None:
    board = RankBoard(start=0.0)
    board.expected(5)
    rows = board.rows(now=1.0)
    assert [r.rank for r in rows] == list(range(5))
    assert {r.state for r in rows} == {RankState.WAITING}
    assert all(r.age_s is None for r in rows)


def test_only_the_first_error_line_of_a_rank_is_kept() -> None:
    board = RankBoard()
    board.first_error(2, 10, "RuntimeError: first")
    board.first_error(2, 20, "RuntimeError: later")
    row = board.row(2, now=0.0)
    assert (row.first_error_line, row.first_error) == (10, "RuntimeError: first")


def test_hosts_come_from_a_function_a_mapping_or_a_list() -> None:
    board = RankBoard()
    board.expected(4)
    board.hosts([host_of_rank(["a", "b"], 2, r) for r in range(4)])
    assert [board.host_of(r) for r in range(4)] == ["a", "a", "b", "b"]
    board.hosts({1: "z", 3: "y"})
    assert [board.row(r, now=0.0).host for r in range(4)] == [None, "z", None, "y"]
    board.hosts(lambda rank: host_of_rank(["nodeA", "nodeB"], 2, rank))
    board.lines_seen([5], 1.0)  # a rank past the expected ones, on no host
    assert [board.host_of(r) for r in range(6)] == ["nodeA"] * 2 + ["nodeB"] * 2 + [None] * 2
    assert board.host_width() == len("nodeA")


def test_without_hosts_every_host_is_unknown() -> None:
    board = RankBoard()
    board.expected(2)
    assert (board.host_of(0), board.host_width()) == (None, 0)


# --- status text -------------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 1, 137])
def test_an_exit_code_reads_exit_n(code: int) -> None:
    assert exit_text(code) == f"exit {code}"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV])
def test_a_negative_code_reads_killed_by_the_signal_name(sig: signal.Signals) -> None:
    assert exit_text(-int(sig)) == f"killed by {sig.name}"


def test_an_unknown_signal_number_is_still_named() -> None:
    assert exit_text(-250) == "killed by signal 250"


def test_exited_ranks_show_their_code_and_state() -> None:
    board = RankBoard(start=0.0)
    board.lines_seen([0, 1, 2], 1.0)
    board.exited(0, 0)
    board.exited(1, 3)
    board.exited(2, -int(signal.SIGKILL))
    rows = {r.rank: r for r in board.rows(now=2.0)}
    assert (rows[0].state, rows[0].status, rows[0].code) == (RankState.EXITED, "exit 0", 0)
    assert (rows[1].state, rows[1].status) == (RankState.FAILED, "exit 3")
    assert (rows[2].state, rows[2].status) == (RankState.KILLED, "killed by SIGKILL")


# --- silence -----------------------------------------------------------------------------

GAP = 1.0
# long enough past both the floor and the gap factor for a steady printer
QUIET_FOR = 2 * max(MIN_SILENT_S, SILENT_GAP_FACTOR * GAP)


def test_one_rank_that_stopped_printing_is_silent() -> None:
    board = RankBoard(start=0.0)
    stop = steady(board, [0, 1, 2, 3], 0.0, 20.0, GAP)
    end = steady(board, [0, 1, 2], stop + GAP, stop + QUIET_FOR, GAP)
    assert board.silent(end, running=True) == {3}
    assert board.row(3, end).silent and board.row(3, end).state is RankState.SILENT


def test_a_pause_of_the_whole_job_flags_no_one() -> None:
    board = RankBoard(start=0.0)
    stop = steady(board, range(8), 0.0, 20.0, GAP)
    assert board.silent(stop + 10 * QUIET_FOR, running=True) == set()


def test_a_rank_that_stopped_long_before_a_global_pause_is_still_silent() -> None:
    board = RankBoard(start=0.0)
    early = steady(board, range(8), 0.0, 20.0, GAP)
    pause_start = steady(board, range(1, 8), early + GAP, early + 2 * QUIET_FOR, GAP)
    peers_quiet = QUIET_FOR / 2
    now = pause_start + peers_quiet
    rank0_quiet = now - early
    assert rank0_quiet > SILENT_PEER_FACTOR * peers_quiet  # the timeline is what it claims
    assert board.silent(now, running=True) == {0}


def test_exited_ranks_are_never_silent() -> None:
    board = RankBoard(start=0.0)
    stop = steady(board, range(4), 0.0, 20.0, GAP)
    board.exited(3, 0)
    end = steady(board, [0, 1, 2], stop + GAP, stop + QUIET_FOR, GAP)
    assert board.silent(end, running=True) == set()


def test_no_rank_is_silent_once_the_run_is_over() -> None:
    board = RankBoard(start=0.0)
    stop = steady(board, range(4), 0.0, 20.0, GAP)
    end = steady(board, [0, 1, 2], stop + GAP, stop + QUIET_FOR, GAP)
    assert board.silent(end, running=False) == set()
    assert board.row(3, end, running=False).state is RankState.ENDED


def test_silence_shorter_than_the_floor_is_not_silent() -> None:
    fast = 0.1  # lines every 0.1 s: the gap factor alone would flag after 1 s
    board = RankBoard(start=0.0)
    stop = steady(board, range(4), 0.0, 5.0, fast)
    quiet = MIN_SILENT_S / 2
    end = steady(board, [0, 1, 2], stop + fast, stop + quiet, fast)
    assert board.silent(end, running=True) == set()


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_slow_printers_get_a_threshold_scaled_by_their_typical_gap(factor: float) -> None:
    slow = 2 * MIN_SILENT_S  # the gap factor dominates the floor
    threshold = max(MIN_SILENT_S, SILENT_GAP_FACTOR * slow)
    board = RankBoard(start=0.0)
    stop = steady(board, range(4), 0.0, 10 * slow, slow)
    end = steady(board, [0, 1, 2], stop + slow, stop + factor * threshold, slow)
    expected = {3} if end - stop > threshold else set()
    assert board.silent(end, running=True) == expected


def test_in_a_two_rank_job_the_quiet_rank_is_compared_with_the_other_one() -> None:
    board = RankBoard(start=0.0)
    stop = steady(board, [0, 1], 0.0, 20.0, GAP)
    end = steady(board, [1], stop + GAP, stop + QUIET_FOR, GAP)
    assert board.silent(end, running=True) == {0}


def test_a_one_rank_job_is_never_silent() -> None:
    board = RankBoard(start=0.0)
    stop = steady(board, [0], 0.0, 20.0, GAP)
    assert board.silent(stop + 100 * QUIET_FOR, running=True) == set()


# --- never printed -----------------------------------------------------------------------


def never_board() -> RankBoard:
    board = RankBoard(start=100.0)
    board.expected(4)
    board.lines_seen([0, 1, 2], 101.0)
    return board


def test_a_rank_without_a_line_waits_during_the_grace() -> None:
    board = never_board()
    now = 100.0 + NEVER_PRINTED_S - 1
    assert board.never_printed(now) == set()
    assert board.row(3, now).state is RankState.WAITING


def test_a_rank_without_a_line_after_the_grace_never_printed() -> None:
    board = never_board()
    now = 100.0 + NEVER_PRINTED_S + 1
    assert board.never_printed(now) == {3}
    assert board.row(3, now).status == "never printed"


def test_never_printed_needs_a_peer_that_printed() -> None:
    board = RankBoard(start=100.0)
    board.expected(4)
    assert board.never_printed(100.0 + 10 * NEVER_PRINTED_S) == set()


def test_an_exited_rank_without_lines_is_not_never_printed() -> None:
    board = never_board()
    board.exited(3, 0)
    assert board.never_printed(100.0 + NEVER_PRINTED_S + 1) == set()


def test_once_the_run_is_over_a_silent_rank_never_printed_whatever_the_time() -> None:
    board = never_board()
    assert board.never_printed(102.0, running=False) == {3}


def test_without_a_start_the_grace_counts_from_the_first_line() -> None:
    board = RankBoard()
    board.expected(2)
    board.lines_seen([0], 50.0)
    assert board.never_printed(50.0 + NEVER_PRINTED_S - 1) == set()
    assert board.never_printed(50.0 + NEVER_PRINTED_S + 1) == {1}


# --- lagging -----------------------------------------------------------------------------


def lines_board(counts: list[int], t: float = 1.0) -> RankBoard:
    board = RankBoard(start=0.0)
    for rank, count in enumerate(counts):
        board.lines_seen([rank] * count, t)
    return board


def expected_lagging(counts: list[int]) -> set[int]:
    median = statistics.median(counts)
    if median < LAGGING_MIN_LINES:
        return set()
    return {r for r, c in enumerate(counts) if c < LAGGING_FRACTION * median}


@pytest.mark.parametrize(
    "counts",
    [
        [5 * LAGGING_MIN_LINES] * 4 + [LAGGING_MIN_LINES],  # one far behind
        [LAGGING_MIN_LINES // 2] * 4 + [1],  # too early to judge
        [LAGGING_MIN_LINES * 2] * 5,  # all alike
    ],
)
def test_lagging_ranks_are_far_below_the_median_line_count(counts: list[int]) -> None:
    board = lines_board(counts)
    assert board.lagging(1.0, running=True) == expected_lagging(counts)


def test_lagging_is_a_status_and_a_summary_count() -> None:
    counts = [5 * LAGGING_MIN_LINES] * 4 + [LAGGING_MIN_LINES]
    board = lines_board(counts)
    assert board.row(4, 1.0).state is RankState.LAGGING
    assert board.summary(1.0, running=True).lagging == 1


# --- sorting -----------------------------------------------------------------------------


@dataclass
class Scenario:
    board: RankBoard
    now: float
    silent: set[int] = field(default_factory=set)


def mixed() -> Scenario:
    """Eight ranks on two hosts: running, silent, exited 0/1/killed, never printed."""
    board = RankBoard(start=0.0)
    board.expected(8)
    board.hosts([host_of_rank(["nodeA", "nodeB"], 4, r) for r in range(8)])
    stop = steady(board, range(7), 0.0, 20.0, GAP)  # rank 7 never prints
    for rank in (3, 4, 5):
        board.lines_seen([rank] * (rank * 10), stop)  # different line counts
    board.exited(3, 0)
    board.exited(4, 2)
    board.exited(5, -int(signal.SIGTERM))
    board.first_error(4, 33, "ValueError: x")
    end = max(steady(board, [0, 1, 2], stop + GAP, stop + QUIET_FOR, GAP), NEVER_PRINTED_S + 1)
    board.lines_seen([0, 1, 2], end)
    scenario = Scenario(board, end, board.silent(end, running=True))
    assert scenario.silent == {6}
    assert board.never_printed(end) == {7}
    return scenario


def test_rank_sort_is_ascending_and_reverse_flips_it() -> None:
    s = mixed()
    assert [r.rank for r in s.board.rows("rank", now=s.now)] == list(range(8))
    assert [r.rank for r in s.board.rows("rank", True, now=s.now)] == list(range(7, -1, -1))


def test_status_sort_puts_the_worst_first_in_declared_order() -> None:
    s = mixed()
    rows = s.board.rows("status", now=s.now)
    order = list(RankState)
    keys = [(order.index(r.state), r.rank) for r in rows]
    assert keys == sorted(keys)
    assert rows[0].state is RankState.FAILED


def test_lines_sort_is_by_line_count_ties_in_rank_order_both_ways() -> None:
    s = mixed()
    rows = s.board.rows("lines", now=s.now)
    assert [(r.lines, r.rank) for r in rows] == sorted((r.lines, r.rank) for r in rows)
    reverse = s.board.rows("lines", True, now=s.now)
    assert [(-r.lines, r.rank) for r in reverse] == sorted((-r.lines, r.rank) for r in reverse)


def test_reversed_silence_sort_puts_the_longest_silent_first_and_exited_ranks_last() -> None:
    s = mixed()
    ascending = s.board.rows("silence", now=s.now)
    assert [r.rank for r in ascending[:3]] == [3, 4, 5]  # the exited ones, in rank order
    rows = s.board.rows("silence", True, now=s.now)
    exited = [r for r in rows if r.code is not None]
    assert rows[-len(exited) :] == exited
    alive = [r for r in rows if r.code is None]
    ages = [r.age_s if r.age_s is not None else s.now for r in alive]  # start is 0
    assert ages == sorted(ages, reverse=True)
    assert rows[0].rank == 7  # never printed: silent since the start


def test_exited_ranks_sort_after_a_rank_that_printed_just_now() -> None:
    board = RankBoard(start=0.0)
    board.lines_seen([0], 1.0)
    board.exited(0, 0)
    board.lines_seen([1], 50.0)
    assert [r.rank for r in board.rows("silence", True, now=50.0)] == [1, 0]
    assert [r.rank for r in board.rows("silence", now=50.0)] == [0, 1]


def test_an_unknown_sort_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="silence"):
        RankBoard().rows("age", now=0.0)  # type: ignore[arg-type]


# --- filtering ---------------------------------------------------------------------------


def matching(s: Scenario, predicate) -> list[int]:
    return [r.rank for r in s.board.rows(now=s.now) if predicate(r)]


FILTERS = [
    ("", lambda r: True),
    ("0-2,6", lambda r: r.rank in (0, 1, 2, 6)),
    ("5-", lambda r: r.rank >= 5),
    ("3-1", lambda r: 1 <= r.rank <= 3),
    ("2,", lambda r: r.rank == 2),
    ("silent", lambda r: r.silent),
    ("failed", lambda r: r.code not in (None, 0)),
    ("killed", lambda r: r.code is not None and r.code < 0),
    ("exited", lambda r: r.code is not None),
    ("ok", lambda r: r.code == 0),
    ("running", lambda r: r.code is None and r.lines > 0),
    ("never printed", lambda r: r.state is RankState.NEVER_PRINTED),
    ("NEVER", lambda r: r.state is RankState.NEVER_PRINTED),
    ("error", lambda r: r.first_error is not None),
    ("nodeb", lambda r: r.host == "nodeB"),
    ("node", lambda r: r.host is not None),
    ("nodeB running", lambda r: r.host == "nodeB" and r.code is None and r.lines > 0),
    ("0-5 failed", lambda r: r.rank <= 5 and r.code not in (None, 0)),
    ("status:silent", lambda r: r.silent),
    ("rank:4", lambda r: r.rank == 4),
    ("no-such-host", lambda r: False),
    ("3-x", lambda r: False),  # malformed spec: a host substring matching nothing
]


@pytest.mark.parametrize(("text", "predicate"), FILTERS, ids=[f[0] or "empty" for f in FILTERS])
def test_filter_selects_the_ranks_it_names(text: str, predicate) -> None:
    s = mixed()
    got = [r.rank for r in s.board.rows(filter=text, now=s.now)]
    assert got == matching(s, predicate)


def test_a_host_named_by_digits_needs_the_host_prefix() -> None:
    board = RankBoard()
    board.expected(4)
    board.hosts(["n1001", "n1001", "n2002", "n2002"])
    assert [r.rank for r in board.rows(filter="1001", now=0.0)] == []  # rank 1001: none
    assert [r.rank for r in board.rows(filter="host:1001", now=0.0)] == [0, 1]


def test_filter_words_are_classified() -> None:
    kinds = [t.kind for t in parse_filter("0-3 silent error x1001 host:7")]
    assert kinds == ["ranks", "status", "error", "host", "host"]


def test_filter_and_sort_compose() -> None:
    s = mixed()
    rows = s.board.rows("lines", filter="nodeA", now=s.now)
    assert [r.rank for r in rows] == sorted(
        (r.rank for r in s.board.rows(now=s.now) if r.host == "nodeA"),
        key=lambda rank: (s.board.lines(rank), rank),
    )


# --- views and summary -------------------------------------------------------------------


@pytest.mark.parametrize(("start", "stop"), [(0, 3), (2, 5), (6, None), (10, 20), (-2, None)])
def test_rows_start_stop_is_a_slice_of_the_whole_view(start: int, stop: int | None) -> None:
    s = mixed()
    whole = s.board.rows("status", now=s.now)
    assert s.board.rows("status", now=s.now, start=start, stop=stop) == whole[start:stop]


def test_a_view_counts_its_rows_and_finds_a_rank() -> None:
    s = mixed()
    view = s.board.view("silence", filter="nodeA", now=s.now)
    assert len(view) == s.board.count("nodeA", now=s.now) == 4
    assert s.board.count(now=s.now) == s.board.size
    rank = view.ranks[2]
    assert view.index_of(rank) == 2
    assert view.index_of(7) is None  # on nodeB


def test_summary_counts_each_status() -> None:
    s = mixed()
    rows = s.board.rows(now=s.now)
    summary = s.board.summary(s.now, running=True)
    alive = {RankState.RUNNING, RankState.SILENT, RankState.LAGGING}
    assert summary.ranks == len(rows)
    assert summary.running == sum(r.state in alive for r in rows)
    assert summary.silent == sum(r.silent for r in rows)
    assert summary.never_printed == sum(r.state is RankState.NEVER_PRINTED for r in rows)
    assert summary.exited_ok == sum(r.code == 0 for r in rows)
    assert summary.failed == sum(r.code not in (None, 0) for r in rows)
    assert summary.waiting == summary.ended == summary.lagging == 0


def test_the_clock_alone_moves_a_rank_into_silence_and_back() -> None:
    board = RankBoard(start=0.0)
    stop = steady(board, range(4), 0.0, 20.0, GAP)
    end = steady(board, [0, 1, 2], stop + GAP, stop + QUIET_FOR, GAP)
    before = stop + GAP  # asked in any order, without new events in between
    assert board.row(3, end).state is RankState.SILENT
    assert board.row(3, before).state is RankState.RUNNING
    assert board.summary(before, running=True).silent == 0
    assert board.summary(end, running=True).silent == 1


def test_a_new_line_is_seen_by_the_next_refresh_at_the_same_clock() -> None:
    s = mixed()
    assert s.board.row(6, s.now).silent
    s.board.lines_seen([6], s.now)
    assert not s.board.row(6, s.now).silent


# --- 20,000 ranks against a naive reference ----------------------------------------------

N = 20_000
PPN = 12
BIG_HOSTS = [f"x{1000 + h // 8}c0s{h % 8}b0n0" for h in range(-(-N // PPN))]


@dataclass
class Ref:
    lines: int = 0
    first: float = 0.0
    last: float = 0.0
    code: int | None = None
    error: tuple[int, str] | None = None


def big_timeline(seed: int = 18) -> tuple[RankBoard, dict[int, Ref], float, float]:
    """20,000 ranks printing at periods of 1-3 s, some quiet since t=20, a few slow,
    a few exited, a few never printing; fed to the board and to a plain dict."""
    rng = random.Random(seed)
    ranks = list(range(N))
    quiet = set(rng.sample(ranks, 60))
    slow = set(rng.sample(ranks, 40)) - quiet
    never = set(rng.sample(ranks, 25)) - quiet - slow
    exits = {r: rng.choice([0, 0, 1, -9]) for r in rng.sample(ranks, 80) if r not in never}
    period = {r: 10 if r in slow else rng.choice([1, 2, 3]) for r in ranks}
    end = 59
    now = end + 3.0
    start = now - NEVER_PRINTED_S - 1  # past the grace
    board = RankBoard(start=start)
    board.expected(N)
    board.hosts(lambda rank: host_of_rank(BIG_HOSTS, PPN, rank))
    ref = {r: Ref() for r in ranks}
    for t in range(end + 1):
        batch = [
            r
            for r in ranks
            if r not in never
            and (t - r) % period[r] == 0
            and not (r in quiet and t > 20)
            and not (r in exits and t > 40)
        ]
        board.lines_seen(batch, float(start + t))
        for r in batch:
            e = ref[r]
            if not e.lines:
                e.first = start + t
            e.lines += 1
            e.last = start + t
    for r, code in exits.items():
        board.exited(r, code)
        ref[r].code = code
    for r in rng.sample(ranks, 30):
        board.first_error(r, r * 3, f"error of {r}")
        ref[r].error = (r * 3, f"error of {r}")
    return board, ref, start, start + now


def naive_silent(ref: dict[int, Ref], now: float) -> set[int]:
    """The module docstring's silence rule, written the slow obvious way: each
    rank against the median of its peers' silences, itself left out."""
    alive = [r for r, e in ref.items() if e.lines and e.code is None]
    gaps = [(ref[r].last - ref[r].first) / (ref[r].lines - 1) for r in alive if ref[r].lines > 1]
    threshold = max(MIN_SILENT_S, SILENT_GAP_FACTOR * (statistics.median(gaps) if gaps else 0))
    silences = {r: now - ref[r].last for r in alive}
    ordered = sorted(silences.values())
    silent = set()
    for r in alive:
        if silences[r] > threshold:
            peers = list(ordered)
            peers.remove(silences[r])
            if peers and silences[r] > SILENT_PEER_FACTOR * statistics.median(peers):
                silent.add(r)
    return silent


def naive_flags(ref: dict[int, Ref], start: float, now: float) -> tuple[set, set, set]:
    """Silent, never-printed and lagging ranks by the rules, the slow obvious way."""
    alive = [r for r, e in ref.items() if e.lines and e.code is None]
    never = {r for r, e in ref.items() if not e.lines and e.code is None}
    median_lines = statistics.median(ref[r].lines for r in alive)
    lagging = {r for r in alive if ref[r].lines < LAGGING_FRACTION * median_lines}
    assert median_lines >= LAGGING_MIN_LINES
    assert now - start > NEVER_PRINTED_S
    return naive_silent(ref, now), never, lagging


@pytest.mark.parametrize("seed", range(40))
def test_small_random_timelines_flag_what_the_naive_rule_flags(seed: int) -> None:
    rng = random.Random(seed)
    board = RankBoard(start=0.0)
    ref: dict[int, Ref] = {}
    for rank in range(rng.randint(2, 9)):
        e = ref[rank] = Ref()
        gap = rng.choice([0.5, 1.0, 3.0])
        stop = rng.choice([20.0, 60.0, 90.0, 100.0])
        t = rng.uniform(0, 2)
        while t <= stop:
            board.lines_seen([rank], t)
            e.first = e.first if e.lines else t
            e.last, e.lines = t, e.lines + 1
            t += gap
        if rng.random() < 0.15:
            board.exited(rank, 0)
            e.code = 0
    now = 100.0 + rng.choice([0.0, 5.0, 40.0])
    assert board.silent(now, running=True) == naive_silent(ref, now)


@pytest.fixture(scope="module")
def big() -> tuple[RankBoard, dict[int, Ref], float, float]:
    return big_timeline()


def test_twenty_thousand_ranks_flag_what_the_naive_rules_flag(big) -> None:
    board, ref, start, now = big
    silent, never, lagging = naive_flags(ref, start, now)
    assert silent and never and lagging  # the timeline exercises every rule
    assert board.silent(now, running=True) == silent
    assert board.never_printed(now) == never
    assert board.lagging(now, running=True) == lagging


def test_twenty_thousand_ranks_rows_match_the_reference(big) -> None:
    board, ref, start, now = big
    silent, never, lagging = naive_flags(ref, start, now)
    rng = random.Random(3)
    for rank in [*rng.sample(range(N), 300), *silent, *never, *lagging]:
        e = ref[rank]
        row = board.row(rank, now)
        assert row.lines == e.lines
        assert row.age_s == (now - e.last if e.lines else None)
        assert row.code == e.code
        assert row.first_error == (e.error[1] if e.error else None)
        assert row.host == host_of_rank(BIG_HOSTS, PPN, rank)
        assert row.silent == (rank in silent)


def test_twenty_thousand_ranks_sort_like_sorted_on_the_reference(big) -> None:
    board, ref, _start, now = big
    view = board.view("lines", now=now)
    assert view.ranks == sorted(range(N), key=lambda r: (ref[r].lines, r))
    top = board.rows("silence", True, now=now, start=0, stop=50)
    assert [r.rank for r in top] == board.view("silence", True, now=now).ranks[:50]
    ages = [r.age_s for r in top if r.age_s is not None]
    assert ages == sorted(ages, reverse=True)


def test_twenty_thousand_ranks_filter_like_the_reference(big) -> None:
    board, ref, _start, now = big
    host = host_of_rank(BIG_HOSTS, PPN, 12_345)
    assert host is not None
    got = board.view(filter=f"{host} 12000-13000", now=now).ranks
    assert got == [r for r in range(12_000, 13_001) if host_of_rank(BIG_HOSTS, PPN, r) == host]
    failed = board.view(filter="failed", now=now).ranks
    assert failed == sorted(r for r, e in ref.items() if e.code not in (None, 0))


def test_twenty_thousand_ranks_summary_adds_up(big) -> None:
    board, ref, start, now = big
    silent, never, lagging = naive_flags(ref, start, now)
    summary = board.summary(now, running=True)
    exited = [e.code for e in ref.values() if e.code is not None]
    assert summary.ranks == N
    assert (summary.silent, summary.never_printed) == (len(silent), len(never))
    assert summary.lagging == len(set(lagging) - set(silent))
    assert summary.exited_ok == exited.count(0)
    assert summary.failed == len(exited) - exited.count(0)
    assert summary.running == N - len(never) - len(exited)


def test_the_board_stores_arrays_not_an_object_per_rank(big) -> None:
    board = big[0]
    assert len(board._lines) == N and board._lines.typecode == "Q"
    assert not [
        name
        for name in vars(board)
        if isinstance(getattr(board, name), dict | list)
        and len(getattr(board, name)) >= N
        and name != "_hosts"
    ]


def test_the_module_imports_no_textual() -> None:
    code = "import sys, ezpz_tui.watch.ranks; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_cpu_and_gpu_sorts_put_the_starved_rank_first_and_unknown_last() -> None:
    board = RankBoard(start=0.0)
    board.expected(4)
    board.lines_seen([0, 1, 2, 3], 1.0)
    board.usage(0, 99.0, 80.0)
    board.usage(1, 3.0, None)
    board.usage(2, 97.0, 5.0)  # rank 3: no sample
    assert board.view("cpu", False, "", 2.0).ranks == [1, 2, 0, 3]
    assert board.view("gpu", False, "", 2.0).ranks == [2, 0, 1, 3]
    board.usage(1, None, None)  # a sample without figures: unknown again
    assert board.view("cpu", False, "", 2.0).ranks == [2, 0, 1, 3]
