"""Run one argv in its own process group and turn its output into events.

The launcher starts in a new session (so its whole tree is one process group we
can signal), with stdout and stderr on separate pipes. Stopping escalates: SIGINT
to the group, then SIGTERM after ``grace_s`` (or at the next interrupt), then
SIGKILL. Any output byte counts as activity for the idle watchdog. When the run
ends, whatever is left of the group, or of processes it started that left the
group, is killed: no process of the job outlives the run.

Back-pressure: after every chunk the pump awaits ``room()`` (the consumers'
writers have caught up). While it waits it reads nothing, so the launcher's pipe
fills and the job blocks on it: memory stays bounded whatever the job prints,
and the time spent held back is not silence for the watchdog.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import psutil

from ezpz_core.run.events import Event, Finished, Lines, Notice, StackReply, Started
from ezpz_core.run.labels import Attributor, LabelFormat
from ezpz_core.run.splitter import LineSplitter

Sink = Callable[[Event], None]
RawSink = Callable[[str, bytes], None]
Room = Callable[[], Awaitable[None]]

READ_SIZE = 1 << 18
PIPE_SIZE = 1 << 20
RUN_MARKER = "EZPZ_RUN_ID"  # set in the job's environment; leftovers are found by it
EXIT_WATCHDOG = 124
EXIT_INTERRUPTED = 130
EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126


@dataclass
class RunResult:
    code: int
    reason: str  # "", "watchdog", "interrupted", "signal", "not-found"
    started: float
    ended: float
    exits: dict[int, int] = field(default_factory=dict)


class Runner:
    """One attempt: start, stream, stop on request or silence, clean up."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        label_format: LabelFormat,
        sink: Sink,
        raw_sink: RawSink | None = None,
        timeout: float | None = None,
        grace_s: float = 10.0,
        cwd: str | None = None,
        attempt: int = 1,
        room: Room | None = None,
        before_watchdog: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.argv = tuple(argv)
        self.before_watchdog = before_watchdog  # the hang doctor's dump, while it still hangs
        self.env = dict(env)
        self.label_format = label_format
        self.sink = sink
        self.raw_sink = raw_sink
        self.timeout = timeout
        self.grace_s = grace_s
        self.cwd = cwd
        self.attempt = attempt
        self.room = room
        self.held = 0  # pumps waiting for room right now (not silence)
        self._pump_error: BaseException | None = None
        self._transports: tuple[asyncio.BaseTransport, ...] = ()
        self.last_activity = time.monotonic()
        self.reason = ""
        self.stop_signal: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._stage = 0  # 0 running, 1 SIGINT sent, 2 SIGTERM sent, 3 SIGKILL sent
        self._escalation: asyncio.Task[None] | None = None
        self._known: dict[int, float] = {}  # descendant pid -> create time
        self.exits: dict[int, int] = {}

    @property
    def pid(self) -> int | None:
        """The launcher's pid while it runs (the hang doctor signals it)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    # -- stopping -----------------------------------------------------------

    def request_stop(self, reason: str, signum: int = signal.SIGINT) -> None:
        """Ctrl+C, SIGTERM/SIGHUP to us, or the watchdog: escalate one step."""
        if self._proc is None or self._proc.returncode is not None:
            return
        if not self.reason:
            self.reason = reason
            self.stop_signal = signum
        self._escalate()

    def _escalate(self) -> None:
        steps = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
        if self._stage >= len(steps):
            return
        sig = steps[self._stage]
        self._stage += 1
        self._signal_group(sig)
        self.sink(
            Notice(f"sent {signal.Signals(sig).name} to the job's process group", time.time())
        )
        if self._escalation is not None:
            self._escalation.cancel()
        if self._stage < len(steps):
            self._escalation = asyncio.get_running_loop().create_task(self._escalate_later())

    async def _escalate_later(self) -> None:
        await asyncio.sleep(self.grace_s)
        self.sink(Notice(f"the job did not stop within {self.grace_s:g} s", time.time()))
        self._escalate()

    def _signal_group(self, sig: int) -> None:
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        self._remember_descendants()
        self._remember_marked()
        self._signal_strays(sig)

    def _remember_descendants(self) -> None:
        if self._proc is None:
            return
        try:
            children = psutil.Process(self._proc.pid).children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            with contextlib.suppress(psutil.Error):
                self._known.setdefault(child.pid, child.create_time())

    def _signal_strays(self, sig: int) -> None:
        """Signal remembered descendants that left our process group."""
        for pid, created in list(self._known.items()):
            try:
                proc = psutil.Process(pid)
                if proc.create_time() != created:
                    raise psutil.NoSuchProcess(pid)
                proc.send_signal(sig)
            except psutil.Error:
                self._known.pop(pid, None)

    # -- running ------------------------------------------------------------

    async def _pump(self, reader: asyncio.StreamReader, stream: str) -> None:
        splitter = LineSplitter(errors="surrogateescape")
        attributor = Attributor(self.label_format, stream)
        sink, raw, room = self.sink, self.raw_sink, self.room
        while True:
            chunk = await reader.read(READ_SIZE)
            if not chunk:
                break
            now = time.time()
            self.last_activity = time.monotonic()
            if raw is not None:
                raw(stream, chunk)
            block = splitter.feed_lines(chunk)
            if block is not None:
                sink(self._lines(attributor, block, splitter.continued, stream, now))
                if attributor.exits:
                    self._exits(attributor)
                if attributor.stacks:
                    for rank, text in attributor.take_stacks():
                        sink(StackReply(rank, text, now))
            if room is not None:
                self.held += 1
                try:
                    await room()
                finally:
                    self.held -= 1
                    self.last_activity = time.monotonic()
        rest = splitter.flush()
        tail = (attributor.rows(rest[0], splitter.continued) if rest else []) + attributor.flush()
        if tail:
            sink(Lines.from_rows(tail, time.time(), stream))
        self._exits(attributor)

    @staticmethod
    def _lines(
        attributor: Attributor, block: bytes | str, continued: list[int], stream: str, t: float
    ) -> Lines:
        """The fast bytes path where it applies, else the general one over text."""
        if isinstance(block, bytes):
            fast = attributor.batch(block)
            if fast is not None:
                ranks, texts, streams = fast
                return Lines(ranks, texts, t, stream, streams)
            text = block[:-1].decode("utf-8", "surrogateescape")
            return Lines.from_rows(attributor.rows(text), t, stream)
        return Lines.from_rows(attributor.rows(block, continued), t, stream)

    def _exits(self, attributor: Attributor) -> None:
        if attributor.exits:
            for event in attributor.take_exits():
                self.exits[event.rank] = event.code
                self.sink(event)

    async def _watchdog(self, timeout: float) -> None:
        while True:
            if self.held:  # we are the ones not reading: the job is not silent
                self.last_activity = time.monotonic()
            idle = time.monotonic() - self.last_activity
            if idle >= timeout:
                self.sink(
                    Notice(
                        f"watchdog: no output for {idle:.0f} s (--timeout {timeout:g}); "
                        "stopping the job",
                        time.time(),
                        "error",
                    )
                )
                if self.before_watchdog is not None:
                    await self.before_watchdog()  # bounded by its own timeout
                self.request_stop("watchdog")
                return
            await asyncio.sleep(min(1.0, max(0.05, timeout - idle)))

    async def _track(self) -> None:
        while True:
            self._remember_descendants()
            await asyncio.sleep(1.0)

    async def run(self) -> RunResult:
        started = time.time()
        out_r, out_w = _pipe()
        err_r, err_w = _pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        except (FileNotFoundError, PermissionError) as exc:
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            if isinstance(exc, FileNotFoundError):
                return self._failed(EXIT_NOT_FOUND, f"{self.argv[0]}: command not found", started)
            return self._failed(EXIT_NOT_EXECUTABLE, f"{self.argv[0]}: permission denied", started)
        except BaseException:
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            raise
        os.close(out_w)
        os.close(err_w)
        self._proc = proc
        self.last_activity = time.monotonic()
        self.sink(Started(proc.pid, self.argv, started, self.attempt))
        stdout, out_transport = await _reader(out_r)
        stderr, err_transport = await _reader(err_r)
        pumps = [
            asyncio.ensure_future(self._pump(stdout, "stdout")),
            asyncio.ensure_future(self._pump(stderr, "stderr")),
        ]
        self._transports = (out_transport, err_transport)
        for pump in pumps:
            pump.add_done_callback(self._pump_done)
        helpers = [asyncio.ensure_future(self._track())]
        if self.timeout:
            helpers.append(asyncio.ensure_future(self._watchdog(self.timeout)))
        try:
            code = await self._exit_code(proc)
            # Output may still be in the pipes; a rank that outlived the launcher
            # may hold them open: give the readers a moment, then clean up.
            _, late = await asyncio.wait(pumps, timeout=2.0)
            self._kill_leftovers()
            if late:
                await asyncio.wait(late, timeout=2.0)
                for task in late:
                    task.cancel()
        finally:
            for task in helpers:
                task.cancel()
            if self._escalation is not None:
                self._escalation.cancel()
            self._kill_leftovers()
        for transport in self._transports:
            transport.close()
        if self._pump_error is not None:  # our bug, not the job's: let it show
            raise self._pump_error
        ended = time.time()
        final = self._final_code(code)
        self.sink(Finished(final, ended, self.reason))
        return RunResult(final, self.reason, started, ended, dict(self.exits))

    def _pump_done(self, task: asyncio.Future[None]) -> None:
        """A reader that failed must not leave the job blocked on a full pipe
        for ever: stop the job (the error is raised when the run ends)."""
        if task.cancelled() or task.exception() is None or self._pump_error is not None:
            return
        self._pump_error = task.exception()
        self.sink(
            Notice(
                f"internal error reading the job's output: {self._pump_error!r}",
                time.time(),
                "error",
            )
        )
        self.request_stop("error", signal.SIGTERM)

    @staticmethod
    async def _exit_code(proc: asyncio.subprocess.Process) -> int:
        """The launcher's exit status as soon as it exits.

        ``Process.wait()`` (Python < 3.12) returns only once every pipe is closed,
        so a process that left the group but holds our pipes would keep the run
        open; the return code is set at exit, so poll it instead."""
        while proc.returncode is None:
            await asyncio.sleep(0.01)
        return proc.returncode

    def _final_code(self, code: int) -> int:
        if self.reason == "watchdog":
            return EXIT_WATCHDOG
        if self.reason == "interrupted":
            return EXIT_INTERRUPTED
        if self.reason == "signal" and self.stop_signal is not None:
            return 128 + self.stop_signal
        return 128 - code if code < 0 else code

    def _kill_leftovers(self) -> None:
        self._remember_descendants()
        self._remember_marked()
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self._signal_strays(signal.SIGKILL)

    def _remember_marked(self) -> None:
        """Processes on this host whose environment carries this run's marker.

        Catches what left the process group (``setsid``, daemons) between two
        samples of the process tree: the environment is inherited all the same."""
        marker = self.env.get(RUN_MARKER)
        if not marker:
            return
        needle = f"{RUN_MARKER}={marker}"
        me = os.getpid()
        for proc in psutil.process_iter(["pid"]):
            if proc.pid == me or proc.pid in self._known:
                continue
            try:
                if needle in _environ_text(proc.pid):
                    self._known[proc.pid] = proc.create_time()
            except (OSError, psutil.Error):
                continue

    def _failed(self, code: int, message: str, started: float) -> RunResult:
        now = time.time()
        self.reason = "not-found"
        self.sink(Notice(message, now, "error"))
        self.sink(Finished(code, now, self.reason))
        return RunResult(code, self.reason, started, now)


def _pipe() -> tuple[int, int]:
    """A pipe for one of the job's streams, as large as Linux allows (1 MiB by
    default): the launcher can write ahead while we parse, and we read big chunks,
    so fewer and larger batches go through the pipeline."""
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)  # type: ignore[attr-defined]
    return read_end, write_end


async def _reader(fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_SIZE, loop=loop)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader, loop=loop),
        os.fdopen(fd, "rb", buffering=0),
    )
    return reader, transport


def _environ_text(pid: int) -> str:
    with open(f"/proc/{pid}/environ", "rb") as handle:
        return handle.read().decode("utf-8", "replace").replace("\0", "\n")
