"""One consumer's writes on a thread of their own, with a bound on what waits.

A terminal that stops reading (``| less`` at a prompt, a stalled SSH session) or
a slow disk must neither hold up the event loop (Ctrl+C, the watchdog and the
twice-a-second flush run there) nor make us queue the job's output without
limit. So the loop hands each write to a ``BackgroundWriter`` with its size and
goes on; the thread does the writes in order. Once more than ``limit`` bytes
wait, ``room()`` blocks the caller until the thread has caught up: the runner
awaits it after every chunk, so it stops reading from the launcher, the pipe
fills, and the job waits on it, exactly as it would writing to that slow disk
itself. Writes that release the GIL (all file and pipe writes) then also run in
parallel with the parsing of the next chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable

Job = Callable[[], None]

DEFAULT_LIMIT = 16 * 1024 * 1024  # bytes waiting before the reader is held back


class BackgroundWriter:
    """Runs submitted jobs in order on one thread; ``room()`` is the back-pressure."""

    def __init__(self, name: str, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.error: BaseException | None = None  # the first job that failed
        self.peak = 0  # most bytes that ever waited (tests, benchmarks)
        self._jobs: deque[tuple[Job, int]] = deque()
        self._unfinished = 0  # jobs queued or running
        self._queued = 0
        self._closing = False
        self._cv = threading.Condition()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def full(self) -> bool:
        return self._queued > self.limit

    def submit(self, job: Job, size: int) -> None:
        """Queue ``job`` (``size``: the bytes it writes). Never blocks."""
        with self._cv:
            if self._closing:
                raise RuntimeError("BackgroundWriter: submit after close")
            self._jobs.append((job, size))
            self._unfinished += 1
            self._queued += size
            self.peak = max(self.peak, self._queued)
            self._cv.notify()

    async def room(self) -> None:
        """Return once at most ``limit`` bytes wait (at once when that is so)."""
        while self.full:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()
            with self._cv:
                if not self.full:
                    return
                self._waiters.append((loop, future))
            await future

    def drain(self, timeout: float | None = None) -> bool:
        """Block until every queued job ran; False if ``timeout`` passed first."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._unfinished, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Run what is queued, then stop the thread."""
        with self._cv:
            self._closing = True
            self._cv.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._jobs and not self._closing:
                    self._cv.wait()
                if not self._jobs:
                    return
                job, size = self._jobs.popleft()
            try:
                job()
            except BaseException as exc:  # a write failed: the owner raises it later
                if self.error is None:
                    self.error = exc
            with self._cv:
                self._unfinished -= 1
                self._queued -= size
                waiters = []
                if not self.full and self._waiters:
                    waiters, self._waiters = self._waiters, []
                self._cv.notify_all()
            for loop, future in waiters:
                _wake(loop, future)


def _wake(loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]) -> None:
    def done() -> None:
        if not future.done():
            future.set_result(None)

    with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
        loop.call_soon_threadsafe(done)
