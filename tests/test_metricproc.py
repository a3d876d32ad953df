"""Busy log lanes are parsed in a child process, with the same result, and a
child that dies loses nothing: the lanes are parsed again from the rank files.

The children are real processes (``python -m ezpz_core.run.metricproc``); one is
killed with SIGKILL mid-run, as the OOM killer would."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from ezpz_core.logmetrics import BlockParser
from ezpz_core.metrics import MetricSeries
from ezpz_core.run.events import LAUNCHER
from ezpz_core.run.metricproc import OffloadedParser
from ezpz_core.run.metricwatch import MetricsWatch


def blocks(n: int, size: int = 500) -> list[bytes]:
    out = []
    for start in range(0, n, size):
        lines = [
            f"[I][train:7] step={s} loss={1 + (s % 17) / 7:.6f} dt={0.01 + (s % 5) / 100:.4f}\n"
            for s in range(start, min(n, start + size))
        ]
        out.append("".join(lines).encode())
    return out


def summary(series: MetricSeries) -> dict:
    return {
        name: (s.count, s.first, s.last, s.low, s.high, round(s.total, 6))
        for name, s in series.stats.items()
    } | {"rows": series.rows}


def test_a_busy_lane_moves_to_a_child_and_gives_the_same_series() -> None:
    data = blocks(20_000)
    local = BlockParser(MetricSeries(rank=None), 0)
    for block in data:
        local.feed(block)
    lane = OffloadedParser(BlockParser(MetricSeries(rank=None), 0), offload_after=10_000)
    for block in data:
        lane.feed(block)
    assert lane.writer is not None  # a child took over after the first blocks
    parser = lane.finish()
    assert not lane.lost
    assert summary(parser.series) == summary(local.series)
    assert parser.series.points["loss"].ys == local.series.points["loss"].ys


def test_a_quiet_lane_never_starts_a_child() -> None:
    lane = OffloadedParser(BlockParser(MetricSeries(rank=None), 0))
    for block in blocks(100):
        lane.feed(block)
    assert lane.writer is None
    assert lane.finish().series.rows == 100


def test_a_child_killed_mid_run_is_replaced_by_parsing_the_rank_files(tmp_path: Path) -> None:
    data = blocks(20_000)
    (tmp_path / "ranks").mkdir()
    (tmp_path / "ranks" / "rank-0.log").write_bytes(b"".join(data))
    watch = MetricsWatch(tmp_path / "history.jsonl", [], [], 0.0, rank=0, offload_after=10_000)
    half = len(data) // 2
    for block in data[:half]:
        watch.on_block(0, block)
    lane = watch._lanes[0]
    assert lane._child is not None
    lane.writer.drain()
    os.kill(lane._child.pid, signal.SIGKILL)
    lane._child.wait()
    for block in data[half:]:
        watch.on_block(0, block)
    watch.finish_logs(lambda: [(0, tmp_path / "ranks" / "rank-0.log"), (LAUNCHER, tmp_path / "x")])
    assert lane.lost
    source, series = watch.current()
    assert source == "log"
    local = BlockParser(MetricSeries(rank=None), 0)
    for block in data:
        local.feed(block)
    assert summary(series) == summary(local.series)


def test_a_lagging_child_holds_the_reader_back() -> None:
    """``room()`` waits while more than the queue limit is on its way to the child."""
    lane = OffloadedParser(BlockParser(MetricSeries(rank=None), 0), offload_after=1)
    lane.feed(blocks(10)[0])
    assert lane.writer is not None
    lane.writer.limit = 0  # every queued byte is too many: room() must wait for the child
    for block in blocks(5000):
        lane.feed(block)

    async def wait_for_room() -> None:
        await asyncio.wait_for(lane.room(), timeout=30)

    asyncio.run(wait_for_room())
    assert lane.writer.queued == 0
    assert lane.finish().series.rows == 5010
