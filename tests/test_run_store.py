"""The run directory: combined.log byte for byte, per-rank logs, stats, first error.

Nothing is filtered on disk; rank files are appended in batches so that a 1,024-rank
job never holds 1,024 open files.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ezpz_core.run import store as store_module
from ezpz_core.run.events import LAUNCHER, Line, RankExited
from ezpz_core.run.store import AttemptStore, FirstError, RankStats, new_run_dir, write_json

NOW = time.mktime((2026, 11, 26, 12, 2, 11, 0, 0, -1))
STAMP = "20261126-120211"


def lines(rank: int, *texts: str, stream: str = "stdout") -> list[Line]:
    return [Line(rank, stream, text, 0.0) for text in texts]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AttemptStore]:
    store = AttemptStore(tmp_path / "run")
    yield store
    store.close()


# -- new_run_dir ----------------------------------------------------------------


def test_run_dir_is_named_after_the_time_and_the_job_id(tmp_path: Path) -> None:
    path = new_run_dir(tmp_path, "8414055.aurora-pbs-0001", now=NOW)
    assert path == tmp_path / f"{STAMP}-8414055.aurora-pbs-0001"
    assert path.is_dir()


def test_run_dir_outside_a_job_is_local(tmp_path: Path) -> None:
    assert new_run_dir(tmp_path, None, now=NOW) == tmp_path / f"{STAMP}-local"


def test_run_dir_creates_missing_parents(tmp_path: Path) -> None:
    path = new_run_dir(tmp_path / "outputs" / "ezpz-tui", "42", now=NOW)
    assert path.is_dir()
    assert path.parent == tmp_path / "outputs" / "ezpz-tui"


def test_run_dir_taken_gets_a_numbered_suffix(tmp_path: Path) -> None:
    first = new_run_dir(tmp_path, "42", now=NOW)
    second = new_run_dir(tmp_path, "42", now=NOW)
    third = new_run_dir(tmp_path, "42", now=NOW)
    assert (first.name, second.name, third.name) == (
        f"{STAMP}-42",
        f"{STAMP}-42-2",
        f"{STAMP}-42-3",
    )
    assert second.is_dir() and third.is_dir()


def test_run_dir_without_a_time_uses_now(tmp_path: Path) -> None:
    before = time.strftime("%Y%m%d-%H%M%S")
    path = new_run_dir(tmp_path, None)
    after = time.strftime("%Y%m%d-%H%M%S")
    stamp = path.name.removesuffix("-local")
    assert before <= stamp <= after


# -- AttemptStore: files --------------------------------------------------------


def test_store_creates_the_ranks_directory(tmp_path: Path) -> None:
    store = AttemptStore(tmp_path / "attempt-1")
    store.close()
    assert (tmp_path / "attempt-1" / "ranks").is_dir()


def test_raw_bytes_go_to_combined_log_unchanged(store: AttemptStore) -> None:
    chunks = [b"@ezpz:0:o|hi\n", b"[1,1]<stdout>: 10%\r20%\r\n", b"bad \xff\xfe", b" tail"]
    for chunk in chunks:
        store.raw(chunk)
    store.flush(wait=True, final=True)  # final: the unfinished " tail" goes too
    assert (store.directory / "combined.log").read_bytes() == b"".join(chunks)


# -- AttemptStore: combined.log line-aligned per stream -------------------------


def combined(store: AttemptStore) -> bytes:
    return (store.directory / "combined.log").read_bytes()


def test_a_partial_line_waits_while_the_other_stream_s_lines_pass(store: AttemptStore) -> None:
    store.raw(b"[1,0]<stdout>: half a", "stdout")
    store.raw(b"[1,1]<stderr>: a whole line\n", "stderr")
    store.flush(wait=True)
    assert combined(store) == b"[1,1]<stderr>: a whole line\n"
    store.raw(b" line\n[1,0]<stdout>: next\n", "stdout")
    store.flush(wait=True)
    assert combined(store) == (
        b"[1,1]<stderr>: a whole line\n[1,0]<stdout>: half a line\n[1,0]<stdout>: next\n"
    )


def test_a_line_in_many_pieces_is_written_whole(store: AttemptStore) -> None:
    for piece in (b"one", b" two", b" three"):
        store.raw(piece, "stdout")
        store.raw(b"err\n", "stderr")
    store.raw(b"\n", "stdout")
    store.flush(wait=True)
    assert combined(store) == b"err\nerr\nerr\none two three\n"


def test_what_is_held_at_the_end_is_written_at_close(tmp_path: Path) -> None:
    store = AttemptStore(tmp_path)
    store.raw(b"line\nno newline at the end", "stdout")
    store.raw(b"nor here", "stderr")
    store.flush(wait=True)
    assert (tmp_path / "combined.log").read_bytes() == b"line\n"
    store.close()  # every byte arrives, in the order the streams began their lines
    assert (tmp_path / "combined.log").read_bytes() == b"line\nno newline at the endnor here"


def test_a_partial_line_over_the_limit_is_written_anyway(
    store: AttemptStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory stays bounded: a line that never ends is not held for ever."""
    monkeypatch.setattr(store_module, "MAX_HELD", 10)
    store.raw(b"0123456789abc", "stdout")
    store.flush(wait=True)
    assert combined(store) == b"0123456789abc"


