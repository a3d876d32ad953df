"""The console attached to a run (issue 18): the job's pace, keys, frames, latency, memory.

The console (``EzpzApp(surroundings, attach=RUN_DIR)``) runs here as a headless
Textual app (``run_test``, 160x48), in this process or, for memory, in a child of
its own. Four measurements, each against a baseline timed in the same run:

1. **The console never slows the job.** A flood of 1,024 ranks' lines: one process
   (``bench/floodjob.py --ranks 1024 --lines N``) writes every rank's Open
   MPI-labelled lines (``[1,R]<stdout>: ...``, ~100 characters, one 100 KB write
   per round of 1,024 lines, as fast as Python can), run as ``ezpz-tui --run
   --quiet --run-dir D --launcher none -- python bench/floodjob.py ...``: the
   session tells the 1,024 ranks apart from the labels and writes 1,024 rank files,
   as behind ``mpirun -np 1,024 --tag-output`` (1,024 processes do not fit a 2-core
   machine; 1,024 *streams* do). Wall time of that command, alternating: headless
   (nothing attached: the baseline) and with the console attached to D (started
   on the empty directory, first frame painted and discovery done before the job
   starts; keys pressed as below). Median of ``--pairs`` pairs, after an untimed
   warm-up pair (the first attached run in a process builds Textual's caches during
   the flood; its key and frame maxima are reported apart). Target: attached /
   headless <= 1.1.
2. **Keys and frames while the job floods.** In the attached runs a key goes to the
   app every 0.25 s (``t``, ``m``, ``up``, ``up``, ``end`` in turn: the rank table,
   the merged pane, the cursor up twice, follow again), posted as the terminal
   driver posts it (``driver.send_message(events.Key)``). A key counts as answered
   at the end of the first frame painted once its effect holds (focus moved, cursor
   moved, following again). A frame is one outermost call of ``Screen._on_timer_update``,
   ``_refresh_layout`` or ``_compositor_refresh`` that reached ``App._display``; as
   the headless driver writes nothing, the hook also renders each update to the
   terminal string a real driver would write (``render_segments``), so that cost is
   in the frame. Targets: key answered <= 100 ms and no frame > 100 ms while the job
   runs (max); p50/p95 too, and the same keys once the run is finished and read
   (idle, the baseline). After the job ends the console may still be reading: keys
   and frames of that catch-up are reported apart (info), with how long it took.
   The event loop's longest stall (a 10 ms timer's lateness) is reported (info).
3. **A line is on screen within 0.5 s.** ``floodjob.py --tick 0.1 --count N``: one
   line every 100 ms (flushed, stamped with ``time.time()``, the rank going round
   1,024), through ``ezpz-tui --run`` with the console attached. A line is on screen
   at the end of the first frame that shows it in the merged pane's visible rows;
   latency = that moment - its stamp. Baseline: when it reached ``combined.log``
   (a thread here watches the file every 5 ms): the session's flush (``FLUSH_S``)
   alone. Target: max on screen <= 0.5 s.
4. **Memory and the first screen of a big finished run.** A finished run of
   10,000,000 lines over 1,024 ranks written here (``plan.json`` of an Open MPI
   ``mpirun -np 1024 --tag-output`` run on 128 hosts x 8, ``combined.log`` of the
   flood's lines, ``events.jsonl`` with progress and the finish, ``summary.json``,
   ``ranks/`` left empty). A fresh child process (``--open DIR``) opens it: the
   time from ``EzpzApp(..., attach=DIR)`` to the end of the first frame whose merged
   pane has rows (which lines it shows, the file's start or end, is reported), then
   keys during the catch-up (info) until every line is read, then its peak RSS
   (``VmHWM``, the kernel's high-water mark) and RSS. Baseline: the same child on
   a 2,048-line finished run. Targets: peak RSS <= 250 MB; first screen <= 1 s.
   The file is in the page cache (just written): cold reads are not measured.

Every run is checked: exit code 0; ``summary.json`` counts every rank's lines and
none in the launcher lane; ``combined.log`` as large as the generated lines; rank 0's
file the size of its lines; the attached console read every line (its line count,
1,024 ranks on its board each with every line, the merged pane's rows with the
banner collapsed); every tick seen on screen and in the file; the opened big run
read to the last line and its last screen showing the file's last line.

Run alone: ``.venv/bin/python bench/runview.py [--lines N] [--pairs K]
[--big-lines N] [--ticks N] [--only flood|ticker|open] [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import floodjob
from livepipe import WrongOutput, kill_tree, live_env
from logpipe import filesystem
from overhead import EZPZ_TUI, VENV_BIN

RANKS = 1024
LINES = 2000  # flood: lines per rank (2,049,024 lines with the banner, ~250 MB)
WARM_LINES = 500  # the untimed first attached run: long enough for a few keys
PAIRS = 5  # the ratio is near this machine's noise (headless vs headless: +-4%, outliers 30%)
TICK_S = 0.1
TICKS = 100
BIG_LINES = 10_000_000
SIZE = (160, 48)
KEY_EVERY_S = 0.25
KEYS = ("t", "m", "up", "up", "end")
IDLE_KEYS = 10
KEY_TIMEOUT_S = 5.0
TARGET_RATIO = 1.1
TARGET_KEY_MS = 100.0
TARGET_FRAME_MS = 100.0
TARGET_LINE_S = 0.5
TARGET_PEAK_MB = 250.0
TARGET_FIRST_SCREEN_S = 1.0
FLOOD = Path(__file__).resolve().parent / "floodjob.py"
BIG_HOSTS, BIG_PPN = 128, 8
MB = 1e6
_TICK = re.compile(r"tick=(\d+) t=([\d.]+)")


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


def spread(values: list[float], scale: float = 1.0) -> dict[str, Any]:
    """count, p50, p95, max (times ``scale``); zeros when there are none."""
    if not values:
        return {"count": 0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    return {
        "count": len(values),
        "p50": _pct(values, 50) * scale,
        "p95": _pct(values, 95) * scale,
        "max": max(values) * scale,
    }


def _target(target: float, value: float) -> dict[str, Any]:
    return {"target": target, "value": value, "pass": value <= target}


# --- the app, instrumented ----------------------------------------------------------


@dataclass
class Recorder:
    """Frames the app paints (perf_counter end, seconds) and who wants to know."""

    frames: list[tuple[float, float]] = field(default_factory=list)
    listeners: list[Callable[[float], None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    depth: int = 0
    painted: bool = False

    def frame(self, start: float, end: float) -> None:
        self.frames.append((end, end - start))
        for listener in list(self.listeners):
            try:
                listener(end)
            except Exception as exc:  # a bug here must not look like a slow app
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def between(self, a: float, b: float) -> list[float]:
        return [d for end, d in self.frames if a <= end <= b]


RECORDER = Recorder()
_HOOKED = False


def install_hooks(rec: Recorder = RECORDER) -> None:
    """Time every frame (see the module docstring); once per process."""
    global _HOOKED
    if _HOOKED:
        return
    _HOOKED = True
    from textual._compositor import CompositorUpdate
    from textual.app import App
    from textual.screen import Screen

    display = App._display

    def displayed(self: Any, screen: Any, renderable: Any) -> None:
        display(self, screen, renderable)
        if renderable is None or self._batch_count:
            return
        if self.is_headless and isinstance(renderable, CompositorUpdate):
            renderable.render_segments(self.console)  # what a terminal driver would write
        rec.painted = True

    def timed(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            if rec.depth:
                return method(self, *args, **kwargs)
            rec.depth, rec.painted = 1, False
            t0 = time.perf_counter()
            try:
                return method(self, *args, **kwargs)
            finally:
                rec.depth = 0
                if rec.painted:
                    rec.frame(t0, time.perf_counter())

        return wrapper

    App._display = displayed  # type: ignore[method-assign]
    for name in ("_on_timer_update", "_refresh_layout", "_compositor_refresh"):
        setattr(Screen, name, timed(getattr(Screen, name)))


class LoopLag:
    """How late a 10 ms timer wakes: the event loop's stalls, with their times."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            self.samples.append((now, now - t0 - 0.01))

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def worst(self, a: float, b: float) -> float:
        return max((lag for t, lag in self.samples if a <= t <= b), default=0.0)


