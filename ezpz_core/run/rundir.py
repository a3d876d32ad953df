"""Reading a run directory: whose run it is, whether it still runs, how it ended.

A console lists the runs under ``--outdir`` and attaches to one, often while the
run is being written, sometimes from another host over a shared filesystem. So
everything here reads files only, cheaply, and never raises on a missing,
truncated or corrupt file: a half-written run is the normal case, not an error.

The status of a run, in order:

* ``summary.json`` exists: FINISHED (written at the end, whatever the end).
* ``owner.json`` names a live owner: RUNNING. On the owner's host, its pid must
  exist and have been started no later than the run (else the pid was reused);
  elsewhere, the owner's heartbeat (the file's mtime) must be younger than
  ``3 * heartbeat_s + OWNER_GRACE_S``.
* ``owner.json`` names a dead owner: GONE (killed, crashed, host down).
* no ``owner.json`` yet: STARTING, for ``STARTING_GRACE_S``; an older directory
  without one (a run of an ezpz-tui before the journal that died) is GONE.
  A run submitted to a batch system (``submit.json``) is QUEUED instead until
  its job starts; the last queue state seen (``queue.json``) says whether it
  ended in the queue (GONE, with that state as the reason).

What ``owner.json`` and ``events.jsonl`` hold: ``journal.py`` and ``docs/run.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import psutil

from ezpz_core.jsonfile import read_json
from ezpz_core.run.journal import EVENTS, HEARTBEAT_S, OWNER
from ezpz_core.submit.record import SUBMIT, read_queue, read_submit
from ezpz_core.tail import LineTail

SUMMARY = "summary.json"
PLAN = "plan.json"
RUN_FILES = (OWNER, PLAN, SUMMARY, EVENTS, SUBMIT)  # a directory holding one of these is a run
OWNER_GRACE_S = 10.0  # heartbeat slack for clock skew and a busy filesystem
PID_START_SLACK_S = 2.0  # the owner's process starts before the run (create-time rounding)
STARTING_GRACE_S = 60.0  # how long a run without owner.json may still be starting
TAIL_BYTES = 64 * 1024  # how much of events.jsonl's end is read for the finished event
MAX_EVENTS_READ = 8 * 1024 * 1024  # bytes EventsTail reads at once (and the longest event)


class RunStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    GONE = "gone"
    STARTING = "starting"
    QUEUED = "queued"  # submitted from a login node, not started yet


@dataclass(frozen=True)
class Owner:
    """Who runs (ran) a run: ``owner.json`` and, as its heartbeat, its mtime."""

    host: str
    pid: int
    start: float
    heartbeat_s: float
    mtime: float
    argv: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunInfo:
    """One run directory as a list of runs shows it."""

    path: Path
    status: RunStatus
    start: float | None
    end: float | None  # finished: the end; gone: the owner's last heartbeat
    exit_code: int | None
    reason: str
    ranks: int | None  # world size from plan.json
    command: tuple[str, ...]
    host: str | None
    pid: int | None
    job_id: str | None
    launch_style: str | None
    rank_io: str | None
    scheduler: str | None = None  # plan.json's ("pbs", "slurm", "local")

    def duration(self, now: float | None = None) -> float | None:
        """Seconds from start to end, or to ``now`` while it runs; None if unknown."""
        if self.start is None:
            return None
        if self.end is not None:
            return max(0.0, self.end - self.start)
        if self.status in (RunStatus.RUNNING, RunStatus.STARTING):
            return max(0.0, (time.time() if now is None else now) - self.start)
        return None


# -- small readers that never raise ---------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _words(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))


def parse_event(line: bytes) -> dict[str, Any] | None:
    """One ``events.jsonl`` line (newline dropped) as a dict; None if it is not
    an event (not JSON, not an object, no ``event`` name)."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        return None
    return data


# -- owner ----------------------------------------------------------------------


def read_owner(run_dir: Path | str) -> Owner | None:
    """The run's owner from ``<run_dir>/owner.json``; None if missing or unreadable."""
    path = Path(run_dir) / OWNER
    data = read_json(path)
    if data is None:
        return None
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    host, pid, start = _text(data.get("host")), _whole(data.get("pid")), _number(data.get("start"))
    if host is None or pid is None or start is None:
        return None
    heartbeat = _number(data.get("heartbeat_s"))
    return Owner(
        host=host,
        pid=pid,
        start=start,
        heartbeat_s=heartbeat if heartbeat is not None and heartbeat > 0 else HEARTBEAT_S,
        mtime=mtime,
        argv=_words(data.get("argv")),
    )


def heartbeat_fresh(owner: Owner, now: float | None = None) -> bool:
    """The owner touched ``owner.json`` recently enough to be taken as alive."""
    now = time.time() if now is None else now
    return now - owner.mtime < 3 * owner.heartbeat_s + OWNER_GRACE_S


