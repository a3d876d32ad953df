"""The console's line index over growing log files, and the row bitmap of a view.

The index must give back exactly the file's lines (bytes, invalid UTF-8 kept)
whatever the order of reads, index only whole lines while a job writes, and start
over when the file is truncated or replaced. A ``RowSet`` must answer row <-> line
like a plain list of row line numbers would.
"""

from __future__ import annotations

import os
import random
from bisect import bisect_right
from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path

import pytest

from ezpz_tui.watch.lineindex import STRIDE, LineIndex
from ezpz_tui.watch.rowset import RowSet

SEED = 20261126


def random_lines(rng: random.Random, n: int) -> list[bytes]:
    """Lines of varied length: empty ones, invalid UTF-8, some longer than a block."""
    out = []
    for i in range(n):
        pick = rng.random()
        if pick < 0.05:
            out.append(b"")
        elif pick < 0.10:
            out.append(b"\xff\xfe bad utf-8 \xc3" + bytes([rng.randrange(128, 256)]))
        elif pick < 0.12:
            out.append(b"x" * rng.randrange(2000, 9000))
        else:
            out.append(b"step=%d loss=%.4f rank %d" % (i, rng.random(), rng.randrange(1024)))
    return out


def starts_of(lines: list[bytes]) -> list[int]:
    """Byte offset of each line start, and of the end, in the file of ``lines``."""
    return [0, *accumulate(len(line) + 1 for line in lines)]


def drain(index: LineIndex, max_bytes: int = 1 << 20) -> list[bytes]:
    """Everything update() has to give now."""
    got: list[bytes] = []
    while True:
        first, lines = index.update(max_bytes=max_bytes)
        assert first == index.count - len(lines)
        if not lines:
            return got
        got += lines


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "rank-0.log"


@pytest.fixture
def index(log: Path) -> Iterator[LineIndex]:
    with LineIndex(log) as index:
        yield index


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


# -- growing files ----------------------------------------------------------------


def test_a_missing_file_has_no_lines_until_it_appears(log: Path, index: LineIndex) -> None:
    assert index.update() == (0, [])
    append(log, b"hello\n")
    assert index.update() == (0, [b"hello"])


def test_half_a_line_waits_for_its_newline(log: Path, index: LineIndex) -> None:
    append(log, b"first\nsec")
    assert index.update() == (0, [b"first"])
    assert index.update() == (1, [])
    assert index.count == 1
    assert index.end == len(b"first\n")
    append(log, b"ond half\nthi")
    assert index.update() == (1, [b"second half"])
    append(log, b"rd\n")
    assert index.update() == (2, [b"third"])
    assert index.lines(0, 3) == [b"first", b"second half", b"third"]


def test_update_reads_only_new_bytes_in_bounded_steps(log: Path, index: LineIndex) -> None:
    lines = [b"line %04d" % i for i in range(500)]
    append(log, b"".join(line + b"\n" for line in lines))
    first, batch = index.update(max_bytes=100)
    assert first == 0
    assert 0 < len(batch) <= 10  # 100 bytes hold at most ten 10-byte lines
    assert batch == lines[: len(batch)]
    assert drain(index, max_bytes=1000) == lines[len(batch) :]


def test_a_line_longer_than_max_bytes_comes_whole(log: Path, index: LineIndex) -> None:
    long = b"y" * 10_000
    append(log, long + b"\nnext\n")
    assert index.update(max_bytes=1000) == (0, [long])
    assert index.update(max_bytes=1000) == (1, [b"next"])
    assert index.line(0) == long


def test_final_takes_a_last_line_without_newline(log: Path, index: LineIndex) -> None:
    append(log, b"a\nb\nunfinished")
    assert index.update() == (0, [b"a", b"b"])
    assert index.update(final=True) == (2, [b"unfinished"])
    assert index.lines(0, 5) == [b"a", b"b", b"unfinished"]
    assert index.offset_of(3) == os.path.getsize(log)


