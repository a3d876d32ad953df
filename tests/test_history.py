"""History JSONL: the tail reader and the writer, against the real 2-rank ezpz history.

Fixture: ``tests/data/ezpz-test-2ranks/metrics.jsonl`` (38 rows, rank 1 and rank 0
alternating, step key ``iter``, ``aggregated`` on rank 0 only), plus files written in
``tmp_path`` to follow appends, torn lines, corrupt lines, truncation and replacement.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from ezpz_core import history
from ezpz_core.history import (
    HistoryTail,
    HistoryWriter,
    history_row,
    looks_like_history,
    parse_line,
)
from ezpz_core.metrics import MetricSeries, split_aggregate

SAMPLES = Path(__file__).resolve().parent / "data" / "ezpz-test-2ranks"  # see data/README.md
HISTORY = SAMPLES / "metrics.jsonl"


def sample_lines() -> list[bytes]:
    """The sample's lines, each with its newline."""
    return HISTORY.read_bytes().splitlines(keepends=True)


def sample_rows(rank: int) -> list[dict]:
    """One rank's decoded rows from the sample, in file order."""
    rows = map(json.loads, HISTORY.read_bytes().splitlines())
    return [row for row in rows if row["rank"] == rank]


def flat_line(step: int, loss: float) -> bytes:
    return (json.dumps({"step": step, "loss": loss}) + "\n").encode()


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def read_all(path: Path) -> tuple[HistoryTail, list]:
    tail = HistoryTail(path)
    return tail, tail.poll()


# --- the real ezpz history ---------------------------------------------------------


def test_sample_reads_38_rows_and_nothing_corrupt() -> None:
    tail, rows = read_all(HISTORY)
    assert len(rows) == 38
    assert tail.corrupt == 0
    assert tail.offset == HISTORY.stat().st_size
    assert [row.rank for row in rows] == [1, 0] * 19


def test_sample_rows_carry_the_file_timestamps() -> None:
    _, rows = read_all(HISTORY)
    expected = [row["timestamp"] for row in map(json.loads, HISTORY.read_bytes().splitlines())]
    assert [row.t for row in rows] == expected


def test_sample_rank0_series_takes_19_rows_and_skips_19() -> None:
    _, rows = read_all(HISTORY)
    series = MetricSeries(rank=0)
    assert series.add(rows) == 19
    assert series.rows == 19
    assert series.skipped == 19


def test_sample_steps_come_from_iter() -> None:
    _, rows = read_all(HISTORY)
    series = MetricSeries(rank=0)
    series.add(rows)
    assert series.points["loss"].xs == [float(step) for step in range(1, 20)]
    assert [row.step for row in rows if row.rank == 0] == [float(s) for s in range(1, 20)]


def test_sample_rank0_loss_first_and_last_match_the_file() -> None:
    _, rows = read_all(HISTORY)
    series = MetricSeries(rank=0)
    series.add(rows)
    expected = [row["metrics"]["loss"] for row in sample_rows(0)]
    assert series.loss_key() == "loss"
    assert series.stats["loss"].first == expected[0]
    assert series.stats["loss"].last == expected[-1]
    assert series.points["loss"].ys == expected


def test_sample_rank0_rows_carry_the_aggregates() -> None:
    _, rows = read_all(HISTORY)
    rank0 = [row for row in rows if row.rank == 0]
    for row, raw in zip(rank0, sample_rows(0), strict=True):
        for key, value in raw["aggregated"].items():
            assert row.values[key] == value
    for metric in ("loss", "accuracy", "dtf", "dtb", "tflops", "mfu"):
        for stat in ("mean", "max", "min", "std"):
            assert f"{metric}/{stat}" in rank0[0].values


def test_sample_rank1_rows_have_no_aggregates() -> None:
    _, rows = read_all(HISTORY)
    for row in rows:
        if row.rank == 1:
            assert all(split_aggregate(key)[1] is None for key in row.values)


