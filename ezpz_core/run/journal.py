"""The run's journal: ``owner.json`` and ``events.jsonl``, for readers elsewhere.

A console started later (or on another host, over a shared filesystem) must tell
whose run a directory is, whether it is still going, and what happened so far,
without talking to the process that runs it. So the session leaves two files:

* ``owner.json`` (written once, atomically): host, pid, start, argv and the
  heartbeat period. Its mtime is touched every ``heartbeat_s`` while the session
  lives: on another host, where the pid means nothing, a fresh mtime is the sign
  of life (see ``ezpz_core.run.rundir.owner_alive``).
* ``events.jsonl``: one JSON object per line, each with ``event`` and ``t``
  (epoch seconds), appended as things happen. Each line goes out in one
  ``os.write`` on a descriptor opened with ``O_APPEND``, so a reader sees whole
  lines, or a partial last line while one is being written; readers take only
  lines that end in ``\\n``.

The kinds, their fields and when they are written: ``docs/run.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

OWNER = "owner.json"
EVENTS = "events.jsonl"
HEARTBEAT_S = 2.0
PROGRESS_S = 1.0  # at most one progress event per attempt this often


def owner_record(
    argv: Sequence[str],
    heartbeat_s: float = HEARTBEAT_S,
    now: float | None = None,
    host: str | None = None,
    pid: int | None = None,
) -> dict[str, Any]:
    """What ``owner.json`` holds (this process on this host unless told)."""
    return {
        "host": socket.gethostname() if host is None else host,
        "pid": os.getpid() if pid is None else pid,
        "start": time.time() if now is None else now,
        "argv": list(argv),
        "heartbeat_s": heartbeat_s,
    }


def write_owner(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write ``owner.json`` atomically: a reader finds the whole file or none."""
    path = run_dir / OWNER
    tmp = run_dir / f".{OWNER}.tmp"
    tmp.write_text(json.dumps(record) + "\n")
    os.replace(tmp, path)
    return path


def event_line(event: str, t: float, fields: dict[str, Any]) -> bytes:
    """One ``events.jsonl`` line: ``{"event", "t", **fields}`` and a newline.

    ``ensure_ascii`` (the default) keeps the line pure ASCII, so a job's invalid
    UTF-8 in a notice cannot make a line a reader fails to decode."""
    return (json.dumps({"event": event, "t": t, **fields}) + "\n").encode("ascii")


class Journal:
    """Appends a run's events; ``heartbeat()`` keeps ``owner.json`` fresh."""

    def __init__(self, run_dir: Path, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.run_dir = run_dir
        self.heartbeat_s = heartbeat_s
        self.owner_path = run_dir / OWNER
        self.events_path = run_dir / EVENTS
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        self._fd: int | None = os.open(self.events_path, flags, 0o644)

    def write_owner(self, argv: Sequence[str], now: float | None = None) -> dict[str, Any]:
        record = owner_record(argv, self.heartbeat_s, now)
        write_owner(self.run_dir, record)
        return record

    def append(self, event: str, t: float | None = None, **fields: Any) -> None:
        """One line, whole, in one write (a short write is finished at once)."""
        if self._fd is None:
            return
        data = memoryview(event_line(event, time.time() if t is None else t, fields))
        while data:
            data = data[os.write(self._fd, data) :]

    # -- the kinds (one place for their fields) ------------------------------

    def started(
        self,
        run_dir: Path,
        argv: Sequence[str],
        world_size: int | None,
        ranks_expected: int | None,
        t: float | None = None,
        marker: str = "",
    ) -> None:
        """``marker``: the job's ``EZPZ_RUN_ID``, by which its processes on a host
        are found (``--stacks``), whatever launched them (srun's tasks are no
        descendants of srun)."""
        self.append(
            "started",
            t,
            pid=os.getpid(),
            host=socket.gethostname(),
            run_dir=os.path.abspath(run_dir),
            argv=list(argv),
            world_size=world_size,
            ranks_expected=ranks_expected,
            marker=marker,
        )

    def attempt(
        self, attempt: int, pid: int, argv: Sequence[str], directory: Path, t: float | None = None
    ) -> None:
        self.append(
            "attempt",
            t,
            attempt=attempt,
            pid=pid,
            argv=list(argv),
            directory=os.path.abspath(directory),
        )

    def rank_exit(self, attempt: int, rank: int, code: int, t: float | None = None) -> None:
        self.append("rank_exit", t, attempt=attempt, rank=rank, code=code)

    def notice(self, level: str, text: str, t: float | None = None) -> None:
        self.append("notice", t, level=level, text=text)

    def metrics(self, source: str | None, rank: int, t: float | None = None) -> None:
        """Where the run's metrics come from now (``history:<path>`` or ``log``)."""
        self.append("metrics", t, source=source, rank=rank)

    def progress(self, attempt: int, size: int, lines: int, t: float | None = None) -> None:
        self.append("progress", t, attempt=attempt, bytes=size, lines=lines)

    def finished(self, code: int, reason: str, t: float | None = None) -> None:
        self.append("finished", t, code=code, reason=reason)

    # -- life ------------------------------------------------------------------

    def touch(self) -> None:
        """Mark the owner alive now (a removed run directory is not our error)."""
        with contextlib.suppress(OSError):
            os.utime(self.owner_path)

    async def heartbeat(self) -> None:
        """Touch ``owner.json`` every ``heartbeat_s`` until cancelled."""
        while True:
            await asyncio.sleep(self.heartbeat_s)
            self.touch()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class ProgressMeter:
    """When a progress event is due: output moved on and ``interval`` has passed.

    Progress events map byte offsets of ``combined.log`` to wall time (a finished
    run's activity then has real times); one a second is plenty for that and keeps
    ``events.jsonl`` small however much a job prints."""

    def __init__(self, interval: float = PROGRESS_S) -> None:
        self.interval = interval
        self._last_t = float("-inf")
        self._last: tuple[int, int] = (0, 0)

    def due(self, written: tuple[int, int], now: float) -> bool:
        if written == self._last or now - self._last_t < self.interval:
            return False
        self._last, self._last_t = written, now
        return True
