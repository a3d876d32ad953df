"""``ezpz-tui --submit --wait``: follow a submitted job headless, to its exit code.

While the job waits, stderr says why (and, on a terminal, for how long): queue
time is not silence, so nothing here times out; the job's own ``--timeout``
runs inside the job and starts when the job does. Once the job writes its run
directory, its ranks' lines are printed as ``--run`` prints them (``[N] text``,
``--ranks`` and ``--grep`` applied) from ``combined.log``; the end is the run's
summary, or the queue's last word when the job never ran.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ezpz_core.run.events import LAUNCHER
from ezpz_core.run.filters import DisplayFilter
from ezpz_core.run.labels import LabelFormat, split_label
from ezpz_core.run.rundir import EventsTail, attempt_dir, read_json
from ezpz_core.submit.follow import Ending, JobFollower, clock_text, describe
from ezpz_core.tail import LineTail

POLL_S = 0.25
_COLORS = (36, 33, 32, 35, 34, 31, 96, 93, 92, 95, 94, 91)


class JobPrinter:
    """Prints a run directory's lines as they are written, with ``[N]`` gutters."""

    def __init__(self, run_dir: Path, out: TextIO, display: DisplayFilter, color: bool) -> None:
        self.run_dir = run_dir
        self.out = out.buffer if hasattr(out, "buffer") else None
        self.text_out = out
        self.display = display
        self.color = color
        self.fmt: LabelFormat | None = None
        self.lines = 0
        self._events = EventsTail(run_dir / "events.jsonl")
        self._tail = LineTail(run_dir / "combined.log")

    def gutter(self, rank: int) -> bytes:
        label = "[launcher]" if rank == LAUNCHER else f"[{rank}]"
        if self.color:
            code = "2" if rank == LAUNCHER else str(_COLORS[rank % len(_COLORS)])
            label = f"\x1b[{code}m{label}\x1b[0m"
        return (label + " ").encode()

    def poll(self, final: bool = False) -> int:
        """Print what is new; the number of lines read."""
        if self.fmt is None:
            plan = read_json(self.run_dir / "plan.json")
            if plan is None:
                return 0
            from ezpz_tui.watch.run import label_format_of

            self.fmt = label_format_of(plan)
        for event in self._events.poll():
            if event.get("event") == "attempt" and int(event.get("attempt") or 1) > 1:
                self._drain()
                self._tail = LineTail(attempt_dir(self.run_dir, event) / "combined.log")
        return self._drain(final)

    def _drain(self, final: bool = False) -> int:
        assert self.fmt is not None
        count = 0
        while True:
            lines = self._tail.read(final=final)
            if not lines:
                return count
            count += len(lines)
            self.lines += len(lines)
            pairs = [split_label(self.fmt, line) for line in lines]
            rows = [(rank, "stdout", text.decode(errors="replace")) for rank, text in pairs]
            mask = self.display.shown(rows) if self.display.active else [True] * len(rows)
            data = b"".join(
                self.gutter(rank) + text + b"\n"
                for (rank, text), keep in zip(pairs, mask, strict=True)
                if keep
            )
            if self.out is not None:
                self.out.write(data)
                self.out.flush()
            else:
                self.text_out.write(data.decode(errors="replace"))
                self.text_out.flush()


class StatusLine:
    """Our messages on stderr; the live line (pending time) only on a terminal."""

    def __init__(self, err: TextIO, live: bool) -> None:
        self.err = err
        self.live = live
        self._shown = False

    def say(self, text: str) -> None:
        self.clear()
        self.err.write(f"ezpz-tui: {text}\n")
        self.err.flush()

    def show(self, text: str) -> None:
        if self.live:
            self.err.write(f"\r\x1b[K{text}")
            self.err.flush()
            self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.err.write("\r\x1b[K")
            self._shown = False


def print_ending(err: TextIO, run_dir: Path, ending: Ending, job_id: str | None) -> None:
    w = err.write
    w("\n── ezpz-tui job " + "─" * 44 + "\n")
    w(f"  job         {job_id or '-'}: {ending.state.value.replace('_', ' ')}\n")
    reason = f" ({ending.reason})" if ending.reason else ""
    source = "the run's summary" if ending.from_summary else "the scheduler"
    w(f"  exit code   {ending.exit_code}{reason}, from {source}\n")
    summary = read_json(run_dir / "summary.json") or {}
    if isinstance(summary.get("duration_s"), int | float):
        w(f"  duration    {summary['duration_s']:.2f} s (the run, without queue time)\n")
    error = summary.get("first_error")
    if isinstance(error, dict) and "rank" in error:
        w(f"  first error rank {error['rank']}: {str(error.get('text', ''))[:200]}\n")
    w(f"  run dir     {run_dir}  (job.sh, job.out, ranks/, combined.log)\n")
    err.flush()


def wait_for_job(
    follower: JobFollower,
    printer: JobPrinter,
    status: StatusLine,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Follow until the job ended; its exit code. Ctrl+C stops following only:
    the job runs on (the message says how to cancel or attach again)."""
    job = follower.job_id
    last_text = ""
    interrupted = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    previous = signal.signal(signal.SIGINT, stop)
    try:
        while not interrupted:
            follower.poll()
            text = describe(follower.state)
            if follower.error:
                text = f"cannot ask the scheduler: {follower.error}"
            if text != last_text:
                status.say(f"job {job}: {text}")
                last_text = text
            read = printer.poll()
            ending = follower.ending()
            if ending is not None:
                printer.poll(final=True)
                status.clear()
                print_ending(status.err, follower.run_dir, ending, job)
                return ending.exit_code
            waited = follower.waited_s()
            if waited is not None:
                status.show(f"job {job}: waiting in the queue for {clock_text(waited)}")
            if not read:
                sleep(POLL_S)
    finally:
        signal.signal(signal.SIGINT, previous)
    status.say(
        f"stopped following job {job}; it runs on. Follow it again: ezpz-tui --attach {job}"
        f" (or --attach {follower.run_dir})"
    )
    return 130


def stderr_is_live(env: dict[str, str]) -> bool:
    return sys.stderr.isatty() and env.get("TERM") != "dumb"