def test_sample_rank1_series_gives_rank1_curve() -> None:
    _, rows = read_all(HISTORY)
    series = MetricSeries(rank=1)
    assert series.add(rows) == 19
    assert series.skipped == 19
    assert series.points["loss"].ys == [row["metrics"]["loss"] for row in sample_rows(1)]
    assert series.points["loss"].xs == [float(step) for step in range(1, 20)]


def test_sample_is_never_double_counted() -> None:
    tail = HistoryTail(HISTORY)
    series = MetricSeries(rank=0)
    series.add(tail.poll())
    series.add(tail.poll())
    series.add(tail.poll(final=True))
    assert series.rows == 19
    assert all(stats.count == 19 for stats in series.stats.values())
    xs = series.points["loss"].xs
    assert len(set(xs)) == len(xs) == 19


def test_sample_throughput_is_the_reported_tflops() -> None:
    _, rows = read_all(HISTORY)
    series = MetricSeries(rank=0)
    series.add(rows)
    assert series.throughput_key() == "tflops"
    assert "throughput" not in series.stats


def test_sample_summary_is_strict_json() -> None:
    _, rows = read_all(HISTORY)
    series = MetricSeries(rank=0)
    series.add(rows)
    summary = json.loads(json.dumps(series.summary_json(), allow_nan=False))
    assert summary["loss"]["count"] == 19


# --- following a file that is being written -----------------------------------------


