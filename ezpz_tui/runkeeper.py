"""The app's hold on the attached run: the watch, the watcher thread, the child.

One watcher thread polls the attached run directory about five times a second
(faster while it catches up on a big file) and posts ``RunChanged`` when there
is news; a second message is not posted until the app has taken the first, so a
flood of lines never floods the message queue. A run the console started keeps
its ``Popen`` here only so that it is reaped; the job never depends on it.
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

    from ezpz_tui.watch.run import RunWatch

POLL_S = 0.2  # inotify is silent on NFS and Lustre: poll, 5 times a second
CATCH_UP_PAUSE_S = 0.005  # between steps while behind: the screen gets its turn


class RunKeeper:
    def __init__(self, app: App[None]) -> None:
        self.app = app
        self.watch: RunWatch | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.quit_when_done = False
        self._stop: threading.Event | None = None
        self._wake = threading.Event()
        self._undelivered = threading.Event()
        self._idle = threading.Event()  # the watcher waits with nothing read and unposted

    def attach(self, path: Path, process: subprocess.Popen[bytes] | None = None) -> RunWatch:
        self.detach()
        from ezpz_tui.watch.run import RunWatch  # loaded with the first run, not at start-up

        clock = getattr(getattr(self.app, "surroundings", None), "clock", time.time)
        watch = self.watch = RunWatch(Path(path), clock=clock)
        self.process = process
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
        )

    def delivered(self) -> None:
        self._undelivered.clear()

    def live(self) -> bool:
        """The attached run still runs (as far as its files say)."""
        watch = self.watch
        if watch is None:
            return False
        if self.process is not None and self.process.poll() is None:
            return True
        return watch.running

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