def surroundings(config: Path) -> Any:
    from ezpz_tui.config import ConsoleConfig
    from ezpz_tui.surroundings import Surroundings

    env = {**live_env(), "EZPZ_TUI_CONFIG_DIR": str(config)}
    return Surroundings(env=env, config=ConsoleConfig(config), cwd=os.getcwd())


def _pane(app: Any) -> Any:
    from ezpz_tui.widgets.log_pane import LogPane

    return app.screen.query(LogPane).first()


def _on_run_screen(app: Any) -> bool:
    from ezpz_tui.screens.run import RunScreen

    return isinstance(app.screen, RunScreen)


def expectation(app: Any, key: str) -> Callable[[], bool]:
    """What holds once ``key`` has been answered (read before it is sent)."""
    from ezpz_tui.widgets.log_pane import LogPane
    from ezpz_tui.widgets.rank_table import RankTable

    pane = _pane(app)
    if key == "t":
        table = app.screen.query_one(RankTable)
        return lambda: app.focused is table
    if key == "m":
        return lambda: isinstance(app.focused, LogPane)
    if key == "up":
        before = pane.cursor
        return lambda: pane.cursor != before
    if key == "end":
        return lambda: pane.following and pane.cursor == -1
    raise ValueError(key)


async def press(app: Any, rec: Recorder, key: str) -> float:
    """Send ``key`` as the terminal driver would; seconds until a frame shows its effect."""
    from textual import events

    done = asyncio.Event()
    holds = expectation(app, key)
    answered: list[float] = []

    def check(end: float) -> None:
        if not answered and holds():
            answered.append(end)
            done.set()

    rec.listeners.append(check)
    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    t0 = time.perf_counter()
    app._driver.send_message(event)
    try:
        await asyncio.wait_for(done.wait(), KEY_TIMEOUT_S)
    except TimeoutError:
        rec.errors.append(f"key {key!r} not answered within {KEY_TIMEOUT_S:g} s")
        answered.append(t0 + KEY_TIMEOUT_S)
    finally:
        rec.listeners.remove(check)
    return answered[0] - t0


