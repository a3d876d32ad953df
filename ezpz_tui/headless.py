"""``ezpz-tui --run``: the job with no UI, its lines printed as ``[N] text``.

Job output goes to stdout (rank gutter coloured per rank on a terminal, plain when
piped or with ``NO_COLOR``; none with ``--quiet``); our own messages, the live
status line (terminals only) and the end-of-run summary go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping
from itertools import chain, compress
from typing import TextIO

from ezpz_core.launch.plan import LaunchPlan
from ezpz_core.run.events import LAUNCHER, Event, Lines, Notice, Started
from ezpz_core.run.filters import DisplayFilter
from ezpz_core.run.session import Outcome, RunOptions, Session
from ezpz_core.run.writer import BackgroundWriter

PRINT_LIMIT = 4 * 1024 * 1024  # bytes of output waiting for the terminal, at most
COALESCE_BYTES = 256 * 1024  # output handed to the writer thread in pieces this big...
COALESCE_S = 0.02  # ...or after this long (one thread wake-up per piece, not per read)

_COLORS = (36, 33, 32, 35, 34, 31, 96, 93, 92, 95, 94, 91)
_CLEAR = "\r\x1b[K"


def use_color(stream: TextIO, env: Mapping[str, str]) -> bool:
    return stream.isatty() and not env.get("NO_COLOR") and env.get("TERM") != "dumb"


class HeadlessPrinter:
    """Consumes runner events; prints what the display filter lets through.

    Writes run on a ``BackgroundWriter`` thread (in order: job lines, our notices
    and the status line share it), so a terminal that stops reading holds the job
    back through ``room()`` instead of blocking the event loop or filling memory.
    Job lines are written as the bytes the job printed, with our ``[N]`` gutter."""

    def __init__(
        self,
        out: TextIO,
        err: TextIO,
        display: DisplayFilter,
        color: bool,
        status: bool,
        quiet: bool = False,
    ) -> None:
        self.out, self.err = out, err
        self.display = display
        self.color = color
        self.status = status
        self.quiet = quiet  # --quiet: count job lines, print none (the files get them)
        self._gutters: dict[int, bytes] = {}
        self.lines_seen = 0
        self.ranks_seen: set[int] = set()
        self.started = time.monotonic()
        self._status_shown = False  # writer thread's state
        self.broken = False
        self.on_broken_pipe: Callable[[], None] = lambda: None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.writer = BackgroundWriter("ezpz-printer", limit=PRINT_LIMIT)
        self._out: list[bytes] = []  # output not yet handed to the writer
        self._out_size = 0
        self._scheduled = False

    def gutter(self, rank: int) -> bytes:
        """``[N] `` (coloured per rank on a terminal) before each of rank N's lines."""
        gutter = self._gutters.get(rank)
        if gutter is None:
            label = "[launcher]" if rank == LAUNCHER else f"[{rank}]"
            if self.color:
                code = "2" if rank == LAUNCHER else str(_COLORS[rank % len(_COLORS)])
                label = f"\x1b[{code}m{label}\x1b[0m"
            gutter = self._gutters[rank] = (label + " ").encode()
        return gutter

    async def room(self) -> None:
        """Back-pressure: returns once the terminal has taken most of what waits."""
        await self.writer.room()

    def __call__(self, event: Event) -> None:
        if self._loop is None:
            with contextlib.suppress(RuntimeError):
                self._loop = asyncio.get_running_loop()
        if isinstance(event, Lines):
            self._lines(event)
        elif isinstance(event, Notice):
            self._say(f"ezpz-tui: {event.text}\n")
        elif isinstance(event, Started):
            attempt = f" (attempt {event.attempt})" if event.attempt > 1 else ""
            self._say(f"ezpz-tui: started pid {event.pid}{attempt}\n")

    def _lines(self, event: Lines) -> None:
        ranks, texts = event.ranks, event.texts
        self.lines_seen += len(texts)
        if self.status:
            self.ranks_seen.update(ranks)
            self.ranks_seen.discard(LAUNCHER)
        if self.quiet:
            return
        display = self.display
        if display.active and not display.shows_all(texts):
            shown = display.shown(event.rows)
            ranks, texts = list(compress(ranks, shown)), list(compress(texts, shown))
            if not texts:
                return
        gutters = self._gutters
        try:
            data = _render(gutters, ranks, texts)
        except KeyError:
            for rank in set(ranks).difference(gutters):
                self.gutter(rank)
            data = _render(gutters, ranks, texts)
        if not data.endswith(b"\n"):
            data += b"\n"
        self._out.append(data)
        self._out_size += len(data)
        if self._out_size >= COALESCE_BYTES:
            self._hand_over()
        elif not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_later(COALESCE_S, self._hand_over)

    def _hand_over(self) -> None:
        """What waits for the terminal goes to the writer thread in one piece."""
        self._scheduled = False
        if not self._out:
            return
        data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
        self._out, self._out_size = [], 0
        self.writer.submit(lambda: self._write_out(data), len(data))

    # -- on the writer thread -------------------------------------------------

    def _write_out(self, data: bytes) -> None:
        self._clear_status()
        try:
            buffer = getattr(self.out, "buffer", None)
            if buffer is not None:
                buffer.write(data)
                buffer.flush()  # live even when piped
            else:
                self.out.write(data.decode("utf-8", "replace"))
                self.out.flush()
        except BrokenPipeError:
            self._reader_gone()

    def _write_err(self, text: str) -> None:
        self._clear_status()
        self._flush_out()
        self.err.write(text)
        self.err.flush()

    def _flush_out(self) -> None:
        try:
            self.out.flush()
        except BrokenPipeError:
            self._reader_gone()

    def _reader_gone(self) -> None:
        """Whoever read our stdout (``| head``) is gone: like any Unix filter, we
        stop, and the job with us; the files keep everything."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.out.fileno())
        os.close(devnull)
        if not self.broken:
            self.broken = True
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self.on_broken_pipe)
            else:
                self.on_broken_pipe()

    def _clear_status(self) -> None:
        if self._status_shown:
            self.err.write(_CLEAR)
            self._status_shown = False

    def _show_status(self, text: str) -> None:
        self._flush_out()
        self.err.write(text)
        self.err.flush()
        self._status_shown = True

    # -- on the loop ------------------------------------------------------------

    def _say(self, text: str) -> None:
        self._hand_over()
        self.writer.submit(lambda: self._write_err(text), len(text))

    def draw_status(self) -> None:
        if not self.status:
            return
        elapsed = max(time.monotonic() - self.started, 1e-9)
        text = (
            f"{_CLEAR}{elapsed:7.1f}s  {self.lines_seen / elapsed:,.0f} lines/s  "
            f"{len(self.ranks_seen)} rank(s) seen"
        )
        self._hand_over()
        self.writer.submit(lambda: self._show_status(text), len(text))

    def close(self) -> None:
        """Write everything that waits, then stop the writer thread."""
        self._hand_over()
        self.writer.close()
        self._clear_status()

    def summary(self, outcome: Outcome) -> None:
        self.close()
        self._flush_out()
        s = outcome.summary
        w = self.err.write
        w("\n── ezpz-tui summary " + "─" * 40 + "\n")
        reason = f" ({s['reason']})" if s.get("reason") else ""
        w(f"  exit code   {s['exit_code']}{reason}\n")
        w(f"  duration    {s['duration_s']:.2f} s\n")
        failed = s.get("failed_ranks") or {}
        if failed:
            how = ", ".join(
                f"rank {r}: {_how(c)}" for r, c in sorted(failed.items(), key=lambda kv: int(kv[0]))
            )
            w(f"  failed      {how}\n")
        error = s.get("first_error")
        if error:
            w(f"  first error rank {error['rank']}, line {error['line']}: {error['text'][:200]}\n")
        stacks = s.get("stacks") or {}
        if stacks:  # the watchdog dumped every rank before it stopped the job
            why = stacks.get("why") or "no rank stood out"
            w(f"  suspect     {why}\n")
            w(f"  stacks      {stacks.get('path')}\n")
        hidden = s.get("hidden_lines") or {}
        if hidden:
            parts = ", ".join(f"{n} by {name}" for name, n in sorted(hidden.items()))
            w(f"  hidden      {sum(hidden.values())} line(s) from the display: {parts}\n")
        source = s.get("metrics_source")
        if source:
            self._metrics(outcome, source)
        w(f"  run dir     {outcome.run_dir}  (full logs: ranks/, combined.log)\n")
        self.err.flush()

    def _metrics(self, outcome: Outcome, source: str) -> None:
        """Where the metrics came from, their first and last values, and charts."""
        series = outcome.metrics
        if series is None:
            return
        w = self.err.write
        shown = source.replace("history:", "history ", 1)
        w(f"  metrics     {series.rows} step(s) from {shown}\n")
        for role, key in (("loss", series.loss_key()), ("throughput", series.throughput_key())):
            stats = series.stats.get(key) if key else None
            if key and stats is not None:
                name = "" if key == role else f" ({key})"
                w(f"  {role:<11} {_num(stats.first)} -> {_num(stats.last)}")
                w(f"  min {_num(stats.low)}, max {_num(stats.high)}{name}\n")
        from ezpz_tui.textchart import render_charts

        width = shutil.get_terminal_size((80, 24)).columns if self.color else 80
        chart = render_charts(series, width - 2, self.color)
        if chart:
            w(chart.rstrip("\n") + "\n")


def _render(gutters: dict[int, bytes], ranks: list[int], texts: list[bytes]) -> bytes:
    """Gutter, text, gutter, text...: one join, no per-line concatenation."""
    return b"".join(chain.from_iterable(zip(map(gutters.__getitem__, ranks), texts, strict=True)))


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


async def _run(
    session: Session, printer: HeadlessPrinter, loops: list[asyncio.AbstractEventLoop]
) -> Outcome:
    loops.append(asyncio.get_running_loop())

    async def status() -> None:
        while True:
            await asyncio.sleep(0.5)
            printer.draw_status()

    ticker = asyncio.ensure_future(status()) if printer.status else None
    try:
        return await session.run()
    finally:
        if ticker is not None:
            ticker.cancel()


def _install_signal_handlers(session: Session, loops: list[asyncio.AbstractEventLoop]) -> None:
    """Ctrl+C, SIGTERM and SIGHUP go to the session (which escalates) for as long as
    this process lives: a signal that arrives while the summary is written must
    not kill us with a traceback instead of the job's exit code."""

    def forward(signum: int, _frame: object) -> None:
        loop = loops[0] if loops else None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(session.interrupt, signum)

    for signum in _STOP_SIGNALS:
        signal.signal(signum, forward)