def test_written_counts_the_bytes_and_lines_of_combined_log(store: AttemptStore) -> None:
    assert store.written == (0, 0)
    store.raw(b"a\nbb\ncc", "stdout")
    store.raw(b"dd\n", "stderr")
    store.flush(wait=True)
    assert store.written == (len(b"a\nbb\ndd\n"), 3) == (len(combined(store)), 3)
    store.close()
    assert store.written == (len(combined(store)), 3)  # "cc" came last, without a newline


def test_lines_go_to_rank_logs_label_stripped_one_per_line_in_order(store: AttemptStore) -> None:
    store.add(lines(0, "r0 a", "r0 b") + lines(1, "r1 a") + lines(0, "r0 c"))
    store.flush(wait=True)
    ranks = store.directory / "ranks"
    assert (ranks / "rank-0.log").read_text() == "r0 a\nr0 b\nr0 c\n"
    assert (ranks / "rank-1.log").read_text() == "r1 a\n"


def test_launcher_lines_go_to_launcher_log(store: AttemptStore) -> None:
    store.add(lines(LAUNCHER, "srun: error: vm: task 1: Exited with exit code 3", stream="stderr"))
    store.flush(wait=True)
    assert store.rank_log(LAUNCHER) == store.directory / "ranks" / "launcher.log"
    assert store.rank_log(LAUNCHER).read_text() == (
        "srun: error: vm: task 1: Exited with exit code 3\n"
    )


def test_lines_reach_the_rank_logs_only_after_flush(store: AttemptStore) -> None:
    store.add(lines(0, "pending"))
    assert not store.rank_log(0).exists()
    store.flush(wait=True)
    assert store.rank_log(0).read_text() == "pending\n"


def test_flushes_append_in_order(store: AttemptStore) -> None:
    store.add(lines(2, "one"))
    store.flush(wait=True)
    store.add(lines(2, "two", "three"))
    store.flush(wait=True)
    store.flush(wait=True)
    assert store.rank_log(2).read_text() == "one\ntwo\nthree\n"


def test_close_flushes_pending_lines(tmp_path: Path) -> None:
    store = AttemptStore(tmp_path)
    store.add(lines(0, "last words"))
    store.raw(b"raw")
    store.close()
    assert store.rank_log(0).read_text() == "last words\n"
    assert (tmp_path / "combined.log").read_bytes() == b"raw"


def test_empty_and_unicode_lines_are_kept(store: AttemptStore) -> None:
    store.add(lines(0, "", "caf\u00e9 \ufffd", ""))
    store.flush(wait=True)
    assert store.rank_log(0).read_bytes() == "\ncaf\u00e9 \ufffd\n\n".encode()