async def until(predicate: Callable[[], bool], limit: float, what: str) -> None:
    deadline = time.perf_counter() + limit
    while not predicate():
        if time.perf_counter() > deadline:
            raise WrongOutput(f"runview: {what}: not within {limit:.0f} s")
        await asyncio.sleep(0.02)


async def ready(app: Any) -> None:
    """The run view painted and discovery done (its subprocesses out of the way)."""
    await until(lambda: _on_run_screen(app) and RECORDER.frames, 30, "the run view's frame")
    await until(lambda: app.planner is not None or app.detect_error is not None, 30, "discovery")
    await asyncio.sleep(0.3)


# --- 1 and 2: the flood, headless and attached --------------------------------------------


def flood_argv(run_dir: Path, lines: int) -> list[str]:
    job = ["python", str(FLOOD), "--ranks", str(RANKS), "--lines", str(lines)]
    return [str(EZPZ_TUI), "--run", "--quiet", "--run-dir", str(run_dir), "--launcher", "none",
            "--", *job]  # fmt: skip


def total_lines(lines: int) -> int:
    return RANKS * (lines + 1)  # the banner, then ``lines`` rounds


def time_limit(lines: int) -> float:
    return 60.0 + 60e-6 * total_lines(lines)


def verify_run(run_dir: Path, lines: int) -> None:
    """The run directory against the generated lines; raises ``WrongOutput``."""
    problems = []
    summary = json.loads((run_dir / "summary.json").read_text())
    ranks = summary.get("ranks", {})
    if summary.get("exit_code") != 0:
        problems.append(f"summary.json exit code {summary.get('exit_code')}")
    if ranks.get("launcher", {}).get("lines", 0):
        problems.append(f"{ranks['launcher']['lines']} line(s) fell to the launcher lane")
    wrong = [r for r in range(RANKS) if ranks.get(str(r), {}).get("lines") != lines + 1]
    if wrong:
        problems.append(f"{len(wrong)} ranks without {lines + 1} lines (first: rank {wrong[0]})")
    size = (run_dir / "combined.log").stat().st_size
    if size != floodjob.flood_bytes(RANKS, lines):
        problems.append(f"combined.log is {size} bytes, not {floodjob.flood_bytes(RANKS, lines)}")
    rank0 = run_dir / "ranks" / "rank-0.log"
    want = floodjob.rank_bytes(0, RANKS, lines)
    if not rank0.exists() or rank0.stat().st_size != want:
        problems.append(f"ranks/rank-0.log is not {want} bytes")
    if problems:
        raise WrongOutput(f"runview: wrong output in {run_dir}: " + "; ".join(problems))