def run_headless(
    plan: LaunchPlan, options: RunOptions, display: DisplayFilter, quiet: bool = False
) -> int:
    """Run ``plan`` to the end; returns the exit code for ``ezpz-tui --run``."""
    env = os.environ
    color = use_color(sys.stdout, env)
    status = sys.stderr.isatty() and sys.stdout.isatty() and not env.get("NO_COLOR")
    printer = HeadlessPrinter(
        sys.stdout, sys.stderr, display, color=color, status=status, quiet=quiet
    )
    # the run directory first: a --run-dir that is refused is the only thing said
    session = Session(
        plan, options, printer, hidden_counts=lambda: dict(display.hidden), room=printer.room
    )
    for warning in plan.warnings:
        sys.stderr.write(f"ezpz-tui: warning: {warning}\n")
    printer.on_broken_pipe = lambda: session.interrupt(signal.SIGPIPE)
    sys.stderr.write(f"ezpz-tui: run dir {session.run_dir}\n")
    loops: list[asyncio.AbstractEventLoop] = []
    _install_signal_handlers(session, loops)
    try:
        outcome = asyncio.run(_run(session, printer, loops))
    finally:
        # The job is over: a late Ctrl+C must not turn its exit code into a death by
        # SIGINT while we write the summary or the interpreter shuts down.
        for signum in _STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
    printer.summary(outcome)
    return outcome.code
