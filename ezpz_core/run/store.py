"""The run directory: everything a run printed, on disk, unfiltered.

``<outdir>/<YYYYmmdd-HHMMSS>-<jobid|local>/`` holds ``plan.json``,
``combined.log`` (every byte as received, labels included), ``ranks/rank-<N>.log``
(one per rank, label stripped) and ``ranks/launcher.log``, and ``summary.json``.
With ``--retries`` each attempt writes its logs into ``attempt-<k>/``.

Rank files are appended in batches (twice a second and at the end) through handles
kept open between flushes, up to a budget under the process's file limit (which
is raised to its hard maximum); past it, the least recently used are closed.
"""

from __future__ import annotations

import json
import os
import re
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ezpz_core.errors import UsageError
from ezpz_core.run.events import LAUNCHER, Line, RankExited, Row

# What counts as "the first error": tracebacks, "...Error:" lines, fatal signals.
# Blocks are first scanned for these words with str.find (fast), and the regex
# runs only on lines that contain one.
_ERROR_WORDS = (
    "Error",
    "Exception",
    "error",
    "ERROR",
    "FATAL",
    "Traceback",
    "Segmentation",
    "died from signal",
    "out of memory",
)
_ERROR = re.compile(
    r"Traceback \(most recent call last\)|^[ \t]*(?:[\w.]+(?:Error|Exception)|error|ERROR|FATAL)\b"
    r"|Segmentation fault|died from signal|out of memory"
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
    outdir: str | os.PathLike[str], job_id: str | None, now: float | None = None
) -> Path:
    """Create ``<outdir>/<timestamp>-<jobid|local>`` (``-2``, ``-3``... if taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
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
    """Logs of one attempt; ``add``/``flush``/``close`` are called by the runner."""

    directory: Path
    stats: dict[int, RankStats] = field(default_factory=dict)
    first_error: FirstError | None = None
    # sees each rank's block of new lines as it is written (metrics from log lines)
    on_block: Callable[[int, str], None] | None = None

    def __post_init__(self) -> None:
        (self.directory / "ranks").mkdir(parents=True, exist_ok=True)
        self._combined = open(self.directory / "combined.log", "ab")  # noqa: SIM115
        self._pending: dict[int, list[str]] = {}
        self._files: dict[int, BinaryIO] = {}  # least recently used first
        self._budget = _open_file_budget()

    def rank_log(self, rank: int) -> Path:
        name = "launcher.log" if rank == LAUNCHER else f"rank-{rank}.log"
        return self.directory / "ranks" / name

    def raw(self, data: bytes) -> None:
        self._combined.write(data)

    def add(self, rows: Sequence[Row] | Sequence[Line]) -> None:
        """Queue rows (or ``Line`` values) for their rank files (written by flush)."""
        pending = self._pending
        get = pending.get
        for row in rows:
            bucket = get(row[0])
            if bucket is None:
                bucket = pending[row[0]] = []
            bucket.append(row[2])

    def exited(self, event: RankExited) -> None:
        self._stats(event.rank).exit_code = event.code

    def _stats(self, rank: int) -> RankStats:
        stats = self.stats.get(rank)
        if stats is None:
            stats = self.stats[rank] = RankStats()
        return stats

    def flush(self) -> None:
        """Append pending lines to the rank files and flush combined.log."""
        self._combined.flush()
        pending, self._pending = self._pending, {}
        for rank, texts in pending.items():
            if not texts:
                continue
            stats = self._stats(rank)
            block = "\n".join(texts) + "\n"
            if self.first_error is None and rank != LAUNCHER:
                self.first_error = _first_error(block, rank, stats.lines)
            if self.on_block is not None:
                self.on_block(rank, block)
            data = block.encode("utf-8", "replace")
            self._file(rank).write(data)
            stats.lines += len(texts)
            stats.bytes += len(data)
            stats.last_line = texts[-1][:500]

        for handle in self._files.values():
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
        self.flush()
        for handle in self._files.values():
            handle.close()
        self._files.clear()
        self._combined.close()


def _first_error(block: str, rank: int, lines_before: int) -> FirstError | None:
    """The first error line in ``block`` (the next lines of ``rank``'s log)."""
    pos = 0
    size = len(block)
    while pos < size:
        first = size
        for word in _ERROR_WORDS:
            at = block.find(word, pos, first)
            if at >= 0:
                first = at
        if first == size:
            return None
        start = block.rfind("\n", 0, first) + 1
        end = block.find("\n", first)
        end = size if end < 0 else end
        line = block[start:end]
        if _ERROR.search(line):
            return FirstError(rank, lines_before + block.count("\n", 0, start) + 1, line)
        pos = end + 1
    return None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` atomically (write a temp file, then rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
