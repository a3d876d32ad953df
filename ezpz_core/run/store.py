"""The run directory: everything a run printed, on disk, unfiltered.

``<outdir>/<YYYYmmdd-HHMMSS>-<jobid|local>/`` (or ``--run-dir``) holds
``plan.json``, ``combined.log`` (every byte as received, labels included),
``ranks/rank-<N>.log`` (one per rank, label stripped) and ``ranks/launcher.log``,
and ``summary.json`` (``owner.json`` and ``events.jsonl``: ``journal.py``). With
``--retries`` each attempt writes its logs into ``attempt-<k>/``.

``combined.log`` is written line-aligned per stream: a chunk that ends mid-line
keeps its partial last line back until that stream completes it, so a line of
the launcher's stdout and one of its stderr are never glued together in the file.
A partial line over ``MAX_HELD`` bytes is written anyway (memory stays bounded),
and whatever is held is written at the end: every byte arrives.

Rank files are appended in batches (when the session flushes, five times a
second, whenever ``FLUSH_BYTES`` are pending, and at the end) through handles kept
open between flushes, up to a budget under the process's file limit (which is
raised to its hard maximum); past it, the least recently used are closed. Lines
are kept as the bytes the job wrote (invalid UTF-8 included); only what is shown
as text (last lines, the first error) is decoded. The writes themselves run on a
``BackgroundWriter`` thread, so a slow disk holds back the reading of the job's
output, not the event loop, and what waits in memory stays under a few
``FLUSH_BYTES``.
"""

from __future__ import annotations

import json
import os
import re
import resource
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any, BinaryIO

from ezpz_core.errors import UsageError
from ezpz_core.run.events import LAUNCHER, Line, Lines, RankExited, Row, decoded
from ezpz_core.run.writer import BackgroundWriter
from ezpz_core.submit.record import is_submit_file

FLUSH_BYTES = 4 * 1024 * 1024  # pending line bytes that trigger a flush before its time
MAX_HELD = 1024 * 1024  # a stream's unfinished line held back from combined.log, at most

# What counts as "the first error": tracebacks, "...Error:" lines, fatal signals.
# Blocks are first scanned for the words of ``error_words`` (fast), and the regex
# runs only on lines that contain one.
ERROR_LINE = re.compile(
    rb"Traceback \(most recent call last\)|^[ \t]*(?:[\w.]+(?:Error|Exception)|error|ERROR|FATAL)\b"
    rb"|Segmentation fault|died from signal|out of memory"
)


def _open_file_budget() -> int:
    """Rank files we may keep open: raise the soft fd limit to the hard one, keep
    headroom for the launcher's pipes and everything else."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if hard != resource.RLIM_INFINITY else 65536
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, 65536), hard))
            soft = min(want, 65536)
    except (ValueError, OSError):
        soft = 1024
    return max(16, min(8192, int(soft) - 256))


def new_run_dir(
    outdir: str | os.PathLike[str],
    job_id: str | None,
    now: float | None = None,
    utc: bool = False,
) -> Path:
    """Create ``<outdir>/<timestamp>-<jobid|local>`` (``-2``, ``-3``... if taken);
    the timestamp is local time, or UTC (names that do not depend on the zone)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", (time.gmtime if utc else time.localtime)(now))
    base = Path(outdir) / f"{stamp}-{job_id or 'local'}"
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        except OSError as exc:
            raise UsageError(
                f"--outdir {outdir}: cannot create the run directory {path} "
                f"({exc.strerror or exc}); choose a writable --outdir"
            ) from None


SESSION_LOG = "console-session.log"  # the --run's own stderr, opened by the console that starts it


def claim_run_dir(path: str | os.PathLike[str]) -> Path:
    """``--run-dir PATH``: create it if missing; refuse one that holds anything,
    so two runs never mix their files (or a reader their events). The files of
    a submission (``job.sh``, ``submit.json``...) are expected: the batch job's
    run goes into the directory its login node made."""
    run_dir = Path(path)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        taken = any(
            e.name != SESSION_LOG and not is_submit_file(e.name) for e in os.scandir(run_dir)
        )
    except FileExistsError:
        raise UsageError(
            f"--run-dir {path}: exists and is not a directory; give a new or empty directory"
        ) from None
    except OSError as exc:
        raise UsageError(
            f"--run-dir {path}: cannot create or read it ({exc.strerror or exc}); "
            "choose a writable path"
        ) from None
    if taken:
        raise UsageError(
            f"--run-dir {path} is not empty; give a new or empty directory, "
            "or leave out --run-dir to get a new one under --outdir"
        )
    return run_dir


def rank_log(directory: Path, rank: int) -> Path:
    """Where ``rank``'s lines (the launcher lane's for ``LAUNCHER``) go in ``directory``."""
    return directory / "ranks" / ("launcher.log" if rank == LAUNCHER else f"rank-{rank}.log")