def owner_alive(
    owner: Owner | None, now: float | None = None, hostname: str | None = None
) -> bool | None:
    """Is the owner still running? None when there is no owner to judge.

    On the owner's host the process table decides: the pid exists, is no zombie,
    and its process started no later than the run (a pid reused since started
    after it). Elsewhere, or where the process cannot be inspected, the heartbeat
    decides."""
    if owner is None:
        return None
    here = socket.gethostname() if hostname is None else hostname
    if owner.host == here:
        try:
            proc = psutil.Process(owner.pid)
            created = proc.create_time()
            zombie = proc.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
        except psutil.Error:  # not ours to inspect: judge by the heartbeat
            return heartbeat_fresh(owner, now)
        return not zombie and created <= owner.start + PID_START_SLACK_S
    return heartbeat_fresh(owner, now)


# -- runs -----------------------------------------------------------------------


def is_run_dir(path: Path) -> bool:
    """A directory that holds one of a run's own files."""
    try:
        return path.is_dir() and any((path / name).exists() for name in RUN_FILES)
    except OSError:
        return False


def _tail_events(path: Path, size: int = TAIL_BYTES) -> list[dict[str, Any]]:
    """The whole events in the last ``size`` bytes of ``path`` (a cut first line
    and an unfinished last one are dropped)."""
    try:
        with open(path, "rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            start = max(0, end - size)
            handle.seek(start)
            data = handle.read(end - start)
    except OSError:
        return []
    lines = data.split(b"\n")[:-1]  # the last piece has no newline: unfinished
    if start > 0 and lines:
        lines = lines[1:]  # began mid-line
    return [event for line in lines if (event := parse_event(line)) is not None]


def first_event(path: Path) -> dict[str, Any] | None:
    """The first whole event of ``path`` (the ``started`` event of a run)."""
    try:
        with open(path, "rb") as handle:
            line = handle.readline(1 << 20)
    except OSError:
        return None
    return parse_event(line[:-1]) if line.endswith(b"\n") else None


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def run_info(path: Path | str, now: float | None = None) -> RunInfo:
    """What ``path`` holds, judged now (see the module docstring for the status)."""
    path = Path(path)
    now = time.time() if now is None else now
    plan = read_json(path / PLAN) or {}
    owner = read_owner(path)
    started = first_event(path / EVENTS)
    start = owner.start if owner is not None else None
    if start is None and started is not None and started.get("event") == "started":
        start = _number(started.get("t"))
    end: float | None = None
    exit_code: int | None = None
    reason = ""
    if (path / SUMMARY).exists():
        status = RunStatus.FINISHED
        # the finished event (last in events.jsonl) says what the summary says in
        # a few bytes; summary.json of a 20,000-rank run is megabytes
        finished = next(
            (e for e in reversed(_tail_events(path / EVENTS)) if e["event"] == "finished"), None
        )
        if finished is not None:
            exit_code, end = _whole(finished.get("code")), _number(finished.get("t"))
            reason = _text(finished.get("reason")) or ""
        else:  # a run of an ezpz-tui before the journal, or events.jsonl is gone
            summary = read_json(path / SUMMARY) or {}
            exit_code, end = _whole(summary.get("exit_code")), _number(summary.get("end"))
            reason = _text(summary.get("reason")) or ""
            start = start if start is not None else _number(summary.get("start"))
    elif owner is None and (submitted := read_submit(path)) is not None:
        queue = read_queue(path)
        status = RunStatus.QUEUED
        if submitted.job_id is None:
            status, reason = RunStatus.GONE, f"not submitted: {submitted.error}"
        elif queue is not None and queue.state.final:
            status, reason = RunStatus.GONE, f"{queue.state.value} in the queue"
            exit_code = queue.exit_code
        elif queue is not None:
            reason = queue.state.value + (f" ({queue.reason})" if queue.reason else "")
        start = start if start is not None else submitted.submitted
    elif owner is None:
        seen = _mtime(path / PLAN) or _mtime(path)
        young = seen is None or now - seen < STARTING_GRACE_S
        status = RunStatus.STARTING if young else RunStatus.GONE
    elif owner_alive(owner, now):
        status = RunStatus.RUNNING
    else:
        status, end = RunStatus.GONE, owner.mtime
    host = owner.host if owner is not None else None
    pid = owner.pid if owner is not None else None
    if host is None and started is not None:
        host, pid = _text(started.get("host")), _whole(started.get("pid"))
    return RunInfo(
        path=path,
        status=status,
        start=start,
        end=end,
        exit_code=exit_code,
        reason=reason,
        ranks=_whole(plan.get("world_size")),
        command=_words(plan.get("command")),
        host=host,
        pid=pid,
        job_id=_text(plan.get("job_id")) or _submitted_id(path, plan),
        launch_style=_text(plan.get("launch_style")),
        rank_io=_text(plan.get("rank_io")),
        scheduler=_text(plan.get("scheduler")),
    )


def _submitted_id(path: Path, plan: dict[str, Any]) -> str | None:
    if plan:
        return None
    record = read_submit(path)
    return record.job_id if record is not None else None


def _sort_key(info: RunInfo) -> tuple[float, str]:
    when = info.start if info.start is not None else (_mtime(info.path) or 0.0)
    return when, info.path.name


def list_runs(outdir: Path | str, now: float | None = None) -> list[RunInfo]:
    """The runs directly under ``outdir``, newest first; other entries are skipped,
    and a missing ``outdir`` is no runs."""
    try:
        entries = sorted(os.scandir(outdir), key=lambda entry: entry.name)
    except OSError:
        return []
    runs = []
    for entry in entries:
        path = Path(entry.path)
        if is_run_dir(path):
            with contextlib.suppress(OSError):  # removed while we looked
                runs.append(run_info(path, now))
    return sorted(runs, key=_sort_key, reverse=True)


def newest_run(outdir: Path | str) -> Path | None:
    """The newest run under ``outdir`` (by start), or None."""
    runs = list_runs(outdir)
    return runs[0].path if runs else None


# -- attempts -------------------------------------------------------------------

_ATTEMPT = re.compile(r"attempt-(\d+)")


def attempt_dirs(run_dir: Path | str) -> list[Path]:
    """Where each attempt's logs are, in order: ``attempt-<k>/`` with ``--retries``,
    else the run directory itself."""
    run_dir = Path(run_dir)
    try:
        found = [
            (int(m.group(1)), Path(entry.path))
            for entry in os.scandir(run_dir)
            if (m := _ATTEMPT.fullmatch(entry.name)) and entry.is_dir()
        ]
    except OSError:
        return [run_dir]
    return [path for _, path in sorted(found)] or [run_dir]


def attempt_dir(run_dir: Path | str, event: dict[str, Any]) -> Path:
    """The directory of an ``attempt`` event, under ``run_dir`` as seen here: the
    event's path is the owner's, which another host may mount elsewhere."""
    run_dir = Path(run_dir)
    name = Path(_text(event.get("directory")) or "").name
    return run_dir / name if _ATTEMPT.fullmatch(name) else run_dir


# -- following events.jsonl -----------------------------------------------------


class EventsTail:
    """Reads the events appended to ``events.jsonl`` since the last ``poll``.

    Only whole lines are taken: a line still being written waits for its newline.
    Lines that are not events are skipped. A file that shrank or was replaced is
    read again from its start (``ezpz_core.tail``). The file need not exist yet."""

    def __init__(self, path: Path | str, max_bytes: int = MAX_EVENTS_READ) -> None:
        self.path = Path(path)
        self._tail = LineTail(self.path, max_bytes, max_line=max_bytes)

    @property
    def offset(self) -> int:
        """Bytes read, a torn last line included."""
        return self._tail.offset

    def poll(self) -> list[dict[str, Any]]:
        """The events of the whole lines appended since the last call."""
        events: list[dict[str, Any]] = []
        tail = self._tail
        while True:
            offset, restarts = tail.offset, tail.restarts
            events += [e for line in tail.read() if (e := parse_event(line))]
            if (tail.offset == offset and tail.restarts == restarts) or not tail.behind:
                return events


# -- stopping a run ---------------------------------------------------------------

_CANCEL = {"slurm": "scancel", "pbs": "qdel"}
_SLURM_ID = re.compile(r"\d+(?:_\d+)?(?:\+\d+)?")  # 123, 123_4 (array), 123+1 (het job)


def _cancel_command(job_id: str, scheduler: str | None) -> str:
    if scheduler not in _CANCEL:  # PBS ids carry their server: 8414055.aurora-pbs-0001
        scheduler = "slurm" if _SLURM_ID.fullmatch(job_id) else "pbs"
    return _CANCEL[scheduler]


def stop_hint(
    owner: Owner | None, scheduler_job_id: str | None, scheduler: str | None = None
) -> str:
    """How a person stops the run: SIGINT to its owner (it stops the job as Ctrl+C
    does, and writes the summary), and the scheduler's cancel for the whole job.
    Empty when neither is known."""
    cancel = (
        f"{_cancel_command(scheduler_job_id, scheduler)} {scheduler_job_id}"
        if scheduler_job_id
        else ""
    )
    if owner is None:
        return cancel
    kill = f"kill -INT {owner.pid} on host {owner.host}"
    return f"{kill} (or {cancel} to end the whole job)" if cancel else kill
