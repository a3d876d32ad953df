"""Per-rank resource samples: parsing a line, following ``stats/rank-*.jsonl``,
per-host sums, table cells and staleness.

The tail is driven over real files in a temporary run directory, written the way
the wrapper writes them (one ``os.write`` per line on an ``O_APPEND`` descriptor),
and once by a separate writer process appending while the tail follows. ``now`` is
passed to ``poll`` so the 2 s rescan rule is checked without waiting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from ezpz_core.run.rankstats import (
    HISTORY_LEN,
    RESCAN_S,
    STATS_DIR,
    HostUsage,
    StatsTail,
    Usage,
    by_host,
    bytes_text,
    parse_sample,
    stale,
    usage_text,
)

T0 = 1764150000.0


def sample(rank: int, t: float, **fields: Any) -> dict[str, Any]:
    return {"t": t, "rank": rank, "host": "x1000c0s0b0n0", "pid": 1000 + rank, **fields}


def line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record) + "\n").encode()


def append(run_dir: Path, rank: int, data: bytes) -> None:
    """Append ``data`` to rank ``rank``'s stats file in one write, as the wrapper does."""
    stats = run_dir / STATS_DIR
    stats.mkdir(exist_ok=True)
    fd = os.open(stats / f"rank-{rank}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def stats_file(run_dir: Path, rank: int) -> Path:
    return run_dir / STATS_DIR / f"rank-{rank}.jsonl"


# -- parse_sample -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            b'{"t": 1764150000.12, "rank": 0, "host": "x1000c0s0b0n0", "pid": 1234, '
            b'"cpu": 98.5, "rss": 123456789, "threads": 12, "procs": 3}',
            Usage(1764150000.12, 0, "x1000c0s0b0n0", 98.5, 123456789, 12, 3),
        ),
        (
            b'{"t": 5, "rank": 7, "cpu": 250, "gpu": 87.0, "gpu_mem": 1234567890, '
            b'"gpu_src": "nvml", "gpu_dev": "0"}',
            Usage(5.0, 7, "", 250.0, gpu=87.0, gpu_mem=1234567890),
        ),
        (b'{"t": 5, "rank": 3}', Usage(5.0, 3)),
        (b'  {"t": 5, "rank": 3}\r', Usage(5.0, 3)),  # whitespace around is fine
        (b'{"t": 5, "rank": 3, "rss": 1.2e9}', Usage(5.0, 3, rss=1_200_000_000)),
    ],
    ids=["full", "gpu", "minimal", "whitespace", "whole-float-bytes"],
)
def test_a_sample_line_parses_to_usage(text: bytes, expected: Usage) -> None:
    assert parse_sample(text) == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cpu", "98%"),
        ("cpu", -1),
        ("cpu", float("nan")),
        ("rss", 1.5),
        ("rss", True),
        ("threads", "12"),
        ("gpu", None),
        ("gpu_mem", [1]),
        ("host", 12),
    ],
)
def test_an_optional_field_of_the_wrong_kind_is_dropped_not_the_sample(
    field: str, value: Any
) -> None:
    text = json.dumps({"t": 5, "rank": 1, "cpu": 10.0, field: value}).encode()
    parsed = parse_sample(text)
    assert parsed is not None and parsed.rank == 1
    assert getattr(parsed, field) == getattr(Usage(5.0, 1), field)  # the default
    if field != "cpu":
        assert parsed.cpu == 10.0


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"garbage",
        b'{"t": 5, "rank": 0',  # torn
        b"[1, 2]",
        b'"t"',
        b'{"rank": 0, "cpu": 1}',  # no time
        b'{"t": 5}',  # no rank
        b'{"t": "5", "rank": 0}',
        b'{"t": 5, "rank": -1}',
        b'{"t": 5, "rank": 1.0}',
        b'{"t": 5, "rank": true}',
        b'{"t": true, "rank": 0}',
        b'{"t": NaN, "rank": 0}',
        b'{"t": Infinity, "rank": 0}',
        b"\xff\xfe",
        b"[" * 100_000,  # too deep for json
    ],
    ids=repr,
)
def test_anything_not_a_sample_parses_to_none(text: bytes) -> None:
    assert parse_sample(text) is None


# -- StatsTail ----------------------------------------------------------------------