def test_a_final_line_that_grows_after_all_starts_over(log: Path, index: LineIndex) -> None:
    append(log, b"a\nhalf")
    index.update(final=True)
    append(log, b" and more\n")
    assert index.update() == (0, [b"a", b"half and more"])
    assert index.resets == 1


# -- truncation and replacement --------------------------------------------------------------


def test_a_truncated_file_is_indexed_again_from_the_start(log: Path, index: LineIndex) -> None:
    append(log, b"one\ntwo\nthree\n")
    drain(index)
    log.write_bytes(b"new\n")
    assert index.update() == (0, [b"new"])
    assert index.resets == 1
    assert index.count == 1
    assert index.lines(0, 10) == [b"new"]


def test_a_file_emptied_resets_to_no_lines(log: Path, index: LineIndex) -> None:
    append(log, b"one\ntwo\n")
    drain(index)
    log.write_bytes(b"")
    assert index.update() == (0, [])
    assert (index.count, index.end, index.resets) == (0, 0, 1)


def test_a_file_rewritten_past_the_old_end_is_noticed(log: Path, index: LineIndex) -> None:
    append(log, b"aaaa\nbbbb\n")
    drain(index)
    log.write_bytes(b"ccccccc\nddddddd\n")  # same inode; the old end is now mid-line
    assert index.update() == (0, [b"ccccccc", b"ddddddd"])
    assert index.resets == 1


def test_a_replaced_file_is_read_from_its_start(log: Path, index: LineIndex) -> None:
    append(log, b"old 1\nold 2\nold 3\n")
    drain(index)
    fresh = log.with_name("fresh")
    fresh.write_bytes(b"rotated 1\nrotated 2\nrotated 3 and longer\n")
    os.replace(fresh, log)
    assert drain(index) == [b"rotated 1", b"rotated 2", b"rotated 3 and longer"]
    assert index.resets == 1
    assert index.line(0) == b"rotated 1"


def test_a_deleted_file_stays_readable(log: Path, index: LineIndex) -> None:
    append(log, b"kept\n")
    drain(index)
    log.unlink()
    assert index.update() == (1, [])
    assert index.line(0) == b"kept"


# -- random access against a reference ----------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_blocks", "cache_bytes"), [(1, 1 << 20), (256, 1000), (256, 1 << 24)]
)
def test_random_reads_match_the_reference_lines(
    log: Path, index: LineIndex, cache_blocks: int, cache_bytes: int
) -> None:
    rng = random.Random(SEED)
    lines = random_lines(rng, 3000)
    data = b"".join(line + b"\n" for line in lines)
    index = LineIndex(log, cache_blocks=cache_blocks, cache_bytes=cache_bytes)
    # written in pieces that cut lines anywhere, indexed in random steps as it grows
    pos = 0
    while pos < len(data):
        step = rng.randrange(1, 40_000)
        append(log, data[pos : pos + step])
        pos += step
        index.update(max_bytes=rng.randrange(1, 60_000))
    drain(index, max_bytes=rng.randrange(1, 60_000))
    assert index.count == len(lines)
    assert index.end == len(data)
    starts = starts_of(lines)
    for _ in range(400):
        a = rng.randrange(0, len(lines) + 5)
        b = a + rng.randrange(0, 3 * STRIDE)
        assert index.lines(a, b) == lines[a:b]
        i = rng.randrange(len(lines))
        assert index.line(i) == lines[i]
        assert index.offset_of(i) == starts[i]
        byte = rng.randrange(len(data))
        assert index.line_at_offset(byte) == bisect_right(starts, byte) - 1
    assert index.lines(0, len(lines)) == lines
    index.close()


def test_offsets_at_the_edges(log: Path, index: LineIndex) -> None:
    append(log, b"ab\ncd\n")
    drain(index)
    assert [index.offset_of(i) for i in range(3)] == [0, 3, 6]
    assert index.line_at_offset(-5) == 0
    assert index.line_at_offset(2) == 0  # the newline belongs to its line
    assert index.line_at_offset(3) == 1
    assert index.line_at_offset(6) == 2  # at the end: the next line
    with pytest.raises(IndexError):
        index.line(2)
    with pytest.raises(IndexError):
        index.offset_of(3)


