"""A whole ``--run``: run directory, attempts with back-off, files, summary.

The runner emits events; this module fans them out to the attempt's files and to
the caller's sink (the headless printer, later the console), flushes the files
five times a second (and whenever a few MB are pending), and writes
``summary.json`` at the end, whatever the end. The runner waits for the store's
writer, and for the caller's ``room`` (the printer's), before it reads more: a
consumer that cannot keep up holds the job back instead of filling our memory.

Alongside, the journal (``journal.py``) keeps ``owner.json`` fresh and appends
what happens to ``events.jsonl``, so a console elsewhere can follow or judge the
run. Its ``finished`` event comes after ``summary.json``: the last word.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ezpz_core.kinds import RankIO
from ezpz_core.launch.plan import RANKIO_MODULE, LaunchPlan
from ezpz_core.launch.styles import Style
from ezpz_core.metrics import MetricSeries
from ezpz_core.run.events import (
    LAUNCHER,
    Event,
    Lines,
    Notice,
    RankExited,
    StackReply,
    Started,
)
from ezpz_core.run.journal import Journal, ProgressMeter
from ezpz_core.run.labels import LabelFormat
from ezpz_core.run.metricwatch import MetricsWatch, history_roots
from ezpz_core.run.runner import EXIT_INTERRUPTED, EXIT_NOT_FOUND, RUN_MARKER, Runner, RunResult
from ezpz_core.run.store import AttemptStore, claim_run_dir, new_run_dir, rank_log, write_json

if TYPE_CHECKING:
    from ezpz_core.hang.dump import Dump

FLUSH_S = 0.2  # a console following the files sees a line within half a second
METRICS_POLL_S = 1.0
DISCOVER_EVERY = 3  # polls between scans for an ezpz history file
DEFAULT_OUTDIR = "outputs/ezpz-tui"
WATCHDOG_DUMP_S = 30.0  # the watchdog's stack dump, at most, before it stops the job
STACK_POLL_S = 0.25  # how often a stack request (stacks/request) is looked for
WRAPPER_WAIT_S = 10.0  # for every rank's wrapper to answer a dump request
# launchers that forward SIGUSR1 to every rank (measured: docs/doctor.md)
FORWARDS_USR1 = frozenset({Style.OPENMPI, Style.HYDRA, Style.MPIRUN, Style.SRUN, Style.SOPHIA})


@dataclass(frozen=True)
class RunOptions:
    outdir: str = DEFAULT_OUTDIR
    timeout: float | None = None
    retries: int = 0
    retry_backoff: float = 5.0
    grace_s: float = 10.0
    metrics_rank: int = 0  # whose history rows and step lines are charted
    run_dir: str | None = None  # --run-dir: this directory (new or empty), not one under outdir


def backoff(first: float, retry: int) -> float:
    """Seconds before retry ``retry`` (1-based): 5, 10, 20, 40, 60, 60... for first=5."""
    return min(60.0, first * 2 ** (retry - 1)) if first < 60 else first


def label_format(plan: LaunchPlan) -> LabelFormat:
    """How to read the labels the plan's launcher (or our wrapper) puts on lines."""
    return label_format_for(plan.rank_io, plan.launcher.style)


def label_format_for(rank_io: RankIO, style: Style) -> LabelFormat:
    """The label format of a rank I/O mode and launch style (also what a reader of
    ``plan.json`` needs: its ``rank_io`` and ``launch_style``)."""
    if rank_io is RankIO.WRAPPER:
        return LabelFormat.WRAPPER
    if rank_io is RankIO.NONE:
        return LabelFormat.NONE
    if style in (Style.OPENMPI, Style.SOPHIA):
        return LabelFormat.OPENMPI
    if style in (Style.SRUN, Style.PALS):
        return LabelFormat.SRUN
    if style is Style.DIRECT:
        return LabelFormat.ANY
    return LabelFormat.NONE