def test_samples_come_in_file_order_and_only_new_ones(tmp_path: Path) -> None:
    append(tmp_path, 0, line(sample(0, T0, cpu=1.0)) + line(sample(0, T0 + 2, cpu=2.0)))
    tail = StatsTail(tmp_path)
    assert [u.cpu for u in tail.poll(now=0.0)] == [1.0, 2.0]
    assert tail.poll(now=0.1) == []
    append(tmp_path, 0, line(sample(0, T0 + 4, cpu=3.0)))
    assert [u.cpu for u in tail.poll(now=0.2)] == [3.0]
    assert tail.latest[0].cpu == 3.0
    assert tail.latest[0].source == "wrapper"


def test_each_rank_file_is_followed_and_latest_is_per_rank(tmp_path: Path) -> None:
    for rank in (2, 0, 1):
        append(tmp_path, rank, line(sample(rank, T0, cpu=float(rank))))
        append(tmp_path, rank, line(sample(rank, T0 + 2, cpu=10.0 + rank)))
    tail = StatsTail(tmp_path)
    got = tail.poll(now=0.0)
    assert [(u.rank, u.cpu) for u in got] == [
        (0, 0.0),
        (0, 10.0),
        (1, 1.0),
        (1, 11.0),
        (2, 2.0),
        (2, 12.0),
    ]
    assert {rank: u.cpu for rank, u in tail.latest.items()} == {0: 10.0, 1: 11.0, 2: 12.0}


def test_a_torn_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    whole = line(sample(0, T0 + 2, cpu=55.0))
    append(tmp_path, 0, line(sample(0, T0, cpu=1.0)) + whole[:20])
    tail = StatsTail(tmp_path)
    assert [u.cpu for u in tail.poll(now=0.0)] == [1.0]
    assert tail.poll(now=0.1) == []
    assert tail.corrupt == 0
    append(tmp_path, 0, whole[20:])
    assert [u.cpu for u in tail.poll(now=0.2)] == [55.0]
    assert tail.corrupt == 0


def test_corrupt_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    data = (
        line(sample(0, T0, cpu=1.0))
        + b"not json\n"
        + b'{"t": 1, "rank": -4}\n'
        + b"\n"  # an empty line is nothing, not corrupt
        + line(sample(0, T0 + 2, cpu=2.0))
    )
    append(tmp_path, 0, data)
    tail = StatsTail(tmp_path)
    assert [u.cpu for u in tail.poll(now=0.0)] == [1.0, 2.0]
    assert tail.corrupt == 2


def test_a_file_that_appears_later_is_found_at_the_next_rescan(tmp_path: Path) -> None:
    tail = StatsTail(tmp_path)
    assert tail.poll(now=0.0) == []
    assert not tail.seen  # no stats directory at all
    append(tmp_path, 0, line(sample(0, T0)))
    assert tail.poll(now=0.5) == []  # listed at most every RESCAN_S
    assert [u.rank for u in tail.poll(now=RESCAN_S)] == [0]
    assert tail.seen
    append(tmp_path, 5, line(sample(5, T0)))  # a rank starting late
    append(tmp_path, 0, line(sample(0, T0 + 2)))
    assert [u.rank for u in tail.poll(now=RESCAN_S + 1)] == [0]
    assert [u.rank for u in tail.poll(now=2 * RESCAN_S + 0.1)] == [5]
    assert sorted(tail.latest) == [0, 5]


def test_other_files_in_the_stats_directory_are_ignored(tmp_path: Path) -> None:
    stats = tmp_path / STATS_DIR
    stats.mkdir()
    (stats / "rank-x.jsonl").write_bytes(line(sample(1, T0)))
    (stats / "rank-1.jsonl.tmp").write_bytes(line(sample(1, T0)))
    (stats / "notes.txt").write_bytes(line(sample(1, T0)))
    tail = StatsTail(tmp_path)
    assert tail.poll(now=0.0) == []
    assert not tail.seen


def test_a_truncated_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    append(tmp_path, 0, b"".join(line(sample(0, T0 + i, cpu=float(i))) for i in range(5)))
    tail = StatsTail(tmp_path)
    assert len(tail.poll(now=0.0)) == 5
    stats_file(tmp_path, 0).write_bytes(line(sample(0, T0 + 100, cpu=99.0)))  # shorter
    assert [u.cpu for u in tail.poll(now=0.1)] == [99.0]
    assert tail.restarts == 1


def test_a_replaced_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    append(tmp_path, 0, line(sample(0, T0, cpu=1.0)))
    tail = StatsTail(tmp_path)
    assert len(tail.poll(now=0.0)) == 1
    new = tmp_path / STATS_DIR / ".rank-0.new"
    new.write_bytes(b"".join(line(sample(0, T0 + 50 + i, cpu=50.0 + i)) for i in range(3)))
    os.replace(new, stats_file(tmp_path, 0))  # a new inode, longer than the old file
    assert [u.cpu for u in tail.poll(now=0.1)] == [50.0, 51.0, 52.0]


