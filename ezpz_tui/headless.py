"""``ezpz-tui --run``: the job with no UI, its lines printed as ``[N] text``.

Job output goes to stdout (rank gutter coloured per rank on a terminal, plain when
piped or with ``NO_COLOR``); our own messages, the live status line (terminals
only) and the end-of-run summary go to stderr.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping
from typing import TextIO

from ezpz_core.launch.plan import LaunchPlan
from ezpz_core.run.events import LAUNCHER, Event, Finished, Lines, Notice, Started
from ezpz_core.run.filters import DisplayFilter
from ezpz_core.run.session import Outcome, RunOptions, Session

_COLORS = (36, 33, 32, 35, 34, 31, 96, 93, 92, 95, 94, 91)
_CLEAR = "\r\x1b[K"


def use_color(stream: TextIO, env: Mapping[str, str]) -> bool:
    return stream.isatty() and not env.get("NO_COLOR") and env.get("TERM") != "dumb"


class HeadlessPrinter:
    """Consumes runner events; prints what the display filter lets through."""

    def __init__(
        self, out: TextIO, err: TextIO, display: DisplayFilter, color: bool, status: bool
    ) -> None:
        self.out, self.err = out, err
        self.display = display
        self.color = color
        self.status = status
        self._gutters: dict[int, str] = {}
        self.lines_seen = 0
        self.ranks_seen: set[int] = set()
        self.started = time.monotonic()
        self._status_shown = False
        self.broken = False
        self.on_broken_pipe: Callable[[], None] = lambda: None

    def gutter(self, rank: int) -> str:
        text = self._gutters.get(rank)
        if text is None:
            label = "[launcher]" if rank == LAUNCHER else f"[{rank}]"
            if self.color:
                code = "2" if rank == LAUNCHER else str(_COLORS[rank % len(_COLORS)])
                label = f"\x1b[{code}m{label}\x1b[0m"
            text = self._gutters[rank] = label + " "
        return text

    def __call__(self, event: Event) -> None:
        if isinstance(event, Lines):
            rows = event.rows
            self.lines_seen += len(rows)
            if self.display.active:
                rows = self.display.visible(rows)
            if not rows:
                return
            self._clear_status()
            gutters = self._gutters
            ranks = {row[0] for row in rows}
            for rank in ranks - gutters.keys():
                self.gutter(rank)
            self._emit("".join([gutters[r] + x + "\n" for r, _s, x in rows]))
            if self.status:
                self.ranks_seen.update(ranks - {LAUNCHER})
        elif isinstance(event, Notice):
            self._clear_status()
            self._flush_out()
            self.err.write(f"ezpz-tui: {event.text}\n")
            self.err.flush()
        elif isinstance(event, Started):
            attempt = f" (attempt {event.attempt})" if event.attempt > 1 else ""
            self.err.write(f"ezpz-tui: started pid {event.pid}{attempt}\n")
        elif isinstance(event, Finished):
            self._clear_status()
            self._flush_out()

    def _emit(self, text: str) -> None:
        try:
            self.out.write(text)
            self.out.flush()  # live even when piped
        except BrokenPipeError:
            self._reader_gone()

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
            self.on_broken_pipe()

    def _clear_status(self) -> None:
        if self._status_shown:
            self.err.write(_CLEAR)
            self._status_shown = False

    def draw_status(self) -> None:
        if not self.status:
            return
        elapsed = max(time.monotonic() - self.started, 1e-9)
        self._flush_out()
        self.err.write(
            f"{_CLEAR}{elapsed:7.1f}s  {self.lines_seen / elapsed:,.0f} lines/s  "
            f"{len(self.ranks_seen)} rank(s) seen"
        )
        self.err.flush()
        self._status_shown = True

    def summary(self, outcome: Outcome) -> None:
        self._clear_status()
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


def run_headless(plan: LaunchPlan, options: RunOptions, display: DisplayFilter) -> int:
    """Run ``plan`` to the end; returns the exit code for ``ezpz-tui --run``."""
    env = os.environ
    color = use_color(sys.stdout, env)
    status = sys.stderr.isatty() and sys.stdout.isatty() and not env.get("NO_COLOR")
    printer = HeadlessPrinter(sys.stdout, sys.stderr, display, color=color, status=status)
    for warning in plan.warnings:
        sys.stderr.write(f"ezpz-tui: warning: {warning}\n")
    session = Session(plan, options, printer, hidden_counts=lambda: dict(display.hidden))
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