# -- AttemptStore: stats --------------------------------------------------------


def test_stats_count_lines_and_bytes(store: AttemptStore) -> None:
    store.add(lines(0, "ab", "caf\u00e9"))
    store.flush(wait=True)
    store.add(lines(0, ""))
    store.flush(wait=True)
    stats = store.stats[0]
    assert stats.lines == 3
    assert stats.bytes == len("ab\ncaf\u00e9\n\n".encode()) == store.rank_log(0).stat().st_size


def test_stats_keep_the_last_line(store: AttemptStore) -> None:
    store.add(lines(3, "first", "second"))
    store.flush(wait=True)
    store.add(lines(3, "step=10 loss=0.5"))
    store.flush(wait=True)
    assert store.stats[3].last_line == "step=10 loss=0.5"


def test_stats_last_line_is_truncated_to_500_characters(store: AttemptStore) -> None:
    store.add(lines(0, "x" * 2000))
    store.flush(wait=True)
    assert store.stats[0].last_line == "x" * 500


def test_stats_are_per_rank_and_for_the_launcher(store: AttemptStore) -> None:
    store.add(lines(0, "a") + lines(1, "b", "c") + lines(LAUNCHER, "launcher"))
    store.flush(wait=True)
    assert {rank: s.lines for rank, s in store.stats.items()} == {0: 1, 1: 2, LAUNCHER: 1}


def test_stats_to_json() -> None:
    assert RankStats(2, 10, "last", 3).to_json() == {
        "lines": 2,
        "bytes": 10,
        "last_line": "last",
        "exit_code": 3,
    }


def test_exit_codes_are_recorded_from_rank_exits(store: AttemptStore) -> None:
    store.add(lines(1, "about to fail"))
    store.flush(wait=True)
    store.exited(RankExited(1, 3))
    store.exited(RankExited(2, -9))
    assert store.stats[1].exit_code == 3
    assert store.stats[1].lines == 1
    assert store.stats[2].exit_code == -9
    assert store.stats[2].lines == 0


def test_exit_code_of_a_rank_without_exit_is_none(store: AttemptStore) -> None:
    store.add(lines(0, "x"))
    store.flush(wait=True)
    assert store.stats[0].exit_code is None


# -- AttemptStore: first error --------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Traceback (most recent call last):",
        "RuntimeError: x",
        "torch.OutOfMemoryError: XPU out of memory. Tried to allocate 2.00 GiB",
        "ValueError: bad value",
        "my.module.CustomException: bad",
        "ERROR: something failed",
        "FATAL: no device",
        "Segmentation fault (core dumped)",
    ],
)
def test_first_error_is_found(store: AttemptStore, text: str) -> None:
    store.add(lines(0, "step=1 loss=0.5", text))
    store.flush(wait=True)
    assert store.first_error == FirstError(0, 2, text)


@pytest.mark.parametrize(
    "text",
    [
        "step=10 loss=0.5 error_rate=0.01",
        "validation errors: 0",
        "no errors found",
        "using ErrorFeedback optimizer",
    ],
)
def test_training_lines_are_not_errors(store: AttemptStore, text: str) -> None:
    store.add(lines(0, text))
    store.flush(wait=True)
    assert store.first_error is None


def test_first_error_line_number_counts_across_flushes(store: AttemptStore) -> None:
    store.add(lines(1, "a", "b"))
    store.flush(wait=True)
    store.add(lines(1, "c"))
    store.flush(wait=True)
    store.add(
        lines(1, "d", "Traceback (most recent call last):", "  File 'x.py'", "RuntimeError: x")
    )
    store.flush(wait=True)
    assert store.first_error == FirstError(1, 5, "Traceback (most recent call last):")
    assert store.rank_log(1).read_text().splitlines()[4] == "Traceback (most recent call last):"