def test_tail_reads_only_new_rows_on_each_poll(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    lines = sample_lines()
    tail = HistoryTail(path)
    seen = []
    for start, stop in ((0, 10), (10, 11), (11, 30), (30, 38)):
        append(path, b"".join(lines[start:stop]))
        rows = tail.poll()
        assert len(rows) == stop - start
        assert tail.offset == path.stat().st_size
        seen.extend(rows)
    assert tail.poll() == []
    assert tail.offset == path.stat().st_size
    assert [row.values for row in seen] == [row.values for row in read_all(HISTORY)[1]]
    assert tail.restarts == 0


def test_tail_holds_a_torn_last_line_until_completed(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    first, second = sample_lines()[:2]
    append(path, first + second[: len(second) // 2])
    tail = HistoryTail(path)
    assert len(tail.poll()) == 1
    assert tail.offset == path.stat().st_size
    assert tail.poll() == []
    append(path, second[len(second) // 2 :])
    rows = tail.poll()
    assert [row.values["loss"] for row in rows] == [json.loads(second)["metrics"]["loss"]]
    assert tail.poll() == []
    assert tail.corrupt == 0


def test_tail_counts_and_skips_a_corrupt_line(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    append(path, flat_line(1, 0.9) + b'{"step": 2, "loss": 0.8\n' + flat_line(3, 0.7))
    tail, rows = read_all(path)
    assert [row.step for row in rows] == [1.0, 3.0]
    assert tail.corrupt == 1
    append(path, b"not json\n" + flat_line(4, 0.6))
    assert [row.step for row in tail.poll()] == [4.0]
    assert tail.corrupt == 2


def test_tail_restarts_after_truncation(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    append(path, b"".join(flat_line(step, 1.0) for step in range(1, 11)))
    tail, rows = read_all(path)
    assert len(rows) == 10
    os.truncate(path, 0)
    append(path, flat_line(100, 0.5) + flat_line(101, 0.4))
    rows = tail.poll()
    assert tail.restarts == 1
    assert [row.step for row in rows] == [100.0, 101.0]
    assert tail.offset == path.stat().st_size


def test_tail_restarts_after_truncation_seen_while_empty(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    append(path, flat_line(1, 1.0) + flat_line(2, 1.0))
    tail, _ = read_all(path)
    os.truncate(path, 0)
    assert tail.poll() == []
    append(path, flat_line(7, 0.5))
    assert [row.step for row in tail.poll()] == [7.0]
    assert tail.restarts == 1


def test_tail_restarts_when_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    append(path, b"".join(sample_lines()[:4]))
    tail, rows = read_all(path)
    assert len(rows) == 4
    new = tmp_path / "h.jsonl.tmp"
    new.write_bytes(b"".join(flat_line(step, 0.1 * step) for step in range(1, 4)))
    os.replace(new, path)
    rows = tail.poll()
    assert tail.restarts == 1
    assert [row.step for row in rows] == [1.0, 2.0, 3.0]
    assert [row.rank for row in rows] == [None] * 3


def test_tail_drops_torn_line_of_replaced_file(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    half = flat_line(2, 0.4)[:8]
    append(path, flat_line(1, 0.5) + half)
    tail, _ = read_all(path)
    new = tmp_path / "h.jsonl.tmp"
    new.write_bytes(flat_line(10, 0.1) + flat_line(11, 0.2))
    os.replace(new, path)
    assert [row.step for row in tail.poll()] == [10.0, 11.0]
    assert tail.corrupt == 0


def test_tail_reads_at_most_a_chunk_per_poll_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = [row.values for row in read_all(HISTORY)[1]]
    monkeypatch.setattr(history, "READ_CHUNK", 1000)
    path = tmp_path / "h.jsonl"
    path.write_bytes(HISTORY.read_bytes())
    tail = HistoryTail(path)
    rows, polls = [], 0
    while tail.offset < path.stat().st_size:
        before = tail.offset
        rows.extend(tail.poll())
        assert 0 < tail.offset - before <= 1000
        polls += 1
    assert polls == -(-path.stat().st_size // 1000)
    assert len(rows) == 38
    assert tail.corrupt == 0
    assert [row.values for row in rows] == expected


def test_tail_restarts_when_rewritten_in_place_longer(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    append(path, flat_line(1, 1.0) + flat_line(2, 1.0))
    tail, _ = read_all(path)
    inode = path.stat().st_ino
    old_size = path.stat().st_size
    with open(path, "r+b") as handle:  # same inode, new content from byte 0
        handle.write(b"".join(sample_lines()[:6]))
    assert path.stat().st_ino == inode
    assert path.stat().st_size > old_size
    rows = tail.poll()
    assert tail.restarts == 1
    assert len(rows) == 6
    assert [row.rank for row in rows] == [1, 0] * 3


def test_tail_restarts_when_deleted_and_recreated(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    append(path, flat_line(1, 1.0))
    tail, _ = read_all(path)
    path.unlink()
    assert tail.poll() == []
    append(path, b"".join(sample_lines()[:2]))
    rows = tail.poll()
    assert tail.restarts == 1
    assert [row.rank for row in rows] == [1, 0]


def test_tail_of_missing_file_is_empty_until_created(tmp_path: Path) -> None:
    path = tmp_path / "later.jsonl"
    tail = HistoryTail(path)
    assert tail.poll() == []
    assert tail.poll() == []
    append(path, flat_line(1, 0.5))
    assert [row.values for row in tail.poll()] == [{"step": 1.0, "loss": 0.5}]
    assert tail.restarts == 0
    assert tail.corrupt == 0


def test_tail_final_reads_unterminated_last_row(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    append(path, flat_line(1, 0.5) + flat_line(2, 0.4).rstrip(b"\n"))
    tail = HistoryTail(path)
    assert [row.step for row in tail.poll()] == [1.0]
    assert [row.step for row in tail.poll(final=True)] == [2.0]
    assert tail.poll(final=True) == []
    assert tail.corrupt == 0


@pytest.mark.parametrize(
    ("token", "check"),
    [
        ("NaN", math.isnan),
        ("Infinity", lambda v: v == math.inf),
        ("-Infinity", lambda v: v == -math.inf),
    ],
)
def test_tail_accepts_nonfinite_tokens(tmp_path: Path, token: str, check) -> None:
    path = tmp_path / "h.jsonl"
    append(path, b'{"rank": 0, "metrics": {"step": 1, "loss": %s}}\n' % token.encode())
    tail, rows = read_all(path)
    assert tail.corrupt == 0
    assert len(rows) == 1
    assert check(rows[0].values["loss"])


def test_tail_reads_flat_rows(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    append(path, b'{"step": 3, "loss": 0.25, "timestamp": 12.5}\n')
    _, rows = read_all(path)
    assert rows[0].values == {"step": 3.0, "loss": 0.25}
    assert rows[0].rank is None
    assert rows[0].t == 12.5
    assert rows[0].step == 3.0


@pytest.mark.parametrize(
    "line",
    [
        b'{"step": 1, "train/loss": 0.5, "eval/acc": 0.9}\n',
        b'{"step": 1, "train": {"loss": 0.5}, "eval": {"acc": 0.9}}\n',
        b'{"rank": 0, "metrics": {"step": 1, "train/loss": 0.5, "eval/acc": 0.9}}\n',
        b'{"rank": 0, "metrics": {"step": 1, "train": {"loss": 0.5}, "eval": {"acc": 0.9}}}\n',
    ],
    ids=["flat-slash", "flat-nested", "ezpz-slash", "ezpz-nested"],
)
def test_tail_keeps_group_prefixes(tmp_path: Path, line: bytes) -> None:
    path = tmp_path / "h.jsonl"
    append(path, line)
    _, rows = read_all(path)
    assert rows[0].values == {"step": 1.0, "train/loss": 0.5, "eval/acc": 0.9}


@pytest.mark.parametrize(
    "extra",
    ['"hist": [1, 2, 3]', '"name": "run-1"', '"done": true', '"flag": false', '"x": null'],
)
def test_tail_skips_non_numeric_values(tmp_path: Path, extra: str) -> None:
    path = tmp_path / "h.jsonl"
    append(path, b'{"rank": 0, "metrics": {"step": 2, "loss": 0.5, %s}}\n' % extra.encode())
    tail, rows = read_all(path)
    assert rows[0].values == {"step": 2.0, "loss": 0.5}
    assert tail.corrupt == 0


@pytest.mark.parametrize(
    "line",
    [
        b"[1, 2]",
        b"3",
        b'"text"',
        b"null",
        b"true",
        b"{}",
        b'{"name": "x"}',
        b"{nope",
        b'{"step": 2, "loss": "\xff"}',
    ],
)
def test_tail_counts_non_row_json_as_corrupt(tmp_path: Path, line: bytes) -> None:
    path = tmp_path / "h.jsonl"
    append(path, flat_line(1, 0.5) + line + b"\n" + flat_line(2, 0.4))
    tail, rows = read_all(path)
    assert tail.corrupt == 1
    assert [row.step for row in rows] == [1.0, 2.0]


def test_tail_survives_an_integer_too_large_for_a_float(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    huge = b'{"step": 2, "loss": ' + b"9" * 400 + b"}\n"
    append(path, flat_line(1, 0.5) + huge + flat_line(3, 0.4))
    tail = HistoryTail(path)
    steps = [row.step for row in tail.poll()]
    assert steps[0] == 1.0
    assert steps[-1] == 3.0


def test_tail_ignores_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    append(path, b"\n" + flat_line(1, 0.5) + b"\n   \n\t\n" + flat_line(2, 0.4) + b"\n")
    tail, rows = read_all(path)
    assert [row.step for row in rows] == [1.0, 2.0]
    assert tail.corrupt == 0


# --- telling a history file from other JSONL ----------------------------------------


def test_sample_looks_like_history() -> None:
    assert looks_like_history(HISTORY)


@pytest.mark.parametrize(
    "content",
    [b'{"event": "start", "host": "x"}\n', b"plain text\n", b'{"step": 1, "loss": 0.5}', b""],
    ids=["other-jsonl", "text", "unterminated", "empty"],
)
def test_other_files_do_not_look_like_history(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "other.jsonl"
    path.write_bytes(content)
    assert not looks_like_history(path)


def test_missing_file_does_not_look_like_history(tmp_path: Path) -> None:
    assert not looks_like_history(tmp_path / "nope.jsonl")


# --- the writer -----------------------------------------------------------------------


def test_written_rows_read_back_equal(tmp_path: Path) -> None:
    path = tmp_path / "out" / "h.jsonl"
    rank0 = history_row(
        {"step": 1, "loss": 0.5}, {"loss/mean": 0.6, "loss/std": 0.1}, rank=0, timestamp=10.0
    )
    rank1 = history_row({"step": 1, "loss": 0.7}, rank=1, timestamp=10.5)
    with HistoryWriter(path) as writer:
        writer.write(rank1)
        writer.write(rank0)
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    assert raw == [rank1, rank0]
    _, rows = read_all(path)
    assert rows[0].values == {"step": 1.0, "loss": 0.7}
    assert (rows[0].rank, rows[0].t) == (1, 10.5)
    assert rows[1].values == {"step": 1.0, "loss": 0.5, "loss/mean": 0.6, "loss/std": 0.1}
    assert (rows[1].rank, rows[1].t) == (0, 10.0)


def test_history_row_merges_aggregates_into_metrics() -> None:
    row = history_row({"iter": 3, "loss": 0.5}, {"loss/mean": 0.6}, rank=0, timestamp=1.0)
    assert row == {
        "timestamp": 1.0,
        "rank": 0,
        "metrics": {"iter": 3, "loss": 0.5, "loss/mean": 0.6},
        "aggregated": {"loss/mean": 0.6},
    }


@pytest.mark.parametrize("aggregated", [None, {}])
def test_history_row_has_no_aggregated_key_without_aggregates(aggregated) -> None:
    row = history_row({"iter": 3, "loss": 0.5}, aggregated, rank=2, timestamp=1.0)
    assert row == {"timestamp": 1.0, "rank": 2, "metrics": {"iter": 3, "loss": 0.5}}


def test_history_row_is_read_like_an_ezpz_row() -> None:
    raw = sample_rows(0)[0]
    metrics = {k: v for k, v in raw["metrics"].items() if k not in raw["aggregated"]}
    row = history_row(metrics, raw["aggregated"], rank=0, timestamp=raw["timestamp"])
    assert row == raw


def test_each_write_is_one_complete_line(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with HistoryWriter(path) as writer:
        for step in range(1, 6):
            writer.write(history_row({"step": step, "loss": 1.0 / step}, timestamp=float(step)))
            data = path.read_bytes()
            assert data.endswith(b"\n")
            assert data.count(b"\n") == step
            assert parse_line(data.splitlines()[-1]).step == float(step)


def test_writer_appends_to_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    old = b"".join(sample_lines()[:2])
    path.write_bytes(old)
    with HistoryWriter(path) as writer:
        writer.write(history_row({"iter": 2, "loss": 0.1}, rank=1, timestamp=1.0))
    data = path.read_bytes()
    assert data.startswith(old)
    _, rows = read_all(path)
    assert len(rows) == 3
    assert rows[-1].values == {"iter": 2.0, "loss": 0.1}


def test_writer_writes_nonfinite_values_the_reader_accepts(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with HistoryWriter(path) as writer:
        writer.write(history_row({"step": 1, "loss": math.nan, "gn": math.inf}, timestamp=1.0))
    tail, rows = read_all(path)
    assert tail.corrupt == 0
    assert math.isnan(rows[0].values["loss"])
    assert rows[0].values["gn"] == math.inf


def test_closed_writer_raises_on_write(tmp_path: Path) -> None:
    writer = HistoryWriter(tmp_path / "h.jsonl")
    writer.close()
    with pytest.raises(ValueError):
        writer.write(history_row({"step": 1}, timestamp=1.0))
    writer.close()  # closing twice is harmless


def test_writer_closed_by_context_raises_on_write(tmp_path: Path) -> None:
    with HistoryWriter(tmp_path / "h.jsonl") as writer:
        writer.write(history_row({"step": 1}, timestamp=1.0))
    with pytest.raises(ValueError):
        writer.write(history_row({"step": 2}, timestamp=2.0))
