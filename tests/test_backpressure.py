"""A consumer that cannot keep up holds the job back; it never fills our memory.

Two consumers are made slow for real: the terminal (stdout piped into a reader
that sleeps before it reads, as ``| less`` at a prompt or a stalled SSH session
does) and the disk (the run store's writes sleep before each batch, standing in
for a slow shared filesystem: a real one cannot be had here). In both the job
keeps printing as fast as it can; what waits in our process stays bounded, every
line arrives, and each rank's lines keep their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import psutil

from ezpz_core.run.labels import LabelFormat
from ezpz_core.run.runner import READ_SIZE, Runner
from ezpz_core.run.store import AttemptStore
from ezpz_core.run.writer import BackgroundWriter

VENV_BIN = Path(sys.executable).parent
EZPZ_TUI = VENV_BIN / "ezpz-tui"

# Two ranks' lines in Open MPI's --tag-output format, interleaved, about 100
# bytes each, numbered per rank so that order and completeness can be checked.
GENERATOR = """
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
pad = "x" * 60
for start in range(0, n, 2000):
    out.write("".join(
        f"[1,{i % 2}]<stdout>: rank {i % 2} seq {i // 2:08d} {pad}\\n"
        for i in range(start, min(n, start + 2000))
    ).encode())
out.flush()
"""


def generator(tmp_path: Path) -> Path:
    path = tmp_path / "gen.py"
    path.write_text(GENERATOR)
    return path


def assert_complete_and_in_order(texts: list[str], rank: int, count: int) -> None:
    assert len(texts) == count, (rank, len(texts), count)
    expected = [f"rank {rank} seq {s:08d} {'x' * 60}" for s in range(count)]
    assert texts == expected


def test_a_stalled_terminal_holds_the_job_back_and_nothing_is_lost(tmp_path: Path) -> None:
    lines = 1_200_000  # about 120 MB: far more than may wait in memory
    out = tmp_path / "printed.txt"
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["NO_COLOR"] = "1"
    argv = [str(EZPZ_TUI), "--run", "--launcher", "none", "--timeout", "2"]
    argv += ["--outdir", str(tmp_path / "out"), "--", sys.executable, str(generator(tmp_path))]
    argv += [str(lines)]
    reader = subprocess.Popen(
        ["sh", "-c", 'sleep 4; exec cat > "$1"', "sh", str(out)], stdin=subprocess.PIPE
    )
    assert reader.stdin is not None
    proc = subprocess.Popen(argv, stdout=reader.stdin, stderr=subprocess.PIPE, env=env)
    reader.stdin.close()
    me = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, me.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.05)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.wait() == 0, stderr  # held back 4 s with --timeout 2: not silence
    assert reader.wait(timeout=30) == 0
    assert peak < 150e6, f"peak RSS {peak / 1e6:.0f} MB"
    printed = out.read_text().splitlines()
    for rank in (0, 1):
        texts = [line[4:] for line in printed if line.startswith(f"[{rank}] ")]
        assert_complete_and_in_order(texts, rank, lines // 2)
    (run_dir,) = (tmp_path / "out").iterdir()
    for rank in (0, 1):
        texts = (run_dir / "ranks" / f"rank-{rank}.log").read_text().splitlines()
        assert_complete_and_in_order(texts, rank, lines // 2)


class SlowDiskStore(AttemptStore):
    """Every batch of rank-file writes waits first, as on a slow filesystem."""

    delay_s = 0.05

    def _write(self, raw: list[bytes], blocks: list[tuple[int, bytes]]) -> None:
        time.sleep(self.delay_s)
        super()._write(raw, blocks)


def run_into(store: AttemptStore, tmp_path: Path, lines: int, held: bool) -> int:
    """The job through a runner wired to ``store`` as the session wires it."""
    assert store.writer is not None

    def sink(event) -> None:
        if hasattr(event, "texts"):
            store.add_lines(event)

    runner = Runner(
        [sys.executable, str(generator(tmp_path)), str(lines)],
        {"PATH": os.environ.get("PATH", "")},
        LabelFormat.OPENMPI,
        sink,
        raw_sink=lambda _stream, data: store.raw(data),
        room=store.writer.room if held else None,
    )
    result = asyncio.run(runner.run())
    store.close()
    return result.code


def test_a_slow_disk_holds_the_job_back_and_what_waits_stays_bounded(tmp_path: Path) -> None:
    lines, limit, flush = 160_000, 1 << 20, 256 << 10
    writer = BackgroundWriter("slow-disk", limit=limit)
    store = SlowDiskStore(tmp_path / "held", writer=writer, flush_bytes=flush)
    assert run_into(store, tmp_path, lines, held=True) == 0
    writer.close()
    # at most the limit, plus what one chunk and one flush add before the pump waits
    assert writer.peak <= limit + 2 * (flush + READ_SIZE) + READ_SIZE, writer.peak
    for rank in (0, 1):
        texts = (tmp_path / "held" / "ranks" / f"rank-{rank}.log").read_text().splitlines()
        assert_complete_and_in_order(texts, rank, lines // 2)
    assert store.stats[0].lines == store.stats[1].lines == lines // 2


def test_without_back_pressure_the_same_slow_disk_queues_far_more(tmp_path: Path) -> None:
    """The bound above comes from waiting for room: without it, the same job
    piles its output up in memory (what issue 16 measured growing)."""
    lines, limit, flush = 160_000, 1 << 20, 256 << 10
    writer = BackgroundWriter("slow-disk", limit=limit)
    store = SlowDiskStore(tmp_path / "free", writer=writer, flush_bytes=flush)
    assert run_into(store, tmp_path, lines, held=False) == 0
    writer.close()
    assert writer.peak > 4 * (limit + 2 * (flush + READ_SIZE) + READ_SIZE), writer.peak


def test_rank_files_keep_up_while_a_job_prints_flat_out(tmp_path: Path) -> None:
    """The twice-a-second flush holds under full load: a job that prints as fast
    as it can for three seconds sees its rank file grow all along, not at the end."""
    job = tmp_path / "flat_out.py"
    job.write_text(
        "import sys, time\n"
        "end = time.monotonic() + 3\n"
        "i = 0\n"
        "while time.monotonic() < end:\n"
        "    sys.stdout.write(''.join(f'[1,0]<stdout>: line {i + k:09d} {\"y\" * 70}\\n'"
        " for k in range(500)))\n"
        "    i += 500\n"
    )
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    argv = [str(EZPZ_TUI), "--run", "--launcher", "none", "--outdir", str(tmp_path / "out")]
    proc = subprocess.Popen(
        [*argv, "--", sys.executable, str(job)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    sizes: list[tuple[float, int]] = []
    while proc.poll() is None:
        logs = list((tmp_path / "out").glob("*/ranks/rank-0.log"))
        if logs:
            with contextlib.suppress(OSError):
                sizes.append((time.monotonic(), logs[0].stat().st_size))
        time.sleep(0.05)
    assert proc.wait() == 0
    growth = [t for (_, before), (t, size) in pairwise(sizes) if size > before]
    assert len(growth) >= 4, sizes[-5:]
    gaps = [b - a for a, b in pairwise(growth)]
    assert max(gaps) < 1.5, gaps
