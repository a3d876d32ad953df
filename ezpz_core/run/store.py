"""The run directory: everything a run printed, on disk, unfiltered.

``<outdir>/<YYYYmmdd-HHMMSS>-<jobid|local>/`` holds ``plan.json``,
``combined.log`` (every byte as received, labels included), ``ranks/rank-<N>.log``
(one per rank, label stripped) and ``ranks/launcher.log``, and ``summary.json``.
With ``--retries`` each attempt writes its logs into ``attempt-<k>/``.

Rank files are appended in batches (at most twice a second and at the end), so a
1,024-rank job does not hold 1,024 open files.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ezpz_core.run.events import LAUNCHER, Line, RankExited

# What counts as "the first error": tracebacks, "...Error:" lines, fatal signals.
_ERROR = re.compile(
    r"Traceback \(most recent call last\)|^\s*(?:[\w.]+(?:Error|Exception)|error|ERROR|FATAL)\b"
    r"|Segmentation fault|died from signal|out of memory",
    re.MULTILINE,
)


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

    def __post_init__(self) -> None:
        (self.directory / "ranks").mkdir(parents=True, exist_ok=True)
        self._combined = open(self.directory / "combined.log", "ab")  # noqa: SIM115
        self._pending: dict[int, list[str]] = {}

    def rank_log(self, rank: int) -> Path:
        name = "launcher.log" if rank == LAUNCHER else f"rank-{rank}.log"
        return self.directory / "ranks" / name

    def raw(self, data: bytes) -> None:
        self._combined.write(data)

    def add(self, lines: list[Line]) -> None:
        pending = self._pending
        for line in lines:
            bucket = pending.get(line.rank)
            if bucket is None:
                bucket = pending[line.rank] = []
            bucket.append(line.text)

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
                m = _ERROR.search(block)
                if m is not None:
                    start = block.rfind("\n", 0, m.start()) + 1
                    end = block.find("\n", m.start())
                    lineno = stats.lines + block.count("\n", 0, start) + 1
                    self.first_error = FirstError(rank, lineno, block[start:end])
            data = block.encode("utf-8", "replace")
            with open(self.rank_log(rank), "ab") as handle:
                handle.write(data)
            stats.lines += len(texts)
            stats.bytes += len(data)
            stats.last_line = texts[-1][:500]

    def close(self) -> None:
        self.flush()
        self._combined.close()


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` atomically (write a temp file, then rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
