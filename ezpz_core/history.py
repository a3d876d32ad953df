"""Metric history files (JSONL): the writer our workload uses, and a tail reader.

The format is the original ezpz History schema (see ``docs/metrics.md``)::

    {"timestamp": 1764150000.1, "rank": 0,
     "metrics": {"step": 10, "loss": 0.69, ..., "loss/mean": 0.7, ...},
     "aggregated": {"loss/mean": 0.7, "loss/min": 0.6, ...}}

Flat rows (``{"step": 10, "loss": 0.69}``) are read too. The reader follows a file
that is still being written: it reads only new bytes, waits for a torn last line
to be completed, counts and skips corrupt lines, and starts over when the file is
truncated or replaced. Stdlib only (the workload imports the writer on every rank).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ezpz_core.metrics import MetricRow, numeric_items
from ezpz_core.tail import LineTail

READ_CHUNK = 64 * 1024 * 1024  # most bytes one poll reads; the rest waits for the next


def history_row(
    metrics: Mapping[str, float],
    aggregated: Mapping[str, float] | None = None,
    rank: int = 0,
    timestamp: float | None = None,
) -> dict[str, Any]:
    """One row as ezpz writes it: rank 0's aggregates are also merged into ``metrics``."""
    row: dict[str, Any] = {
        "timestamp": time.time() if timestamp is None else timestamp,
        "rank": rank,
        "metrics": {**metrics, **(aggregated or {})},
    }
    if aggregated:
        row["aggregated"] = dict(aggregated)
    return row


class HistoryWriter:
    """Appends rows, one ``write`` of one whole line each (``O_APPEND``): a reader
    never sees half a row from us, and nothing waits in a buffer."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, row: Mapping[str, Any]) -> None:
        if self._fd is None:
            raise ValueError(f"{self.path}: history writer is closed")
        data = (json.dumps(row, separators=(", ", ": ")) + "\n").encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def row_from_json(obj: object) -> MetricRow | None:
    """A ``MetricRow`` from one decoded line (nested ezpz schema or flat), or None
    when the line holds no number at all."""
    if not isinstance(obj, dict):
        return None
    metrics = obj.get("metrics")
    rank = obj.get("rank")
    t = obj.get("timestamp", obj.get("time"))
    if isinstance(metrics, dict):
        values = numeric_items(metrics)
        aggregated = obj.get("aggregated")
        # ezpz merges the aggregates into ``metrics`` already: nothing to add then
        if isinstance(aggregated, dict) and not aggregated.keys() <= values.keys():
            for key, value in numeric_items(aggregated).items():
                values.setdefault(key, value)
    else:
        flat = {k: v for k, v in obj.items() if k not in ("timestamp", "time", "rank")}
        values = numeric_items(flat)
    if not values:
        return None
    return MetricRow(
        values=values,
        rank=rank if isinstance(rank, int) and not isinstance(rank, bool) else None,
        t=float(t) if isinstance(t, int | float) and not isinstance(t, bool) else None,
    )


def parse_line(line: bytes) -> MetricRow | None:
    """One line of a history file; None if it is not a metrics row (``NaN`` and
    ``Infinity`` tokens, which Python's json writes by default, are accepted)."""
    try:
        return row_from_json(json.loads(line))
    except (ValueError, RecursionError):
        return None


class HistoryTail:
    """Follows one history file from a byte offset; ``poll`` returns the new rows
    (the file handling, truncation and replacement included: ``ezpz_core.tail``)."""

    def __init__(self, path: str | os.PathLike[str], chunk: int | None = None) -> None:
        self.path = Path(path)
        # most bytes one poll reads (the console's charts read in small steps)
        self._tail = LineTail(self.path, READ_CHUNK if chunk is None else chunk)
        self.rows_read = 0
        self.corrupt = 0  # complete lines that are not metric rows

    @property
    def offset(self) -> int:
        """Bytes consumed, a torn last line included."""
        return self._tail.offset

    @property
    def size(self) -> int:
        """The file's size at the last poll (how far behind ``offset`` is)."""
        return self._tail.size

    @property
    def restarts(self) -> int:
        """Truncations and replacements seen."""
        return self._tail.restarts

    def poll(self, final: bool = False) -> list[MetricRow]:
        """New complete rows since the last call. With ``final`` (the writer is
        gone), an unterminated last line is read too, if it parses."""
        rows: list[MetricRow] = []
        for line in self._tail.read(final=final):
            if not line.strip():
                continue
            row = parse_line(line)
            if row is None:
                self.corrupt += 1
            else:
                rows.append(row)
        self.rows_read += len(rows)
        return rows


def looks_like_history(path: str | os.PathLike[str]) -> bool:
    """Whether the first complete line of ``path`` is a metrics row (so a JSONL file
    of something else found under ``outputs/`` is not taken for a history)."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(1024 * 1024)
    except OSError:
        return False
    return first.endswith(b"\n") and parse_line(first) is not None