@dataclass
class RankStats:
    lines: int = 0
    bytes: int = 0
    last_line: str = ""
    exit_code: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "bytes": self.bytes,
            "last_line": self.last_line,
            "exit_code": self.exit_code,
        }


@dataclass
class FirstError:
    rank: int
    line: int  # 1-based line number in that rank's log
    text: str


@dataclass
class AttemptStore:
    """Logs of one attempt; ``add_lines``/``flush``/``close`` are called by the session."""

    directory: Path
    stats: dict[int, RankStats] = field(default_factory=dict)
    first_error: FirstError | None = None
    # sees each rank's block of new lines (bytes) as it is written (log metrics)
    on_block: Callable[[int, bytes], None] | None = None
    writer: BackgroundWriter | None = None  # where the writes run (one is made if None)
    flush_bytes: int = FLUSH_BYTES

    def __post_init__(self) -> None:
        (self.directory / "ranks").mkdir(parents=True, exist_ok=True)
        self._combined = open(self.directory / "combined.log", "ab")  # noqa: SIM115
        self._pending: dict[int, list[bytes]] = {}
        self._pending_bytes = 0
        self._raw: list[bytes] = []
        # per stream: the unfinished last line held back from combined.log, its size
        self._held: dict[str, list[bytes]] = {}
        self._held_size: dict[str, int] = {}
        # combined.log written and flushed so far: (bytes, lines). One tuple, set
        # by the writer thread in one assignment, so a reader never sees a mix.
        self.written: tuple[int, int] = (0, 0)
        self._files: dict[int, BinaryIO] = {}  # least recently used first (writer thread)
        self._budget = _open_file_budget()
        self._own_writer = self.writer is None
        if self.writer is None:
            self.writer = BackgroundWriter(f"ezpz-store-{self.directory.name}")
        self._closed = False

    def rank_log(self, rank: int) -> Path:
        return rank_log(self.directory, rank)

    def raw(self, data: bytes, stream: str = "stdout") -> None:
        """Bytes exactly as the launcher wrote them on ``stream``, for
        ``combined.log`` (written with the next flush: one hand-over to the writer
        thread per flush). A partial last line waits for the rest of its line."""
        end = data.rfind(b"\n")
        if end < 0:
            self._hold(stream, data)
        else:
            if stream in self._held:
                self._raw.extend(self._held.pop(stream))
                del self._held_size[stream]
            if end + 1 == len(data):
                self._raw.append(data)
            else:
                self._raw.append(data[: end + 1])
                self._hold(stream, data[end + 1 :])
        self._pending_bytes += len(data)
        if self._pending_bytes >= self.flush_bytes:
            self.flush()

    def _hold(self, stream: str, part: bytes) -> None:
        """Keep ``part`` of ``stream``'s unfinished line; past ``MAX_HELD``, let it go."""
        held = self._held.get(stream)
        if held is None:
            held = self._held[stream] = []
            self._held_size[stream] = 0
        held.append(part)
        self._held_size[stream] += len(part)
        if self._held_size[stream] > MAX_HELD:
            self._release(stream)

    def _release(self, stream: str) -> None:
        self._raw.extend(self._held.pop(stream))
        del self._held_size[stream]

    def add_lines(self, event: Lines) -> None:
        """Queue a batch of lines for their rank files (written by ``flush``)."""
        pending = self._pending
        get = pending.get
        for rank, text in zip(event.ranks, event.texts, strict=True):
            bucket = get(rank)
            if bucket is None:
                pending[rank] = [text]
            else:
                bucket.append(text)
        self._pending_bytes += sum(map(len, event.texts))
        if self._pending_bytes >= self.flush_bytes:
            self.flush()

    def add(self, rows: Sequence[Row] | Sequence[Line]) -> None:
        """Queue decoded rows (or ``Line`` values): tests and the general path."""
        self.add_lines(Lines.from_rows([(r[0], r[1], r[2]) for r in rows], 0.0))

    def exited(self, event: RankExited) -> None:
        self._stats(event.rank).exit_code = event.code

    def _stats(self, rank: int) -> RankStats:
        stats = self.stats.get(rank)
        if stats is None:
            stats = self.stats[rank] = RankStats()
        return stats

    def flush(self, wait: bool = False, final: bool = False) -> None:
        """Hand pending lines to the writer (rank files) and flush the files;
        ``wait``: return once that is on disk; ``final``: unfinished lines held
        back from ``combined.log`` go too (the streams have ended)."""
        if final:
            for stream in list(self._held):
                self._release(stream)
        pending, self._pending = self._pending, {}
        raw, self._raw = self._raw, []
        self._pending_bytes = 0
        blocks = [(rank, b"".join(texts)) for rank, texts in pending.items()]
        if self.first_error is None:
            self.first_error = _first_error_of(blocks, self.stats)
        total = sum(map(len, raw))
        for rank, block in blocks:
            texts = pending[rank]
            stats = self._stats(rank)
            if self.on_block is not None:
                self.on_block(rank, block)
            stats.lines += len(texts)
            stats.bytes += len(block)
            stats.last_line = decoded(texts[-1])[:500]
            total += len(block)
        assert self.writer is not None
        if raw or blocks:
            self.writer.submit(lambda: self._write(raw, blocks), total)
        if wait:
            self.writer.drain()
            if self.writer.error is not None:
                raise self.writer.error

    def _write(self, raw: list[bytes], blocks: list[tuple[int, bytes]]) -> None:
        """On the writer thread: append the blocks, flush what was written (a file
        not written since the last flush has nothing buffered)."""
        if raw:
            self._combined.writelines(raw)
            self._combined.flush()
            size, lines = self.written
            self.written = (
                size + sum(map(len, raw)),
                lines + sum(chunk.count(b"\n") for chunk in raw),
            )
        for rank, block in blocks:
            self._file(rank).write(block)
        files = self._files
        for rank, _ in blocks:
            handle = files.get(rank)  # None: closed (and so flushed) to stay in budget
            if handle is not None:
                handle.flush()

    def _file(self, rank: int) -> BinaryIO:
        handle = self._files.pop(rank, None)
        if handle is None:
            if len(self._files) >= self._budget:
                oldest = next(iter(self._files))
                self._files.pop(oldest).close()
            handle = open(self.rank_log(rank), "ab")  # noqa: SIM115
        self._files[rank] = handle  # now the most recently used
        return handle

    def close(self) -> None:
        """Write everything still pending, close the files, stop the writer."""
        if self._closed:
            return
        self._closed = True
        self.flush(final=True)
        assert self.writer is not None
        self.writer.submit(self._close_files, 0)
        if self._own_writer:
            self.writer.close()
        else:
            self.writer.drain()
        if self.writer.error is not None:
            raise self.writer.error

    def _close_files(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()
        self._combined.close()


# Words that cannot occur without one capital letter, grouped by it: a search for a
# single byte runs at memory speed (memchr), one for a word at a tenth of it, and
# training logs seldom hold these capitals, so most of the words are never looked for.
_WORDS_NEEDING = {
    b"E": (b"Error", b"Exception", b"ERROR"),
    b"F": (b"FATAL",),
    b"T": (b"Traceback",),
    b"S": (b"Segmentation",),
}
_WORDS_ALWAYS = (b"error", b"died from signal", b"out of memory")


def error_words(data: bytes) -> tuple[bytes, ...]:
    """The error words worth looking for in ``data`` (see ``_WORDS_NEEDING``)."""
    words = [w for cap, group in _WORDS_NEEDING.items() if cap in data for w in group]
    return (*words, *_WORDS_ALWAYS)


def _first_error_of(
    blocks: list[tuple[int, bytes]], stats: dict[int, RankStats]
) -> FirstError | None:
    """The first error in the ranks' new blocks (in order; launcher lines never
    count). The words are looked for once in all blocks together (each ``find``
    is a pass over the data, the cost of this scan), and only the block a word is
    found in is read line by line."""
    blocks = [(rank, block) for rank, block in blocks if rank != LAUNCHER]
    if not blocks:
        return None
    joined = b"".join(block for _, block in blocks) if len(blocks) > 1 else blocks[0][1]
    ends = list(accumulate(len(block) for _, block in blocks))
    words = error_words(joined)
    pos = 0
    while pos < len(joined):
        hits = [at for at in (joined.find(word, pos) for word in words) if at >= 0]
        if not hits:
            return None
        i = bisect_right(ends, min(hits))
        rank, block = blocks[i]
        before = stats[rank].lines if rank in stats else 0
        found = _first_error(block, rank, before)
        if found is not None:
            return found
        pos = ends[i]  # nothing in this block after all: go on after it
    return None


def _first_error(block: bytes, rank: int, lines_before: int) -> FirstError | None:
    """The first error line in ``block`` (the next lines of ``rank``'s log)."""
    pos = 0
    size = len(block)
    words = error_words(block)
    while pos < size:
        first = size
        for word in words:
            at = block.find(word, pos, first)
            if at >= 0:
                first = at
        if first == size:
            return None
        start = block.rfind(b"\n", 0, first) + 1
        end = block.find(b"\n", first)
        end = size if end < 0 else end
        line = block[start:end]
        if ERROR_LINE.search(line):
            text = line.decode("utf-8", "replace")
            return FirstError(rank, lines_before + block.count(b"\n", 0, start) + 1, text)
        pos = end + 1
    return None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` atomically (write a temp file, then rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
