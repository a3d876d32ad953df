"""Following a submitted job: the queue until it starts, then its run directory.

Two sources, each the best one for part of the answer. The queue knows whether
the job waits (and why), runs, or ended without ever starting; it is asked at
a pace that does not load the controller (``QUERY_EVERY``) and what it said
last is kept in ``queue.json``, since it forgets finished jobs. The run
directory, written by the job's own ``ezpz-tui --run``, knows every line and,
in ``summary.json``, the exit code: when it exists it is the final word.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ezpz_core.kinds import SchedulerKind
from ezpz_core.run.rundir import SUMMARY, read_json
from ezpz_core.submit.client import SchedulerClient
from ezpz_core.submit.queue import JobState, QueueState
from ezpz_core.submit.record import SubmitRecord, read_queue, read_submit, write_queue

# seconds between queue queries, by how long we have followed: quick at first
# (a job on an idle cluster starts within seconds), then easy on the controller
QUERY_EVERY = ((10.0, 1.0), (60.0, 3.0), (float("inf"), 10.0))
SUMMARY_GRACE_S = 15.0  # the queue says ended: the summary may still be on its way (NFS)


@dataclass(frozen=True)
class Ending:
    """How the job ended, as far as anyone can tell."""

    exit_code: int
    state: QueueState
    reason: str
    from_summary: bool


class JobFollower:
    """Asks the queue when due, and says when and how the job ended."""

    def __init__(
        self,
        run_dir: Path,
        client: SchedulerClient | None,
        record: SubmitRecord | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.record = record or read_submit(self.run_dir)
        self.client = client
        self.clock = clock
        self.started = clock()
        self.state: JobState | None = read_queue(self.run_dir)
        self.gone = False
        self.error = ""
        self._asked = float("-inf")
        self._final_seen: float | None = None  # when the queue first said it ended
        self._summary_seen: float | None = None  # when the run's summary appeared

    @property
    def job_id(self) -> str | None:
        return self.record.job_id if self.record else None

    def due(self, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        if self.client is None or self.job_id is None or self.gone:
            return False
        if self.state is not None and self.state.state.final:
            return False
        age = now - self.started
        every = next(step for limit, step in QUERY_EVERY if age < limit)
        if self._summary_seen is not None:
            every = QUERY_EVERY[0][1]  # the run ended: the queue's last word is near
        return now - self._asked >= every

    def poll(self, force: bool = False) -> bool:
        """Ask the queue if due; True when what we know changed."""
        now = self.clock()
        if not (force or self.due(now)) or self.client is None or self.job_id is None:
            return False
        self._asked = now
        lookup = self.client.lookup(self.job_id)
        if lookup.error:
            changed = lookup.error != self.error
            self.error = lookup.error
            return changed
        answered_again = bool(self.error)  # the controller is back: that is news too
        self.error = ""
        if lookup.gone:
            changed = not self.gone
            self.gone = True
            return changed or answered_again
        state = lookup.state
        assert state is not None
        before = self.state
        self.state = state
        if before is None or _differs(before, state):
            write_queue(self.run_dir, state)
            return True
        return answered_again

    def waited_s(self, now: float | None = None) -> float | None:
        """How long the job has been waiting in the queue (None once it started)."""
        if self.record is None or (self.state is not None and not self.state.state.waiting):
            return None
        now = self.clock() if now is None else now
        return max(0.0, now - self.record.submitted)

    def _queue_may_say_more(self, queue: JobState | None) -> bool:
        """The run has its summary, and the queue, still asked, has not said it ended."""
        if self.client is None or self.job_id is None or self.gone:
            return False
        return queue is None or not queue.state.final

    def ending(self, now: float | None = None) -> Ending | None:
        """How the job ended, or None while it has not (or the summary is due)."""
        summary = read_json(self.run_dir / SUMMARY)
        queue = self.state
        if summary is not None and isinstance(summary.get("exit_code"), int):
            code = summary["exit_code"]
            if self._queue_may_say_more(queue):
                now = self.clock() if now is None else now
                if self._summary_seen is None:
                    self._summary_seen = now
                    self._asked = float("-inf")  # ask at once
                if now - self._summary_seen < SUMMARY_GRACE_S:
                    return None  # the queue names how it ended (a walltime kill: timeout)
            state = _state_of(code)
            agree = queue is not None and (code == 0) == (queue.state is QueueState.COMPLETED)
            if queue is not None and queue.state.final and agree:
                state = queue.state  # the queue's word (timeout, node failure) when it agrees
            reason = str(summary.get("reason") or "")
            return Ending(code, state, reason, from_summary=True)
        if self.record is not None and self.record.job_id is None:
            return Ending(1, QueueState.FAILED, self.record.error or "not submitted", False)
        ended = self.gone or (queue is not None and queue.state.final)
        if not ended:
            return None
        now = self.clock() if now is None else now
        if self._final_seen is None:
            self._final_seen = now
        if (self.run_dir / "owner.json").exists() and now - self._final_seen < SUMMARY_GRACE_S:
            return None  # it ran: its summary is the word worth waiting for
        if queue is not None and queue.state.final:
            code = queue.exit_code if queue.exit_code is not None else 1
            return Ending(code, queue.state, queue.reason or queue.raw.lower(), False)
        return Ending(
            1,
            QueueState.GONE,
            "the job left the queue and its run wrote no summary (see job.out)",
            False,
        )


def _differs(a: JobState, b: JobState) -> bool:
    """A change worth recording: not the clock running on."""
    return (a.state, a.raw, a.reason, a.exit_code, a.nodes, a.output) != (
        b.state,
        b.raw,
        b.reason,
        b.exit_code,
        b.nodes,
        b.output,
    )


def _state_of(code: int) -> QueueState:
    if code == 0:
        return QueueState.COMPLETED
    if code in (130, 143):
        return QueueState.CANCELLED
    if code == 124:
        return QueueState.TIMEOUT
    return QueueState.FAILED


def client_for(record: SubmitRecord | None, env: dict[str, str]) -> SchedulerClient | None:
    """The client of the scheduler a record names (None for none we know)."""
    if record is None:
        return None
    try:
        kind = SchedulerKind(record.scheduler)
    except ValueError:
        return None
    if kind is SchedulerKind.LOCAL:
        return None
    return SchedulerClient(kind, env)


def describe(state: JobState | None, waited_s: float | None = None) -> str:
    """One line for a person: ``pending (Priority) for 1:05``, ``running on nid001``."""
    if state is None:
        return "submitted; the queue has not answered yet"
    words = state.state.value.replace("_", " ")
    if state.reason and state.reason not in ("None", state.raw):
        words += f" ({state.reason})"
    if state.state.waiting and waited_s is not None:
        words += f" for {clock_text(waited_s)}"
    elif state.state is QueueState.RUNNING and state.nodes:
        words += f" on {state.nodes}"
    if state.state.final and state.exit_code is not None:
        words += f", exit {state.exit_code}"
    return words


def clock_text(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
