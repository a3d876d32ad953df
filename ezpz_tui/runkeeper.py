"""The app's hold on the attached run: the watch, the watcher thread, the child.

One watcher thread polls the attached run directory about five times a second
(faster while it catches up on a big file) and posts ``RunChanged`` when there
is news; a second message is not posted until the app has taken the first, so a
flood of lines never floods the message queue. A run the console started keeps
its ``Popen`` here only so that it is reaped; the job never depends on it.

A run submitted to a batch system (``submit.json`` in its directory) is also a
job in a queue: a second thread asks the queue about it when due (``JobFollower``
paces it: every second at first, every 10 s after a minute) and keeps one line
of what it said for the run bar. It is a thread of its own because a query is a
subprocess that a busy controller may hold for seconds: the lines of a running
job keep coming meanwhile. Cancelling it is ``scancel`` / ``qdel``.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ezpz_tui.messages import RunChanged

if TYPE_CHECKING:
    from textual.app import App

    from ezpz_core.submit.follow import Ending, JobFollower
    from ezpz_tui.watch.run import RunWatch

POLL_S = 0.2  # inotify is silent on NFS and Lustre: poll, 5 times a second
CATCH_UP_PAUSE_S = 0.005  # between steps while behind: the screen gets its turn
QUEUE_TICK_S = 0.25  # the queue thread's look (it asks the queue only when due)


class RunKeeper:
    def __init__(self, app: App[None]) -> None:
        self.app = app
        self.watch: RunWatch | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.quit_when_done = False
        self.job: JobFollower | None = None  # the attached run is a submitted job
        self.job_line = ""  # what its queue said last, for the run bar
        self.job_ending: Ending | None = None
        self._ask_queue = threading.Event()  # poll the queue now (after a cancel)
        self._queue_news = threading.Event()  # the queue thread has news to post
        self._stop: threading.Event | None = None
        self._wake = threading.Event()
        self._undelivered = threading.Event()
        self._idle = threading.Event()  # the watcher waits with nothing read and unposted

    def attach(self, path: Path, process: subprocess.Popen[bytes] | None = None) -> RunWatch:
        self.detach()
        from ezpz_tui.watch.run import RunWatch  # loaded with the first run, not at start-up

        surroundings = getattr(self.app, "surroundings", None)
        clock = getattr(surroundings, "clock", time.time)
        watch = self.watch = RunWatch(Path(path), clock=clock)
        self.process = process
        job = self.job = _follower(Path(path), dict(getattr(surroundings, "env", {})), clock)
        self.job_line, self.job_ending = "", None
        self._ask_queue.clear()
        self._queue_news.clear()
        stop = self._stop = threading.Event()
        idle = self._idle = threading.Event()
        self.app.run_worker(
            lambda: self._loop(watch, stop, idle),
            thread=True,
            group="run-watch",
            exclusive=True,
            exit_on_error=False,
            description="run watcher",
        )
        if job is not None:  # a daemon: a query the controller holds never holds up quitting
            name = "queue follower"
            threading.Thread(
                target=self._queue_loop, args=(job, watch, stop), name=name, daemon=True
            ).start()
        return watch

    def detach(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._wake.set()
        self._stop = None
        self.watch = None

    def kick(self) -> None:
        """Poll now (a new search wants its first hits)."""
        self._wake.set()

    def settled(self) -> bool:
        """Everything on disk has been read and shown (tests wait for this)."""
        watch = self.watch
        return (
            watch is not None
            and self._idle.is_set()  # first: a poll between the checks leaves it unset
            and watch.info is not None
            and not watch.behind
            and not watch.catching_up
            and not self._undelivered.is_set()
            and not self._queue_news.is_set()
        )

    def delivered(self) -> None:
        self._undelivered.clear()

    def live(self) -> bool:
        """The attached run still runs (as far as its files say), or its job
        still waits or runs in the queue."""
        watch = self.watch
        if watch is None:
            return False
        if self.process is not None and self.process.poll() is None:
            return True
        if self.job_cancellable():
            return True
        return watch.running

    def job_cancellable(self) -> bool:
        """A submitted job we can ask its scheduler to cancel: it has an id, the
        scheduler's client is here, and the queue has not said it ended."""
        job = self.job
        if job is None or job.client is None or job.job_id is None or job.gone:
            return False
        return self.job_ending is None and not (job.state is not None and job.state.state.final)

    def ask_queue(self) -> None:
        """Ask the queue at once (after a cancel: its answer should show soon)."""
        self._ask_queue.set()
        self._wake.set()

    def stop(self) -> str:
        from ezpz_tui.spawn import stop_run

        watch = self.watch
        if watch is None:
            return "no run attached"
        if not self.live():
            return "the run has ended already"
        job_id = watch.plan.get("job_id") if isinstance(watch.plan, dict) else None
        return stop_run(watch.path, socket.gethostname(), job_id).message

    def _loop(self, watch: RunWatch, stop: threading.Event, idle: threading.Event) -> None:
        dirty, posted = True, 0.0
        while not stop.is_set():
            idle.clear()
            started = time.monotonic()
            changed = watch.poll()
            changed |= watch.catch_up()
            if self._queue_news.is_set():
                self._queue_news.clear()
                changed = True
            if self.process is not None:
                self.process.poll()  # reap the child the moment it ends
            # news (or a second gone by: the clock in the run bar) is posted once
            # the app has taken the last message, never queued behind it
            dirty = dirty or changed or time.monotonic() - posted >= 1.0
            if dirty and not self._undelivered.is_set():
                self._undelivered.set()
                self.app.post_message(RunChanged())
                dirty, posted = False, time.monotonic()
            if watch.behind or watch.catching_up:
                stop.wait(CATCH_UP_PAUSE_S)
                continue
            if not dirty:
                idle.set()
            self._wake.wait(max(0.0, POLL_S - (time.monotonic() - started)))
            self._wake.clear()
        watch.close()

    def _queue_loop(self, job: JobFollower, watch: RunWatch, stop: threading.Event) -> None:
        while not stop.is_set() and self._follow_job(job, watch):
            stop.wait(QUEUE_TICK_S)

    def _follow_job(self, job: JobFollower, watch: RunWatch) -> bool:
        """Ask the queue when due and say how the job ended once it has; False
        once it has (nothing more to ask)."""
        from ezpz_core.run.rundir import RunStatus
        from ezpz_core.submit.follow import describe

        force = self._ask_queue.is_set()
        self._ask_queue.clear()
        job.poll(force=force)
        ended = job.gone or (job.state is not None and job.state.state.final)
        info = watch.info
        ending = None
        if ended or (info is not None and info.status in (RunStatus.FINISHED, RunStatus.GONE)):
            ending = job.ending()  # (waits a grace for the run's summary)
        said = _ending_text(ending) if ending is not None else describe(job.state, job.waited_s())
        line = _job_line(job, said)
        if line != self.job_line or ending is not None:
            self._queue_news.set()  # first: a test that sees the line sees it unposted
            self.job_line = line
            self.job_ending = ending  # last: whoever sees the ending sees its line
            self._wake.set()
        return ending is None


def _follower(path: Path, env: dict[str, str], clock: object) -> JobFollower | None:
    """The queue follower of a submitted run (None for a run started here)."""
    from ezpz_core.submit.record import SUBMIT, read_submit

    if not (path / SUBMIT).exists():
        return None
    from ezpz_core.submit.follow import JobFollower, client_for

    record = read_submit(path)
    if record is None:
        return None
    return JobFollower(path, client_for(record, env), record, clock=clock)  # type: ignore[arg-type]


def _job_line(job: JobFollower, said: str) -> str:
    """``slurm job 12: pending (Priority) for 0:05`` (and why the queue is silent)."""
    record = job.record
    kind = record.scheduler if record else "batch"
    if job.job_id is None:
        return f"{kind}: not submitted ({record.error if record else 'no record'})"
    text = f"{kind} job {job.job_id}: {said}"
    if job.client is None:
        text += f" (no {kind} client here: the queue is not asked)"
    elif job.error:
        text += f" (the queue did not answer: {job.error})"
    return text


def _ending_text(ending: Ending) -> str:
    words = f"{ending.state.value.replace('_', ' ')}, exit {ending.exit_code}"
    return words + (f" ({ending.reason})" if ending.reason else "")