def test_first_error_names_the_rank_that_printed_it(store: AttemptStore) -> None:
    store.add(lines(0, "fine", "fine too"))
    store.add(lines(3, "ok", "RuntimeError: x"))
    store.flush(wait=True)
    assert store.first_error == FirstError(3, 2, "RuntimeError: x")


def test_first_error_is_kept_when_later_errors_come(store: AttemptStore) -> None:
    store.add(lines(2, "RuntimeError: first"))
    store.flush(wait=True)
    store.add(lines(0, "RuntimeError: second"))
    store.add(lines(2, "RuntimeError: third"))
    store.flush(wait=True)
    assert store.first_error == FirstError(2, 1, "RuntimeError: first")


def test_launcher_lines_are_never_the_first_error(store: AttemptStore) -> None:
    store.add(lines(LAUNCHER, "srun: error: vm: task 1: Exited with exit code 3"))
    store.add(lines(LAUNCHER, "ERROR: launcher"))
    store.flush(wait=True)
    assert store.first_error is None
    store.add(lines(1, "RuntimeError: x"))
    store.flush(wait=True)
    assert store.first_error == FirstError(1, 1, "RuntimeError: x")


@pytest.mark.parametrize("blank", ["", "   "])
def test_first_error_after_a_blank_line_names_the_error_line(
    store: AttemptStore, blank: str
) -> None:
    store.add(lines(0, "ok", blank, "RuntimeError: x"))
    store.flush(wait=True)
    assert store.first_error == FirstError(0, 3, "RuntimeError: x")


def test_indented_error_line_is_found_with_its_indent(store: AttemptStore) -> None:
    store.add(lines(0, "ok", "    ValueError: nested"))
    store.flush(wait=True)
    assert store.first_error == FirstError(0, 2, "    ValueError: nested")


# -- AttemptStore: open files ---------------------------------------------------


def test_open_rank_files_stay_within_the_budget(store: AttemptStore) -> None:
    """Rank files stay open between flushes (reopening 1,024 files twice a second
    was the pipeline's cost), but never more than the budget: least recently used
    files are closed first."""
    store._budget = 100
    before = open_fds()
    for _ in range(2):
        store.add([Line(rank, "stdout", f"hello from {rank}", 0.0) for rank in range(1024)])
        store.flush(wait=True)
        assert open_fds() <= before + 100
    assert len(list((store.directory / "ranks").iterdir())) == 1024
    assert store.rank_log(1023).read_text() == "hello from 1023\nhello from 1023\n"
    assert store.rank_log(0).read_text() == "hello from 0\nhello from 0\n"


def test_closing_the_store_closes_every_rank_file(tmp_path: Path) -> None:
    before = open_fds()
    store = AttemptStore(tmp_path)
    store.add([Line(rank, "stdout", "x", 0.0) for rank in range(64)])
    store.flush(wait=True)
    assert open_fds() >= before + 64
    store.close()
    assert open_fds() == before


def test_store_keeps_only_combined_log_open(tmp_path: Path) -> None:
    before = open_fds()
    store = AttemptStore(tmp_path)
    assert open_fds() == before + 1
    store.close()
    assert open_fds() == before


# -- write_json -----------------------------------------------------------------


def test_write_json_writes_the_data(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    write_json(path, {"exit_code": 3, "ranks": {"0": {"lines": 1}}})
    assert json.loads(path.read_text()) == {"exit_code": 3, "ranks": {"0": {"lines": 1}}}
    assert path.read_text().endswith("\n")


def test_write_json_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
    assert json.loads(path.read_text()) == {"a": 2}


def test_write_json_replaces_by_rename(tmp_path: Path) -> None:
    """A reader holding the old file still sees whole old content (a new inode was renamed in)."""
    path = tmp_path / "plan.json"
    write_json(path, {"v": 1})
    old_inode = path.stat().st_ino
    with path.open() as old:
        write_json(path, {"v": 2})
        assert json.loads(old.read()) == {"v": 1}
    assert path.stat().st_ino != old_inode