def verify_console(watch: Any, lines: int) -> None:
    """What the attached console read: every line, every rank, the banner collapsed."""
    want = total_lines(lines)
    problems = []
    with watch.lock:
        if len(watch.ranks_of) != want:
            problems.append(f"it read {len(watch.ranks_of):,} lines, not {want:,}")
        board = watch.board
        wrong = [r for r in range(RANKS) if board.lines(r) != lines + 1]
        if board.size != RANKS or wrong:
            problems.append(f"its board has {board.size} ranks, {len(wrong)} with wrong counts")
        rows = watch.rows().rows
        if rows != want - RANKS + 1:
            problems.append(f"the merged pane has {rows:,} rows, not {want - RANKS + 1:,}")
    if problems:
        raise WrongOutput("runview: the attached console: " + "; ".join(problems))


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def headless_run(run_dir: Path, lines: int, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    argv = flood_argv(run_dir, lines)
    cpu0 = _cpu_children()
    with open(cwd / "headless.err", "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=cwd)
        try:
            proc.wait(timeout=time_limit(lines))
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.wait()
            raise WrongOutput(f"runview: headless run still running: {' '.join(argv)}") from None
        seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (cwd / "headless.err").read_bytes()[-2000:].decode(errors="replace")
        raise WrongOutput(f"runview: headless run exited {proc.returncode}\n{tail}")
    verify_run(run_dir, lines)
    return {"wall_s": seconds, "job_cpu_s": _cpu_children() - cpu0}


class Job:
    """A command started now, its end time noted by a thread the moment it exits."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        on_exit: Callable[[], None] = lambda: None,
    ) -> None:
        self.argv = argv
        self._on_exit = on_exit
        self.err = cwd / f"job-{os.getpid()}-{time.monotonic_ns()}.err"
        with open(self.err, "wb") as err:
            self.t0 = time.perf_counter()
            self.proc = subprocess.Popen(
                argv, env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=cwd
            )
        self.ended: float | None = None
        self._thread = threading.Thread(target=self._wait, daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        self.proc.wait()
        self.ended = time.perf_counter()
        self._on_exit()

    @property
    def running(self) -> bool:
        return self.ended is None

    def check(self) -> float:
        """Wall seconds; raises if it failed."""
        assert self.ended is not None
        if self.proc.returncode != 0:
            tail = self.err.read_bytes()[-2000:].decode(errors="replace")
            raise WrongOutput(
                f"runview: {' '.join(self.argv)} exited {self.proc.returncode}\n{tail}"
            )
        return self.ended - self.t0

    def kill(self) -> None:
        if self.running:
            kill_tree(self.proc.pid)


async def _keys_while(
    app: Any, rec: Recorder, going: Callable[[], bool], out: list[float], limit: int = 10**9
) -> None:
    """Press KEYS in turn every KEY_EVERY_S while ``going()`` (and the pane has rows)."""
    i = 0
    while going() and len(out) < limit:
        slot = time.perf_counter() + KEY_EVERY_S
        if _on_run_screen(app) and _pane(app).rows:
            out.append(await press(app, rec, KEYS[i % len(KEYS)]))
            i += 1
        await asyncio.sleep(max(0.0, slot - time.perf_counter()))


async def attached_run(run_dir: Path, lines: int, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    from ezpz_tui.app import EzpzApp

    install_hooks()
    rec = RECORDER
    rec.frames.clear()
    rec.errors.clear()
    rec.listeners.clear()
    run_dir.mkdir()
    app = EzpzApp(surroundings(cwd / "config"), attach=run_dir)
    lag = LoopLag()
    me = psutil.Process()
    async with app.run_test(size=SIZE):
        await ready(app)
        lag.start()
        cpu0, child0 = me.cpu_times(), _cpu_children()
        at_end: dict[str, float] = {}

        def job_ended() -> None:  # on the waiting thread, the moment the job exits
            watch = app.run_watch
            at_end.update(behind_mb=watch.behind / MB, read=len(watch.ranks_of))

        job = Job(flood_argv(run_dir, lines), env, cwd, job_ended)
        flood_keys: list[float] = []
        try:
            await _keys_while(app, rec, lambda: job.running, flood_keys)
            await until(lambda: not job.running, time_limit(lines), "the attached job's end")
        finally:
            job.kill()
        wall = job.check()
        job_end = job.ended
        assert job_end is not None
        watch = app.run_watch
        total = total_lines(lines)
        catch_keys: list[float] = []

        def behind() -> bool:
            return not (app.runs.settled() and len(watch.ranks_of) == total and not watch.running)

        limit = 120.0 + 20e-6 * total
        task = asyncio.ensure_future(_keys_while(app, rec, behind, catch_keys))
        await until(lambda: not behind(), limit, "the console reading the whole run")
        settled = time.perf_counter()
        await task
        cpu1, child1 = me.cpu_times(), _cpu_children()
        verify_console(watch, lines)
        idle_keys: list[float] = []
        idle_from = time.perf_counter()
        await _keys_while(app, rec, lambda: True, idle_keys, limit=IDLE_KEYS)
        idle_to = time.perf_counter()
        lag.stop()
        verify_run(run_dir, lines)  # after the timed parts: it parses a 1,024-rank summary
        if rec.errors:
            raise WrongOutput("runview: " + "; ".join(rec.errors[:5]))
        return {
            "wall_s": wall,
            "job_cpu_s": child1 - child0,
            "console_cpu_s": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
            "catch_up_s": max(0.0, settled - job_end),
            "behind_at_end_mb": at_end["behind_mb"],
            "read_at_end": at_end["read"] / total,
            "keys_flood_s": flood_keys,
            "keys_catch_up_s": catch_keys,
            "keys_idle_s": idle_keys,
            "frames_flood_s": rec.between(job.t0, job_end),
            "frames_catch_up_s": rec.between(job_end, settled),
            "frames_idle_s": rec.between(idle_from, idle_to),
            "stall_flood_s": lag.worst(job.t0, job_end),
            "stall_catch_up_s": lag.worst(job_end, settled),
        }


def flood(lines: int, pairs: int, tmp: Path, log: Callable[[str], None]) -> dict[str, Any]:
    env = live_env()
    headless: list[dict[str, Any]] = []
    attached: list[dict[str, Any]] = []
    # warm-up, untimed: page cache, first imports, and a first attached run (the
    # run view's first frames with rows build Textual's style caches; its keys and
    # frames are kept apart: what the first attach in a fresh console pays)
    headless_run(tmp / "warm", 10, env, tmp)
    shutil.rmtree(tmp / "warm")
    first = asyncio.run(attached_run(tmp / "warm", min(WARM_LINES, lines), env, tmp))
    shutil.rmtree(tmp / "warm")
    for i in range(pairs):
        run_dir = tmp / f"headless-{i}"
        headless.append(headless_run(run_dir, lines, env, tmp))
        shutil.rmtree(run_dir)
        run_dir = tmp / f"attached-{i}"
        attached.append(asyncio.run(attached_run(run_dir, lines, env, tmp)))
        shutil.rmtree(run_dir)
        h, a = headless[-1], attached[-1]
        log(
            f"runview: flood pair {i + 1}/{pairs}: headless {h['wall_s']:.2f} s, attached "
            f"{a['wall_s']:.2f} s (x{a['wall_s'] / h['wall_s']:.2f}); console caught up "
            f"{a['catch_up_s']:.1f} s after the job, {len(a['keys_flood_s'])} keys during "
            f"it (max {max(a['keys_flood_s'], default=0) * 1000:.0f} ms), frame max "
            f"{max(a['frames_flood_s'], default=0) * 1000:.0f} ms; verified"
        )
    base = statistics.median(h["wall_s"] for h in headless)
    ours = statistics.median(a["wall_s"] for a in attached)
    ratio = ours / base

    def joined(key: str) -> list[float]:
        return [v for a in attached for v in a[key]]

    keys = {k: spread(joined(f"keys_{k}_s"), 1000) for k in ("flood", "catch_up", "idle")}
    frames = {k: spread(joined(f"frames_{k}_s"), 1000) for k in ("flood", "catch_up", "idle")}
    return {
        "ranks": RANKS,
        "lines_per_rank": lines,
        "lines": total_lines(lines),
        "bytes": floodjob.flood_bytes(RANKS, lines),
        "pairs": pairs,
        "argv": flood_argv(Path("D"), lines),
        "headless_s": [h["wall_s"] for h in headless],
        "attached_s": [a["wall_s"] for a in attached],
        "headless_median_s": base,
        "attached_median_s": ours,
        "headless_lines_per_s": total_lines(lines) / base,
        "ratio": ratio,
        "job_cpu_s": {
            "headless": [h["job_cpu_s"] for h in headless],
            "attached": [a["job_cpu_s"] for a in attached],
        },
        "console_cpu_s": [a["console_cpu_s"] for a in attached],
        "catch_up_s": [a["catch_up_s"] for a in attached],
        "behind_at_end_mb": [a["behind_at_end_mb"] for a in attached],
        "read_at_end": [a["read_at_end"] for a in attached],
        "keys_ms": keys,
        "frames_ms": frames,
        "first_attach": {
            "lines_per_rank": min(WARM_LINES, lines),
            "key_max_ms": max(first["keys_flood_s"], default=0.0) * 1000,
            "frame_max_ms": max(first["frames_flood_s"], default=0.0) * 1000,
        },
        "stall_ms": {
            "flood": max(a["stall_flood_s"] for a in attached) * 1000,
            "catch_up": max(a["stall_catch_up_s"] for a in attached) * 1000,
        },
        "targets": {
            "ratio": _target(TARGET_RATIO, ratio),
            "key_max_ms": _target(TARGET_KEY_MS, keys["flood"]["max"]),
            "frame_max_ms": _target(TARGET_FRAME_MS, frames["flood"]["max"]),
        },
    }


# --- 3: a line every 100 ms ---------------------------------------------------------------


class FileTicks:
    """When each tick line reached ``combined.log`` (polled every 5 ms, new bytes only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.latency: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        offset, rest = 0, b""
        while not self._stop.wait(0.005):
            try:
                with open(self.path, "rb") as fh:
                    fh.seek(offset)
                    data = fh.read()
            except OSError:
                continue
            now = time.time()
            offset += len(data)
            *whole, rest = (rest + data).split(b"\n")
            for line in whole:
                m = _TICK.search(line.decode(errors="replace"))
                if m:
                    self.latency.setdefault(int(m.group(1)), now - float(m.group(2)))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


async def ticker_run(ticks: int, tmp: Path) -> dict[str, Any]:
    from ezpz_tui.app import EzpzApp

    install_hooks()
    rec = RECORDER
    rec.frames.clear()
    rec.errors.clear()
    rec.listeners.clear()
    run_dir = tmp / "ticker"
    run_dir.mkdir()
    app = EzpzApp(surroundings(tmp / "config"), attach=run_dir)
    shown: dict[int, float] = {}
    seen = [0]

    def on_frame(_end: float) -> None:
        if not _on_run_screen(app):
            return
        pane = _pane(app)
        now = time.time()
        top, height = pane.scroll_offset.y, pane.scrollable_content_region.height
        with pane.source.lock:
            for row in range(max(seen[0], top), min(pane.rows, top + height)):
                m = _TICK.search(pane.source.line(row).text)
                if m:
                    shown.setdefault(int(m.group(1)), now - float(m.group(2)))
                seen[0] = row + 1

    job_argv = ["python", str(FLOOD), "--tick", str(TICK_S), "--count", str(ticks),
                "--ranks", str(RANKS)]  # fmt: skip
    argv = [str(EZPZ_TUI), "--run", "--quiet", "--run-dir", str(run_dir), "--launcher", "none",
            "--", *job_argv]  # fmt: skip
    async with app.run_test(size=SIZE):
        await ready(app)
        rec.listeners.append(on_frame)
        in_file = FileTicks(run_dir / "combined.log")
        job = Job(argv, live_env(), tmp)
        try:
            await until(lambda: not job.running, 60 + ticks * TICK_S * 2, "the ticker's end")
            await until(lambda: len(shown) == ticks, 10, f"all {ticks} ticks on screen")
        finally:
            job.kill()
            in_file.stop()
            rec.listeners.remove(on_frame)
        job.check()
    if rec.errors:
        raise WrongOutput("runview: " + "; ".join(rec.errors[:5]))
    if sorted(shown) != list(range(ticks)) or sorted(in_file.latency) != list(range(ticks)):
        raise WrongOutput(
            f"runview: ticker: {len(shown)} ticks on screen, {len(in_file.latency)} in the file"
        )
    screen = spread(list(shown.values()))
    file = spread(list(in_file.latency.values()))
    return {
        "ticks": ticks,
        "every_s": TICK_S,
        "argv": [*argv[:5], "D", *argv[6:]],
        "on_screen_s": screen,
        "in_file_s": file,
        "console_share_p50_s": statistics.median(
            shown[k] - in_file.latency[k] for k in range(ticks)
        ),
        "targets": {"max_on_screen_s": _target(TARGET_LINE_S, screen["max"])},
    }


# --- 4: a big finished run ------------------------------------------------------------------


def write_finished_run(path: Path, lines: int) -> dict[str, Any]:
    """A finished Open MPI run of ``lines`` (rounded up to whole rounds) over 1,024 ranks."""
    rounds = max(1, math.ceil(lines / RANKS) - 1)
    path.mkdir(parents=True)
    (path / "ranks").mkdir()
    hosts = [f"x{1000 + h // 8}c{h % 8}s0b0n0" for h in range(BIG_HOSTS)]
    argv = ["mpirun", "-np", str(RANKS), "--tag-output", "python3", "train.py"]
    duration = 100.0
    end = time.time() - 3600
    start = end - duration
    progress = []
    with open(path / "combined.log", "wb") as fh:
        fh.write(floodjob.banner(RANKS).encode())
        text = floodjob.template(RANKS)
        step = 10
        for a in range(0, rounds, step):
            fh.write(
                "".join(text % ((i,) * RANKS) for i in range(a, min(rounds, a + step))).encode()
            )
            progress.append((fh.tell(), RANKS * (min(rounds, a + step) + 1)))
    size = (path / "combined.log").stat().st_size
    plan = {
        "scheduler": "local", "scheduler_source": "no scheduler found", "in_job": False,
        "machine": "generic", "machine_source": "no hostname rule matched", "job_id": None,
        "hostname": hosts[0], "hostfile": None, "hosts": hosts, "nhosts": BIG_HOSTS,
        "ngpu_per_host": 0, "accelerator": None, "ngpu_source": "none found (CPU)",
        "warnings": [], "ppn": BIG_PPN, "world_size": RANKS, "launcher": "mpirun",
        "launcher_found": True, "launcher_flavour": "openmpi", "launch_style": "openmpi",
        "rank_io": "label", "cpu_bind": None, "cpu_bind_source": None,
        "command": argv[4:], "argv": argv, "run_dir": str(path),
    }  # fmt: skip
    (path / "plan.json").write_text(json.dumps(plan, indent=2) + "\n")
    owner = {
        "host": socket.gethostname(),
        "pid": 2**22 + 7,  # above the default pid_max: never alive
        "start": start,
        "argv": ["ezpz-tui", "--run", "-n", str(RANKS), "--", *argv[4:]],
        "heartbeat_s": 2.0,
    }
    (path / "owner.json").write_text(json.dumps(owner) + "\n")
    events = [
        {"event": "started", "t": start, "pid": owner["pid"], "host": owner["host"],
         "run_dir": str(path), "argv": argv, "world_size": RANKS, "ranks_expected": RANKS},
        {"event": "attempt", "t": start + 0.01, "attempt": 1, "pid": owner["pid"] + 1,
         "argv": argv, "directory": str(path)},
    ]  # fmt: skip
    every = max(1, len(progress) // 100)  # about once a simulated second
    marks = progress[every - 1 :: every]
    for k, (offset, count) in enumerate(marks):
        t = start + 0.02 + (duration - 0.1) * (k + 1) / len(marks)
        events.append({"event": "progress", "t": t, "attempt": 1, "bytes": offset, "lines": count})
    events.append({"event": "finished", "t": end, "code": 0, "reason": ""})
    (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    ranks = {
        str(r): {"lines": rounds + 1, "bytes": floodjob.rank_bytes(r, RANKS, rounds),
                 "last_line": "", "exit_code": 0}
        for r in range(RANKS)
    }  # fmt: skip
    summary = {
        "exit_code": 0, "reason": "", "start": start, "end": end, "duration_s": duration,
        "run_dir": str(path), "argv": argv, "ranks": ranks, "failed_ranks": {},
        "first_error": None, "hidden_lines": {}, "metrics_source": None, "metrics": {},
        "attempts": [{"attempt": 1, "directory": str(path), "exit_code": 0, "reason": "",
                      "start": start + 0.01, "end": end - 0.1, "duration_s": duration - 0.11,
                      "ranks": ranks, "first_error": None}],
    }  # fmt: skip
    (path / "summary.json").write_text(json.dumps(summary) + "\n")
    return {"lines": RANKS * (rounds + 1), "rounds": rounds, "bytes": size}


def _texts(path: Path, head: int, tail: int) -> tuple[list[str], list[str]]:
    """The first ``head`` and last ``tail`` lines of ``combined.log``, labels stripped."""
    from ezpz_core.run.labels import LabelFormat, split_label

    def strip(raw: bytes) -> str:
        return split_label(LabelFormat.OPENMPI, raw)[1].decode()

    with open(path, "rb") as fh:
        first = fh.read(head * 200).split(b"\n")[:head]
        fh.seek(max(0, path.stat().st_size - tail * 200))
        last = fh.read().split(b"\n")[:-1][-tail:]
    return [strip(x) for x in first], [strip(x) for x in last]


def _where(shown: list[str], head: list[str], tail: list[str], lines: int) -> tuple[str, str]:
    """Which lines of the file ``shown`` (consecutive texts) are: ``end``, ``start``
    or ``other``, and in words."""
    n = len(shown)
    for i in range(len(tail) - n, -1, -1) if n else ():
        if tail[i : i + n] == shown:
            first = lines - len(tail) + i + 1
            return "end", f"lines {first:,}-{first + n - 1:,} of {lines:,} (the end of the file)"
    for i in range(len(head) - n + 1) if n else ():
        if head[i : i + n] == shown:
            return "start", f"lines {i + 1:,}-{i + n:,} of {lines:,} (the start of the file)"
    return "other", f"{n} rows not among the file's first {len(head)} or last {len(tail)} lines"


def _peak_rss() -> int:
    """The kernel's high-water mark of this process's RSS (``VmHWM``), in bytes. Not
    ``ru_maxrss``: that one keeps the parent's RSS from before ``exec``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return psutil.Process().memory_info().rss


async def open_run(run_dir: Path, lines: int, config: Path) -> dict[str, Any]:
    """In a fresh process: open a finished run, first screen, keys, read it all, memory."""
    from ezpz_tui.app import EzpzApp

    install_hooks()
    rec = RECORDER
    me = psutil.Process()
    rss_before = me.memory_info().rss
    first: dict[str, Any] = {}

    def on_frame(end: float) -> None:
        if first or not _on_run_screen(app):
            return
        pane = _pane(app)
        if not pane.rows:
            return
        top, height = pane.scroll_offset.y, pane.scrollable_content_region.height
        with pane.source.lock:
            rows = [pane.source.line(r) for r in range(top, min(pane.rows, top + height))]
        first.update(
            s=end - t0,
            rows=len(rows),
            texts=[r.text for r in rows if not r.group],
            collapsed_rows=sum(1 for r in rows if r.group),
            title=pane.border_title,
            rss=me.memory_info().rss,
        )

    rec.listeners.append(on_frame)
    t0 = time.perf_counter()
    app = EzpzApp(surroundings(config), attach=run_dir)
    async with app.run_test(size=SIZE):
        await until(lambda: bool(first), 120, "the first screen")
        watch = app.run_watch
        keys: list[float] = []
        frames_from = time.perf_counter()

        def behind() -> bool:
            return not (app.runs.settled() and len(watch.ranks_of) == lines)

        task = asyncio.ensure_future(_keys_while(app, rec, behind, keys))
        await until(lambda: not behind(), 120 + 20e-6 * lines, "reading the whole run")
        settled = time.perf_counter()
        await task
        frames = rec.between(frames_from, settled)
        # the last screen: follow the end, then the last visible row is the last line
        await press(app, rec, "m")
        await press(app, rec, "end")
        await asyncio.sleep(0.3)
        pane = _pane(app)
        with pane.source.lock:
            last_text = pane.source.line(pane.rows - 1).text if pane.rows else ""
        rss_settled = me.memory_info().rss
        peak = max(_peak_rss(), rss_settled)
        count = len(watch.ranks_of)
    head, tail = _texts(run_dir / "combined.log", 200, 1000)
    part, shows = _where(first["texts"], head, tail, lines)
    problems = list(rec.errors[:5])
    if count != lines:
        problems.append(f"read {count:,} lines, not {lines:,}")
    if last_text != tail[-1]:
        problems.append(f"last screen ends with {last_text[:60]!r}, not the file's last line")
    return {
        "first_screen_s": first["s"],
        "first_screen_rows": first["rows"],
        "first_screen_part": part,
        "first_screen_shows": shows,
        "first_screen_collapsed_rows": first["collapsed_rows"],
        "first_screen_title": first["title"],
        "read_all_s": settled - t0,
        "keys_ms": spread(keys, 1000),
        "frames_ms": spread(frames, 1000),
        "rss_before_app_mb": rss_before / MB,
        "rss_first_screen_mb": first["rss"] / MB,
        "rss_read_all_mb": rss_settled / MB,
        "peak_rss_mb": peak / MB,
        "problems": problems,
    }


def open_child(run_dir: Path, lines: int, tmp: Path) -> dict[str, Any]:
    argv = [str(VENV_BIN / "python"), __file__, "--open", str(run_dir), "--open-lines",
            str(lines), "--config", str(tmp / "config")]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300 + 40e-6 * lines)
    if proc.returncode != 0:
        raise WrongOutput(f"runview: opening {run_dir} failed:\n{proc.stderr[-3000:]}")
    got = json.loads(proc.stdout.splitlines()[-1])
    if got["problems"]:
        raise WrongOutput(f"runview: opening {run_dir}: " + "; ".join(got["problems"]))
    return got


def big_open(lines: int, tmp: Path, log: Callable[[str], None]) -> dict[str, Any]:
    small_dir, big_dir = tmp / "small-run", tmp / "big-run"
    small = write_finished_run(small_dir, 2 * RANKS)
    t0 = time.perf_counter()
    big = write_finished_run(big_dir, lines)
    log(
        f"runview: wrote a finished run of {big['lines']:,} lines ({big['bytes'] / 1e6:.0f} MB) "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    base = open_child(small_dir, small["lines"], tmp)
    ours = open_child(big_dir, big["lines"], tmp)
    log(
        f"runview: open {big['lines']:,} lines: first screen {ours['first_screen_s'] * 1000:.0f}"
        f" ms ({ours['first_screen_shows']}), read all in {ours['read_all_s']:.1f} s, peak RSS "
        f"{ours['peak_rss_mb']:.0f} MB (a {small['lines']:,}-line run: "
        f"{base['first_screen_s'] * 1000:.0f} ms, {base['peak_rss_mb']:.0f} MB); verified"
    )
    return {
        "ranks": RANKS,
        "lines": big["lines"],
        "bytes": big["bytes"],
        "plan": f"openmpi, mpirun -np {RANKS} --tag-output, {BIG_HOSTS} hosts x {BIG_PPN}",
        "ours": ours,
        "base_lines": small["lines"],
        "base": base,
        "first_screen_ratio": ours["first_screen_s"] / base["first_screen_s"],
        "peak_rss_added_mb": ours["peak_rss_mb"] - base["peak_rss_mb"],
        "targets": {
            "peak_rss_mb": _target(TARGET_PEAK_MB, ours["peak_rss_mb"]),
            "first_screen_s": _target(TARGET_FIRST_SCREEN_S, ours["first_screen_s"]),
        },
    }


# --- driver -------------------------------------------------------------------------------

PARTS = ("flood", "ticker", "open")


def run(
    lines: int = LINES,
    pairs: int = PAIRS,
    ticks: int = TICKS,
    big_lines: int = BIG_LINES,
    only: tuple[str, ...] = PARTS,
    workdir: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="ezpz-bench-runview-", dir=workdir))
    results: dict[str, Any] = {"size": f"{SIZE[0]}x{SIZE[1]}", "outdir_fs": filesystem(tmp)}
    try:
        (tmp / "config").mkdir()
        if "flood" in only:
            results["flood"] = flood(lines, pairs, tmp, log)
        if "ticker" in only:
            results["ticker"] = asyncio.run(ticker_run(ticks, tmp))
            t = results["ticker"]
            log(
                f"runview: ticker: {ticks} lines every {TICK_S:g} s: on screen p50 "
                f"{t['on_screen_s']['p50']:.3f} s, max {t['on_screen_s']['max']:.3f} s; in the "
                f"file p50 {t['in_file_s']['p50']:.3f} s, max {t['in_file_s']['max']:.3f} s"
            )
        if "open" in only:
            results["open"] = big_open(big_lines, tmp, log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    targets: dict[str, Any] = {}
    for part in PARTS:
        for name, t in results.get(part, {}).get("targets", {}).items():
            targets[f"{part} {name}"] = t
    results["targets"] = targets
    return results


def report(r: dict[str, Any]) -> None:
    for name, t in r["targets"].items():
        mark = "pass" if t["pass"] else "MISS"
        print(f"{name}: {t['value']:.3f} (target <= {t['target']:g}) {mark}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=LINES, help=f"flood: lines per rank ({LINES})")
    parser.add_argument("--pairs", type=int, default=PAIRS)
    parser.add_argument("--ticks", type=int, default=TICKS)
    parser.add_argument("--big-lines", type=float, default=BIG_LINES, help="the finished run")
    parser.add_argument("--only", choices=PARTS, action="append")
    parser.add_argument("--quick", action="store_true", help="small sizes, one pair")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--open", type=Path, help=argparse.SUPPRESS)  # the child of part 4
    parser.add_argument("--open-lines", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.open is not None:
        print(json.dumps(asyncio.run(open_run(args.open, args.open_lines, args.config))))
        return 0
    lines, pairs, ticks, big = args.lines, args.pairs, args.ticks, int(args.big_lines)
    if args.quick:
        lines, pairs, ticks, big = 300, 1, 30, 1_000_000
    try:
        results = run(lines, pairs, ticks, big, tuple(args.only or PARTS))
    except WrongOutput as exc:
        print(exc, file=sys.stderr)
        return 2
    report(results)
    if args.json:
        print(json.dumps(results, indent=2))
    missed = [k for k, t in results["targets"].items() if not t["pass"]]
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