def run_argv(plan: LaunchPlan, run_dir: Path) -> tuple[str, ...]:
    """The plan's argv with what needs the run directory: torchrun's log dir, and
    the rank wrapper's ``--run-dir`` (where its resource stats go; on the command
    line, because not every launcher passes our environment to other hosts:
    Open MPI's mpirun passes only what ``-x`` names)."""
    argv = plan.argv
    if plan.launcher.style is Style.TORCHRUN:
        extra = ("--log-dir", str(run_dir / "torchrun"), "--redirects", "3", "--tee", "3")
        argv = (*argv[:4], *extra, *argv[4:])
    if plan.rank_io is RankIO.WRAPPER:
        for i in range(len(argv) - 1):
            if argv[i] == "-m" and argv[i + 1] == RANKIO_MODULE:
                extra = ("--run-dir", str(run_dir), "--stacks")  # --stacks: SIGUSR1 dumps
                argv = (*argv[: i + 2], *extra, *argv[i + 2 :])
                break
    return argv


def run_env(base: Mapping[str, str], run_dir: Path) -> dict[str, str]:
    env = dict(base)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env[RUN_MARKER] = uuid.uuid4().hex
    env["EZPZ_RUN_DIR"] = str(run_dir)
    env["EZPZ_HISTORY"] = str(run_dir / "history.jsonl")
    return env


def ranks_expected(plan: LaunchPlan) -> int | None:
    """Ranks whose lines will carry a rank: the world size, none without rank I/O,
    None where the plan does not know (``--launcher none``)."""
    if plan.topology is None:
        return None
    return 0 if plan.rank_io is RankIO.NONE else plan.topology.world_size


def _cwd() -> Path | None:
    try:
        return Path.cwd()
    except OSError:  # the directory was removed under us
        return None


def preflight(plan: LaunchPlan, env: Mapping[str, str]) -> str | None:
    """Why the run cannot start (launcher or command missing), or None."""
    pick = plan.launcher
    if pick.style is not Style.DIRECT and not pick.found:
        return f"{pick.name}: launcher not found on PATH (see ezpz-tui --check)"
    local = pick.style in (Style.DIRECT, Style.TORCHRUN) or not plan.job.in_job
    first = plan.command[0] if plan.command else ""
    if local and first and not first.endswith(".py"):
        if os.sep in first:
            if not os.access(first, os.X_OK):
                return f"{first}: command not found or not executable"
        elif shutil.which(first, path=env.get("PATH", "")) is None:
            return f"{first}: command not found on PATH"
    return None


@dataclass
class Outcome:
    code: int
    reason: str
    run_dir: Path
    started: float
    ended: float
    attempts: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    metrics_source: str | None = None
    metrics: MetricSeries | None = None