def test_the_index_keeps_one_offset_per_stride(log: Path, index: LineIndex) -> None:
    append(log, b"".join(b"%d\n" % i for i in range(10 * STRIDE + 3)))
    drain(index, max_bytes=777)
    assert index.count == 10 * STRIDE + 3
    assert index.nbytes == 8 * 11  # lines 0, 64, ..., 640


# -- reading without the index -------------------------------------------------------------------


def test_tail_reads_the_last_whole_lines(log: Path, index: LineIndex) -> None:
    lines = [b"line %d" % i + b"." * (i % 50) for i in range(20_000)]
    data = b"".join(line + b"\n" for line in lines)
    append(log, data + b"partial")
    chunk = index.tail(50)
    assert chunk.lines == lines[-50:]
    assert chunk.end == len(data)
    assert chunk.start == starts_of(lines)[-51]
    assert index.count == 0  # the index is not touched
    assert index.tail(10**6).lines == lines


def test_scan_from_starts_at_the_next_line_start(log: Path, index: LineIndex) -> None:
    append(log, b"zero\none\ntwo\nthree\n")
    assert index.scan_from(0, 9).lines == [b"zero", b"one"]
    mid = index.scan_from(2)  # inside "zero": skipped
    assert (mid.start, mid.lines) == (5, [b"one", b"two", b"three"])
    at = index.scan_from(5, 4)  # "one\n" exactly
    assert (at.start, at.end, at.lines) == (5, 9, [b"one"])
    assert index.scan_from(100).lines == []


# -- RowSet ------------------------------------------------------------------------------------


def reference_rows(flags: list[bool]) -> list[int]:
    return [i for i, flag in enumerate(flags) if flag]


@pytest.mark.parametrize("density", [0.0, 0.01, 0.3, 0.9, 1.0])
def test_rowset_matches_a_list_of_row_lines(density: float) -> None:
    rng = random.Random(SEED)
    rows = RowSet()
    flags: list[bool] = []
    while len(flags) < 5000:  # batches of every size, most not multiples of 8 or 64
        batch = [
            rng.random() < density for _ in range(rng.choice([0, 1, 3, 7, 8, 63, 64, 65, 500]))
        ]
        rows.extend(batch)
        flags += batch
    ref = reference_rows(flags)
    assert rows.rows == len(ref)
    assert rows.lines_count == len(flags)
    assert [rows.line_of(r) for r in range(len(ref))] == ref
    for line in range(len(flags)):
        assert rows.row_of(line) == bisect_right(ref, line) - 1
        assert rows.is_row(line) == flags[line]
    for _ in range(200):
        a = rng.randrange(len(ref) + 2)
        b = a + rng.randrange(80)
        assert rows.lines_of(a, b) == ref[a:b]


def test_rowset_row_of_is_the_row_at_or_before() -> None:
    rows = RowSet()
    rows.extend([False, True, False, False, True])
    assert [rows.row_of(line) for line in range(-1, 7)] == [-1, -1, 0, 0, 0, 1, 1, 1]


def test_rowset_empty_has_no_rows() -> None:
    rows = RowSet()
    assert (rows.rows, rows.lines_count, rows.row_of(0)) == (0, 0, -1)
    assert rows.lines_of(0, 10) == []
    with pytest.raises(IndexError):
        rows.line_of(0)


def test_rowset_takes_bytes_and_clears() -> None:
    rows = RowSet()
    rows.extend(b"\x01" * 100)
    rows.extend(bytes([0, 1, 0, 2]))  # any non-zero byte is a row
    assert rows.rows == 102
    assert rows.line_of(101) == 103
    rows.clear()
    assert (rows.rows, rows.lines_count) == (0, 0)


def test_rowset_costs_under_two_bits_a_line() -> None:
    rows = RowSet()
    n = 1_000_000
    rows.extend([i % 5 == 0 for i in range(n)])
    assert rows.rows == n // 5
    assert rows.nbytes * 8 / n < 2.0
    assert rows.line_of(rows.rows - 1) == n - 5