def test_a_file_rewritten_in_place_and_longer_is_read_again(tmp_path: Path) -> None:
    append(tmp_path, 0, line(sample(0, T0, cpu=1.0)))
    tail = StatsTail(tmp_path)
    assert len(tail.poll(now=0.0)) == 1
    path = stats_file(tmp_path, 0)
    inode = path.stat().st_ino
    with open(path, "r+b") as handle:  # same inode, new first line, grown between polls
        handle.truncate(0)
        handle.write(b"".join(line(sample(0, T0 + 90 + i, cpu=90.0 + i)) for i in range(3)))
    assert path.stat().st_ino == inode
    assert [u.cpu for u in tail.poll(now=0.1)] == [90.0, 91.0, 92.0]


def test_one_poll_reads_at_most_max_bytes_over_all_files(tmp_path: Path) -> None:
    one = line(sample(0, T0, cpu=1.0))
    for rank in range(4):
        append(tmp_path, rank, b"".join(line(sample(rank, T0 + i)) for i in range(10)))
    budget = 3 * len(one)  # three lines' worth: every line is about this long
    tail = StatsTail(tmp_path, max_bytes=budget)
    seen: list[Usage] = []
    polls = 0
    while len(seen) < 40:
        got = tail.poll(now=polls * 0.01)
        # at most ``budget`` bytes read; a line torn at its edge is completed by
        # the next poll, so what a poll returns may hold one line read before
        assert sum(len(line(sample(u.rank, u.t))) for u in got) <= budget + len(one)
        assert got, "a poll with bytes waiting read nothing"
        seen += got
        polls += 1
        assert polls < 100
    per_rank = {r: [u.t for u in seen if u.rank == r] for r in range(4)}
    assert per_rank == {r: [T0 + i for i in range(10)] for r in range(4)}  # each in order


def test_the_budget_turns_round_so_a_busy_file_cannot_starve_others(tmp_path: Path) -> None:
    append(tmp_path, 0, b"".join(line(sample(0, T0 + i)) for i in range(200)))
    append(tmp_path, 1, line(sample(1, T0)))
    tail = StatsTail(tmp_path, max_bytes=10 * len(line(sample(0, T0))))
    ranks: set[int] = set()
    for i in range(2):
        ranks |= {u.rank for u in tail.poll(now=i * 0.01)}
    assert ranks == {0, 1}


def test_a_line_longer_than_max_bytes_is_skipped_and_counted_once(tmp_path: Path) -> None:
    huge = json.dumps({"t": T0, "rank": 0, "junk": "x" * 5000}).encode() + b"\n"
    append(tmp_path, 0, huge + line(sample(0, T0 + 2, cpu=7.0)))
    tail = StatsTail(tmp_path, max_bytes=1000)
    got: list[Usage] = []
    for i in range(10):
        got += tail.poll(now=i * 0.01)
    assert [u.cpu for u in got] == [7.0]
    assert tail.corrupt == 1


def test_history_keeps_t_cpu_gpu_per_rank_bounded(tmp_path: Path) -> None:
    append(tmp_path, 0, line(sample(0, T0, cpu=5.0, gpu=80.0)) + line(sample(0, T0 + 2)))
    tail = StatsTail(tmp_path)
    tail.poll(now=0.0)
    assert list(tail.history[0]) == [(T0, 5.0, 80.0), (T0 + 2, None, None)]
    assert isinstance(tail.history[0], deque) and tail.history[0].maxlen == HISTORY_LEN == 1800
    small = StatsTail(tmp_path, history_len=1)
    small.poll(now=0.0)
    assert list(small.history[0]) == [(T0 + 2, None, None)]


def test_a_missing_run_dir_is_no_samples(tmp_path: Path) -> None:
    tail = StatsTail(tmp_path / "nope")
    assert tail.poll() == []
    assert not tail.seen and tail.latest == {} and tail.corrupt == 0


WRITER = textwrap.dedent(
    """
    import json, os, sys, time
    path, count = sys.argv[1], int(sys.argv[2])
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for i in range(count):
        data = (json.dumps({"t": 1764150000.0 + i, "rank": 3, "cpu": float(i)}) + "\\n").encode()
        # a line in two writes, so the reader also meets torn lines
        os.write(fd, data[:10])
        os.write(fd, data[10:])
    os.close(fd)
    """
)


