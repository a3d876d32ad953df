"""``LineTail``: the new whole lines of a growing file, on real files."""

from __future__ import annotations

import os
from pathlib import Path

from ezpz_core.tail import LineTail


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def test_a_missing_file_reads_as_nothing_until_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "f"
    tail = LineTail(path)
    assert tail.read() == [] and tail.unchanged()
    append(path, b"a\n")
    assert not tail.unchanged()
    assert tail.read() == [b"a"]
    assert tail.unchanged() and tail.behind == 0


def test_a_torn_line_waits_for_its_newline_or_for_final(tmp_path: Path) -> None:
    path = tmp_path / "f"
    append(path, b"one\ntw")
    tail = LineTail(path)
    assert tail.read() == [b"one"]
    assert tail.offset == path.stat().st_size  # the torn part is held, not read again
    append(path, b"o\nthr")
    assert tail.read() == [b"two"]
    assert tail.read(final=True) == [b"thr"]
    assert tail.read(final=True) == []


def test_reads_are_bounded_by_the_chunk_and_the_budget_and_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "f"
    lines = [f"line {i:04d} ".encode() * (1 + i % 5) for i in range(300)]
    append(path, b"".join(line + b"\n" for line in lines))
    tail = LineTail(path, chunk=100)
    got: list[bytes] = []
    while tail.behind or not got:
        before = tail.offset
        got += tail.read(budget=70 if len(got) % 2 else None)
        assert 0 < tail.offset - before <= 100
    assert got == lines


def test_truncated_replaced_or_rewritten_files_are_read_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "f"
    append(path, b"a\nb\n")
    tail = LineTail(path)
    assert tail.read() == [b"a", b"b"]
    path.write_bytes(b"c\n")  # truncated
    assert tail.read() == [b"c"] and tail.restarts == 1
    other = tmp_path / "g"
    other.write_bytes(b"d\ne\n")
    os.replace(other, path)  # a new inode
    assert tail.read() == [b"d", b"e"] and tail.restarts == 2
    with open(path, "r+b") as handle:  # same inode, new first bytes, longer
        handle.write(b"X\nY\nZ\n")
    assert tail.read() == [b"X", b"Y", b"Z"] and tail.restarts == 3


def test_a_line_longer_than_max_line_is_dropped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "f"
    append(path, b"short\n" + b"x" * 50)
    tail = LineTail(path, chunk=16, max_line=20)
    got: list[bytes] = []
    for _ in range(10):
        got += tail.read()
    append(path, b"x" * 30 + b"\nafter\n")
    for _ in range(10):
        got += tail.read()
    assert got == [b"short", b"after"]
    assert tail.overlong == 1