class Session:
    """Runs a plan to the end; ``interrupt`` is what signal handlers call."""

    def __init__(
        self,
        plan: LaunchPlan,
        options: RunOptions,
        sink: Callable[[Event], None],
        env: Mapping[str, str] | None = None,
        hidden_counts: Callable[[], dict[str, int]] | None = None,
        room: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.plan = plan
        self.options = options
        self.sink = sink
        self.base_env = dict(os.environ if env is None else env)
        self.hidden_counts = hidden_counts or dict
        self.room = room
        self.run_dir = (
            claim_run_dir(options.run_dir)
            if options.run_dir is not None
            else new_run_dir(options.outdir, plan.job.job_id)
        )
        self.journal = Journal(self.run_dir)
        self.metrics = MetricsWatch(
            self.run_dir / "history.jsonl",
            history_roots(_cwd(), self.base_env),
            # events.jsonl is no ezpz history file, wherever --run-dir puts it
            exclude=[Path(options.outdir), self.run_dir],
            started=time.time(),
            rank=options.metrics_rank,
        )
        self.runner: Runner | None = None
        self.interrupted: str | None = None
        self._signum = signal.SIGINT
        self._sleep: asyncio.Future[None] | None = None
        self._launched: set[int] = set()  # attempts whose launcher started
        self.stacks: dict[str, Any] | None = None  # the watchdog's dump, if it took one
        self._stack_replies: dict[int, str] = {}  # rank -> its wrapper's answer

    def interrupt(self, signum: int = signal.SIGINT) -> None:
        """First call: SIGINT to the job; later calls escalate (see Runner)."""
        reason = "interrupted" if signum == signal.SIGINT else "signal"
        if self.interrupted is None:
            self.interrupted = reason
            self._signum = signum
        if self._sleep is not None and not self._sleep.done():
            self._sleep.cancel()
        if self.runner is not None:
            self.runner.request_stop(reason, signum)

    def _say(self, notice: Notice) -> None:
        """A notice of ours: to the journal and the caller."""
        self.journal.notice(notice.level, notice.text, notice.t)
        self.sink(notice)

    def _fan_out(self, store: AttemptStore, attempt: int) -> Callable[[Event], None]:
        sink, journal = self.sink, self.journal

        def handle(event: Event) -> None:
            if isinstance(event, Lines):
                store.add_lines(event)
            elif isinstance(event, RankExited):
                store.exited(event)
                journal.rank_exit(attempt, event.rank, event.code)
            elif isinstance(event, Notice):
                journal.notice(event.level, event.text, event.t)
            elif isinstance(event, Started):
                self._launched.add(attempt)
                journal.attempt(attempt, event.pid, event.argv, store.directory, event.t)
            elif isinstance(event, StackReply):
                self._stack_replies[event.rank] = event.text
                return  # the hang doctor's, not the view's
            sink(event)

        return handle

    async def _flusher(self, store: AttemptStore, attempt: int) -> None:
        meter = ProgressMeter()
        while True:
            await asyncio.sleep(FLUSH_S)
            store.flush()
            # what the writer has put in combined.log so far (this flush's share
            # shows at the next turn)
            written, now = store.written, time.time()
            if meter.due(written, now):
                self.journal.progress(attempt, *written, now)

    def _poll_metrics(self, final: bool = False) -> None:
        message = self.metrics.poll(final)
        if message is not None:
            # the event says it for readers of the run directory (the console's
            # charts follow the same file), the notice for people
            source, _series = self.metrics.current()
            self.journal.metrics(source, self.options.metrics_rank)
            self._say(Notice(message, time.time(), "info"))

    async def _metrics_poller(self) -> None:
        polls = 0
        while True:
            await asyncio.sleep(METRICS_POLL_S)
            polls += 1
            if polls % DISCOVER_EVERY == 0:
                await asyncio.to_thread(self.metrics.discover)
            self._poll_metrics()

    async def run(self) -> Outcome:
        journal = self.journal
        started = time.time()
        journal.write_owner(sys.argv, started)
        plan_json = self.plan.to_json()
        plan_json["run_dir"] = str(self.run_dir)
        plan_json["metrics_rank"] = self.options.metrics_rank
        write_json(self.run_dir / "plan.json", plan_json)
        env = run_env(self.base_env, self.run_dir)
        journal.started(
            self.run_dir,
            run_argv(self.plan, self.run_dir),
            plan_json["world_size"],
            ranks_expected(self.plan),
            started,
            marker=env[RUN_MARKER],
        )
        self.metrics.started = started
        self.metrics.snapshot()
        helpers = [
            asyncio.ensure_future(self._metrics_poller()),
            asyncio.ensure_future(journal.heartbeat()),
            asyncio.ensure_future(self._stack_requests(env)),
        ]
        try:
            outcome = await self._run_attempts(env, started)
            self.metrics.discover()
            self._poll_metrics(final=True)
            self.metrics.finish_logs(self._rank_logs)
            outcome.metrics_source, outcome.metrics = self.metrics.current()
            outcome.summary = self._summary(outcome)
            write_json(self.run_dir / "summary.json", outcome.summary)
            journal.finished(outcome.code, outcome.summary["reason"])
        finally:
            for helper in helpers:
                helper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await helper
            journal.close()
        return outcome

    def _attempt_dir(self, attempt: int) -> Path:
        return self.run_dir if self.options.retries == 0 else self.run_dir / f"attempt-{attempt}"

    def _rank_logs(self) -> list[tuple[int, Path]]:
        """Every attempt's log of the metrics rank and launcher lane, in order."""
        lanes = (self.options.metrics_rank, LAUNCHER)
        return [
            (rank, rank_log(self._attempt_dir(attempt), rank))
            for attempt in range(1, self.options.retries + 2)
            for rank in lanes
        ]

    async def _run_attempts(self, env: dict[str, str], started: float) -> Outcome:
        attempts: list[dict[str, Any]] = []
        result: RunResult | None = None
        problem = preflight(self.plan, env)
        total = self.options.retries + 1
        for attempt in range(1, total + 1):
            store = AttemptStore(self._attempt_dir(attempt), on_block=self.metrics.on_block)
            if problem is not None:
                self._say(Notice(problem, time.time(), "error"))
                result = RunResult(EXIT_NOT_FOUND, "not-found", time.time(), time.time())
                attempts.append(self._attempt_json(attempt, store, result))
                store.close()
                break
            result = await self._attempt(attempt, store, env)
            attempts.append(self._attempt_json(attempt, store, result))
            if (
                result.code == 0
                or self.interrupted
                or result.reason == "not-found"
                or attempt == total
            ):
                break
            wait = backoff(self.options.retry_backoff, attempt)
            self._say(
                Notice(
                    f"retry {attempt}/{self.options.retries} (exit {result.code}); "
                    f"waiting {wait:g} s",
                    time.time(),
                )
            )
            self._sleep = asyncio.ensure_future(asyncio.sleep(wait))
            with contextlib.suppress(asyncio.CancelledError):
                await self._sleep
            if self.interrupted:
                break
        assert result is not None
        code = result.code
        if self.interrupted and result.code != 0 and result.reason not in ("interrupted", "signal"):
            # stopped between attempts (or before one): report the stop, not the
            # failed attempt's own code
            code = EXIT_INTERRUPTED if self.interrupted == "interrupted" else 128 + self._signum
        return Outcome(code, result.reason, self.run_dir, started, time.time(), attempts)

    async def _attempt(self, attempt: int, store: AttemptStore, env: dict[str, str]) -> RunResult:
        writer, caller_room = store.writer, self.room
        assert writer is not None

        async def room() -> None:
            await writer.room()
            await self.metrics.room()
            if caller_room is not None:
                await caller_room()

        runner = Runner(
            run_argv(self.plan, self.run_dir),
            env,
            label_format(self.plan),
            self._fan_out(store, attempt),
            raw_sink=lambda stream, data: store.raw(data, stream),
            timeout=self.options.timeout,
            grace_s=self.options.grace_s,
            attempt=attempt,
            room=room,
            before_watchdog=lambda: self._dump_stacks(env),
        )
        self.runner = runner
        flusher = asyncio.ensure_future(self._flusher(store, attempt))
        try:
            if self.interrupted:
                return RunResult(EXIT_INTERRUPTED, "interrupted", time.time(), time.time())
            return await runner.run()
        finally:
            flusher.cancel()
            store.close()
            self.runner = None
            if attempt in self._launched:  # where this attempt's combined.log ended, and when
                self.journal.progress(attempt, *store.written)

    def _attempt_json(self, attempt: int, store: AttemptStore, result: RunResult) -> dict[str, Any]:
        ranks = {
            ("launcher" if rank < 0 else str(rank)): stats.to_json()
            for rank, stats in sorted(store.stats.items())
        }
        error = store.first_error
        return {
            "attempt": attempt,
            "directory": str(store.directory),
            "exit_code": result.code,
            "reason": result.reason,
            "start": result.started,
            "end": result.ended,
            "duration_s": round(result.ended - result.started, 3),
            "ranks": ranks,
            "first_error": None
            if error is None
            else {"rank": error.rank, "line": error.line, "text": error.text},
        }

    async def _stack_requests(self, env: Mapping[str, str]) -> None:
        """``ezpz-tui --stacks`` (or the console) asks by creating
        ``stacks/request``: the wrappers of every host are asked through the
        launcher, and the dump is saved like any other."""
        from ezpz_core.hang.dump import REQUEST

        request = self.run_dir / REQUEST
        while True:
            await asyncio.sleep(STACK_POLL_S)
            if not request.exists():
                continue
            with contextlib.suppress(OSError):
                request.unlink()
            try:
                dump = await self._wrapper_dump(env, "asked")
            except Exception as exc:  # a request must never end the run
                self._say(Notice(f"no stack dump: {exc}", time.time(), "warning"))
                continue
            self._say(Notice(f"stacks saved in {dump.text_path}", time.time(), "info"))

    async def _wrapper_dump(self, env: Mapping[str, str], reason: str) -> Dump:
        """Every rank's stack through its wrapper: SIGUSR1 to the launcher, which
        forwards it to every rank (mpirun, Hydra, srun); torchrun (its agent dies
        of it) and direct runs: to this host's wrappers themselves."""
        from ezpz_core.hang.collect import wrapper_processes
        from ezpz_core.hang.dump import wrapper_report

        runner = self.runner
        if runner is None or runner.pid is None:
            raise RuntimeError("the job is not running")
        self._stack_replies = {}
        asked = time.time()
        if self.plan.launcher.style in FORWARDS_USR1:
            os.kill(runner.pid, signal.SIGUSR1)
        else:
            for pid in wrapper_processes(env[RUN_MARKER]):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGUSR1)
        world = self.plan.topology.world_size if self.plan.topology else None
        deadline = time.monotonic() + WRAPPER_WAIT_S
        while time.monotonic() < deadline and (world is None or len(self._stack_replies) < world):
            await asyncio.sleep(0.05)
        replies = dict(self._stack_replies)
        return await asyncio.to_thread(
            wrapper_report, self.run_dir, replies, world, asked, reason, WRAPPER_WAIT_S
        )

    async def _dump_stacks(self, env: Mapping[str, str]) -> None:
        """Before the watchdog stops a hung job: every rank's stack (through the
        wrappers, else this host's ranks by py-spy), saved in ``stacks/``, the
        suspect named in a notice and in the summary."""
        from ezpz_core.hang.dump import take_dump

        try:
            if self.plan.rank_io is RankIO.WRAPPER:
                dump = await asyncio.wait_for(self._wrapper_dump(env, "watchdog"), WATCHDOG_DUMP_S)
            else:
                dump = await asyncio.wait_for(
                    asyncio.to_thread(take_dump, self.run_dir, env, "watchdog"), WATCHDOG_DUMP_S
                )
        except TimeoutError:
            self._say(
                Notice(
                    f"watchdog: no stack dump within {WATCHDOG_DUMP_S:g} s", time.time(), "warning"
                )
            )
            return
        except Exception as exc:  # the dump must never keep the job from stopping
            self._say(Notice(f"watchdog: no stack dump: {exc}", time.time(), "warning"))
            return
        suspect = dump.report.suspect
        self.stacks = {
            "path": str(dump.text_path),
            "suspect": list(suspect.ranks) if suspect else [],
            "why": suspect.reason if suspect else "",
        }
        said = f"suspect: {suspect.reason}" if suspect else "no rank stands out"
        self._say(
            Notice(f"watchdog: stacks saved in {dump.text_path}; {said}", time.time(), "warning")
        )

    def _summary(self, outcome: Outcome) -> dict[str, Any]:
        last = outcome.attempts[-1]
        failed = {
            rank: info["exit_code"]
            for rank, info in last["ranks"].items()
            if rank != "launcher" and info["exit_code"] not in (None, 0)
        }
        return {
            "exit_code": outcome.code,
            "reason": outcome.reason or ("interrupted" if self.interrupted else ""),
            "start": outcome.started,
            "end": outcome.ended,
            "duration_s": round(outcome.ended - outcome.started, 3),
            "run_dir": str(outcome.run_dir),
            "argv": list(run_argv(self.plan, self.run_dir)),
            "ranks": last["ranks"],
            "failed_ranks": failed,
            "first_error": last["first_error"],
            "hidden_lines": self.hidden_counts(),
            "metrics_source": outcome.metrics_source,
            "metrics": outcome.metrics.summary_json() if outcome.metrics else {},
            "attempts": outcome.attempts,
            "stacks": self.stacks,
        }