def test_samples_appended_by_another_process_while_followed_all_arrive_in_order(
    tmp_path: Path,
) -> None:
    (tmp_path / STATS_DIR).mkdir()
    count = 2000
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(stats_file(tmp_path, 3)), str(count)]
    )
    tail = StatsTail(tmp_path)
    got: list[Usage] = []
    polls = 0
    deadline = time.monotonic() + 30
    try:
        while len(got) < count and time.monotonic() < deadline:
            got += tail.poll(now=polls * RESCAN_S)  # rescan every poll: the file is new
            polls += 1
            time.sleep(0.001)  # poll interval, not a wait for the writer
    finally:
        assert writer.wait(timeout=30) == 0
    got += tail.poll(now=polls * RESCAN_S)
    assert [u.cpu for u in got] == [float(i) for i in range(count)]
    assert tail.corrupt == 0


# -- by_host ------------------------------------------------------------------------


def u(rank: int, host: str = "", t: float = T0, **fields: Any) -> Usage:
    return Usage(t=t, rank=rank, host=host, **fields)


@pytest.mark.parametrize(
    ("latest", "host_of", "expected"),
    [
        ({}, None, []),
        (
            {
                0: u(0, "b", cpu=100.0, rss=10, gpu=80.0, gpu_mem=5),
                1: u(1, "b", t=T0 + 1, cpu=50.0, rss=20, gpu=40.0, gpu_mem=7),
                2: u(2, "a", cpu=10.0, rss=1),
            },
            None,
            [
                HostUsage("a", 1, 10.0, 1, None, None, T0),
                HostUsage("b", 2, 150.0, 30, 60.0, 12, T0 + 1),
            ],
        ),
        (  # the GPU mean is over the ranks that report one
            {0: u(0, "h", gpu=90.0), 1: u(1, "h", cpu=3.0)},
            None,
            [HostUsage("h", 2, 3.0, None, 90.0, None, T0)],
        ),
        (  # no host in the sample: the placement says; else "?"
            {0: u(0, cpu=1.0), 1: u(1, cpu=2.0), 2: u(2, "given", cpu=4.0), 3: u(3, cpu=8.0)},
            {0: "n0", 1: "n0", 2: "placed-elsewhere"}.get,
            [
                HostUsage("?", 1, 8.0, None, None, None, T0),
                HostUsage("given", 1, 4.0, None, None, None, T0),
                HostUsage("n0", 2, 3.0, None, None, None, T0),
            ],
        ),
        (
            {0: u(0), 1: u(1)},
            None,
            [HostUsage("?", 2, None, None, None, None, T0)],
        ),
    ],
    ids=["none", "sums-and-mean", "gpu-mean-of-reporters", "host-fallbacks", "unknown"],
)
def test_by_host(latest: dict[int, Usage], host_of: Any, expected: list[HostUsage]) -> None:
    assert by_host(latest, host_of) == expected


# -- cells and staleness ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (None, ("-", "-", "-")),
        (u(0), ("-", "-", "-")),
        (
            u(0, cpu=98.4, rss=int(1.2 * 2**30), gpu=87.0, gpu_mem=40 * 2**30),
            ("98%", "1.2G", "87% 40G"),
        ),
        (u(0, cpu=412.6, rss=123456789), ("413%", "118M", "-")),
        (u(0, cpu=0.2, rss=0, gpu=0.0), ("0%", "0B", "0%")),
        (u(0, gpu_mem=512 * 2**20), ("-", "-", "512M")),
    ],
)
def test_usage_text(usage: Usage | None, expected: tuple[str, str, str]) -> None:
    assert usage_text(usage) == expected


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (999, "999B"),
        (1000, "1.0K"),
        (9 * 2**20 + 2**19, "9.5M"),
        (10 * 2**20, "10M"),
        (999 * 2**20, "999M"),
        (1023 * 2**20, "1.0G"),
        (80 * 2**30, "80G"),
        (3 * 2**40, "3.0T"),
        (5000 * 2**50, "5000P"),
    ],
)
def test_bytes_text(size: int, text: str) -> None:
    assert bytes_text(size) == text


@pytest.mark.parametrize(
    ("age", "every", "is_stale"),
    [(0.0, 2.0, False), (6.0, 2.0, False), (6.01, 2.0, True), (29.0, 10.0, False), (31, 10, True)],
)
def test_stale_after_three_sample_periods(age: float, every: float, is_stale: bool) -> None:
    assert stale(u(0, t=T0), T0 + age, every) is is_stale
