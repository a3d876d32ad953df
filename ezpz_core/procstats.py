"""Resource samples of one rank's process tree, taken by the rank wrapper.

In ``--rank-io wrapper`` mode the wrapper (``ezpz_core.rankio``) already sits on
every rank in front of the command, so it is the one place that can watch the
command's processes without a second process per rank. Every ``EZPZ_STATS_S``
seconds (default 2) a daemon thread appends one JSON line to
``$EZPZ_RUN_DIR/stats/rank-<N>.jsonl``::

    {"t": 1764150000.12, "rank": 0, "host": "x1000c0s0b0n0", "pid": 1234,
     "cpu": 98.5, "rss": 123456789, "threads": 12, "procs": 3}

plus ``gpu`` (utilisation %), ``gpu_mem`` (bytes used), ``gpu_src`` and
``gpu_dev`` when a GPU of this rank is seen (``gpustats``: NVML, else ``nvidia-smi``, else
``xpu-smi``); a key whose value the device does not report is left out.

It starts on every rank of every job, so it must cost nothing measurable
(``bench/rank_sampling.py``): a sample reads ``stat`` and ``statm`` of each process
of the tree with ``os.open``/``os.read`` (no file objects). ``rss`` is statm's
resident column: stat's field 24 would save a read, but recent kernels (6.x) fill
it from per-CPU counters that lag by up to a batch per CPU (MBs on a big node),
while statm sums them. ``json``, ``subprocess`` and ``ctypes`` are imported only
when the thread needs them, not with the wrapper. Stdlib only.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ezpz_core.gpustats import (  # the GPU half of a sample (gpustats.py)
    GpuReading,
    GpuSource,
    probe_gpu,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs the wrapper milliseconds on every rank: not at run time
    from typing import Any

DEFAULT_INTERVAL_S = 2.0
FIRST_SAMPLE_S = 0.2  # after the command started: its tree exists by then
RESCAN_EVERY = 15  # /proc scans between full ones (see ProcTree._scan)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# -- configuration --------------------------------------------------------------


@dataclass(frozen=True)
class StatsConfig:
    """Where and how often one rank's samples go."""

    path: str  # $EZPZ_RUN_DIR/stats/rank-<N>.jsonl
    interval_s: float
    rank: int
    host: str


def interval_from_env(env: Mapping[str, str]) -> float:
    """``EZPZ_STATS_S`` in seconds; anything but a finite positive number gives
    the default, so a typo never turns sampling into a busy loop or an error."""
    raw = env.get("EZPZ_STATS_S", "").strip()
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_INTERVAL_S
    return value if 0 < value < float("inf") else DEFAULT_INTERVAL_S


def stats_config(env: Mapping[str, str], rank: int, host: str | None = None) -> StatsConfig | None:
    """The rank's sampling settings, or None when it should not sample: no
    ``EZPZ_RUN_DIR`` (not started by ``ezpz-tui --run``, or a remote host the
    variable did not reach) or ``EZPZ_STATS=0``."""
    run_dir = env.get("EZPZ_RUN_DIR", "")
    if not run_dir or env.get("EZPZ_STATS", "").strip() == "0":
        return None
    path = os.path.join(run_dir, "stats", f"rank-{rank}.jsonl")
    return StatsConfig(path, interval_from_env(env), rank, host or os.uname().nodename)


# -- /proc ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` a sample needs."""

    pid: int
    ppid: int
    state: str
    ticks: int  # utime + stime: its own CPU, all its threads, in clock ticks
    child_ticks: int  # cutime + cstime: its reaped descendants
    threads: int
    start: int  # starttime (ticks after boot): tells a reused pid apart


@dataclass(frozen=True)
class TreeUsage:
    """One reading of a process tree."""

    ticks: int  # cumulative CPU of the tree, clock ticks
    rss: int  # bytes
    threads: int
    procs: int


def parse_stat(pid: int, data: bytes) -> ProcStat:
    """One ``/proc/<pid>/stat`` line. The command name (field 2) may hold spaces
    and parentheses, so fields are counted from the last ``)``."""
    f = data[data.rindex(b")") + 2 :].split()
    return ProcStat(
        pid=pid,
        ppid=int(f[1]),
        state=f[0].decode(),
        ticks=int(f[11]) + int(f[12]),
        child_ticks=int(f[13]) + int(f[14]),
        threads=int(f[17]),
        start=int(f[19]),
    )


def _read(path: str) -> bytes | None:
    """A small /proc file in one read, or None when it (or its process) is gone."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        data = chunk = os.read(fd, 4096)
        # A long children list comes a buffer at a time, cut between entries of at
        # most 8 bytes: a chunk with less than that to spare was the last one.
        while len(chunk) > 4096 - 64:
            chunk = os.read(fd, 4096)
            data += chunk
        return data
    except OSError:  # ESRCH: the process exited between open and read
        return None
    finally:
        os.close(fd)


def read_stat(pid: int, proc: str = "/proc") -> ProcStat | None:
    """``pid``'s stat, or None when the process is gone (exited, or reaped)."""
    data = _read(f"{proc}/{pid}/stat")
    if not data:
        return None
    try:
        return parse_stat(pid, data)
    except (ValueError, IndexError):
        return None


def read_resident(pid: int, proc: str = "/proc") -> int | None:
    """``pid``'s resident pages (``statm``'s second column), or None when gone."""
    data = _read(f"{proc}/{pid}/statm")
    try:
        return int(data.split()[1]) if data else None
    except (ValueError, IndexError):
        return None


def read_stats(pids: Iterable[int], proc: str = "/proc") -> dict[int, ProcStat]:
    """The stats of those of ``pids`` still there: a process that exited after
    it was listed is left out, never an error."""
    found = {}
    for pid in pids:
        stat = read_stat(pid, proc)
        if stat is not None:
            found[pid] = stat
    return found


def descendants(root: int, parent_of: Mapping[int, int]) -> list[int]:
    """``root`` and every process below it, from a pid -> parent pid map."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parent_of.items():
        if pid != root:
            children.setdefault(ppid, []).append(pid)
    tree, todo = [root], [root]
    while todo:
        below = children.get(todo.pop(), ())
        tree.extend(below)
        todo.extend(below)
    return tree


def tree_usage(stats: Iterable[ProcStat], resident: Mapping[int, int]) -> TreeUsage:
    """Sum a tree's members (``resident``: pages per pid). CPU counts every
    member's own and reaped children's ticks (a grandchild reaped by its parent
    moves into that parent's cutime, so the sum does not drop when it exits);
    zombies add CPU but no process."""
    ticks = rss = threads = procs = 0
    for stat in stats:
        ticks += stat.ticks + stat.child_ticks
        if stat.state != "Z":
            rss += resident.get(stat.pid, 0)
            threads += stat.threads
            procs += 1
    return TreeUsage(ticks, rss * PAGE_SIZE, threads, procs)


def cpu_percent(ticks: int, seconds: float, clk_tck: int = CLK_TCK) -> float:
    """Percent of one core over ``seconds``; a tree that lost a member (reparented
    away, or auto-reaped) can read fewer ticks than before: that is 0, not < 0."""
    if seconds <= 0:
        return 0.0
    return max(0.0, 100.0 * ticks / clk_tck / seconds)


def has_children_files(proc: str = "/proc") -> bool:
    """Whether the kernel has ``/proc/<pid>/task/<tid>/children`` (CONFIG_PROC_CHILDREN)."""
    pid = os.getpid()
    return os.path.exists(f"{proc}/{pid}/task/{pid}/children")


class ProcTree:
    """The command's process tree: its pid and all descendants, read from /proc.

    Children come from ``/proc/<pid>/task/<tid>/children`` where the kernel has
    them (a few reads per member); else from a scan of every ``/proc/<pid>/stat``
    for parent pids. The scan remembers the processes outside the tree and
    skips them next time (a process never moves into the tree: its parent only
    changes to a reaper outside it), so a sample reads only new pids; a full scan
    every ``RESCAN_EVERY`` samples catches an outside pid reused by a new member.
    """

    def __init__(self, root: int, proc: str = "/proc", children_files: bool | None = None) -> None:
        self.root = root
        self.proc = proc
        self.children_files = has_children_files(proc) if children_files is None else children_files
        self._root_start: int | None = None
        self._outside: set[int] = set()
        self._scans = 0

    def _children(self, pid: int) -> list[int]:
        base = f"{self.proc}/{pid}/task"
        try:
            tids = os.listdir(base)
        except OSError:
            return []
        found: list[int] = []
        for tid in tids:
            data = _read(f"{base}/{tid}/children")
            if data:
                found.extend(map(int, data.split()))
        return found

    def _walk(self) -> dict[int, ProcStat]:
        stats: dict[int, ProcStat] = {}
        todo = [self.root]
        while todo:
            pid = todo.pop()
            stat = read_stat(pid, self.proc)
            if stat is None:
                continue
            stats[pid] = stat
            todo.extend(child for child in self._children(pid) if child not in stats)
        return stats

    def _scan(self) -> dict[int, ProcStat]:
        if self._scans % RESCAN_EVERY == 0:
            self._outside.clear()
        self._scans += 1
        present = {int(name) for name in os.listdir(self.proc) if name.isdigit()}
        stats = read_stats(present - self._outside, self.proc)
        members = descendants(self.root, {pid: st.ppid for pid, st in stats.items()})
        inside = {pid: stats[pid] for pid in members if pid in stats}
        self._outside = (self._outside & present) | (stats.keys() - inside.keys())
        return inside

    def members(self) -> dict[int, ProcStat]:
        """The tree's processes now (empty once the root is gone)."""
        return self._walk() if self.children_files else self._scan()

    def usage(self) -> TreeUsage | None:
        """The tree's usage, or None once the command has exited (its pid gone,
        a zombie, or reused by another process)."""
        stats = self.members()
        root = stats.get(self.root)
        if root is None or root.state in ("Z", "X"):
            return None
        if self._root_start is None:
            self._root_start = root.start
        elif root.start != self._root_start:
            return None
        resident: dict[int, int] = {}
        for pid, stat in stats.items():
            pages = read_resident(pid, self.proc) if stat.state != "Z" else None
            if pages is not None:
                resident[pid] = pages
        return tree_usage(stats.values(), resident)


# -- the sampler ------------------------------------------------------------------


def sample_record(
    t: float,
    config: StatsConfig,
    pid: int,
    cpu: float,
    usage: TreeUsage,
    gpu: GpuReading | None,
) -> dict[str, Any]:
    """One line of the stats file, as a dict (key order is the file's)."""
    record: dict[str, Any] = {
        "t": round(t, 3),
        "rank": config.rank,
        "host": config.host,
        "pid": pid,
        "cpu": round(cpu, 1),
        "rss": usage.rss,
        "threads": usage.threads,
        "procs": usage.procs,
    }
    if gpu is not None:
        if gpu.util is not None:
            record["gpu"] = gpu.util
        if gpu.mem is not None:
            record["gpu_mem"] = gpu.mem
        record["gpu_src"] = gpu.src
        record["gpu_dev"] = gpu.dev
    return record


class Sampler:
    """Samples a command's tree into its stats file until ``stop`` is set or the
    command is gone; the target of a daemon thread that nothing waits for.

    ``report`` gets the one line said when the file cannot be written (then
    sampling stops); nothing else ever leaves this thread, and no exception."""

    def __init__(
        self,
        config: StatsConfig,
        pid: int,
        started: float,
        report: Callable[[str], None],
        env: Mapping[str, str],
        probe: Callable[[Mapping[str, str]], GpuSource | None] = probe_gpu,
    ) -> None:
        self.config = config
        self.pid = pid
        self.started = started  # time.monotonic() when the command started
        self.report = report
        self.env = env
        self.probe = probe
        self.stop = threading.Event()
        self.samples = 0

    def _say(self, why: str) -> None:
        self.report(f"ezpz rankio: no resource stats: {why}")

    def _open(self) -> int | None:
        """The stats file, opened for appending; ``stats/`` is made if missing, but
        not the run directory: where that is missing, this host does not share
        the run's file system, and a copy here would be read by no one."""
        path = self.config.path
        stats_dir = os.path.dirname(path)
        run_dir = os.path.dirname(stats_dir)
        if not os.path.isdir(run_dir):
            self._say(f"{run_dir}: no such directory on this host")
            return None
        try:
            os.makedirs(stats_dir, exist_ok=True)
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            self._say(f"{exc.filename or path}: {exc.strerror or exc}")
            return None

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a bug here must not touch the command or the wrapper
            self._say(f"sampler failed: {exc!r}")

    def _run(self) -> None:
        import json

        fd = self._open()
        if fd is None:
            return
        try:
            try:
                gpu = self.probe(self.env)
            except Exception:  # a GPU we cannot read: sample the rest
                gpu = None
            clock = time.monotonic
            first = self.started + FIRST_SAMPLE_S
            if self.stop.wait(max(0.0, first - clock())):
                return
            tree = ProcTree(self.pid)
            interval = self.config.interval_s
            prev_ticks, prev_t, due = 0, self.started, clock()
            while True:
                usage = tree.usage()
                now = clock()
                if usage is None or self.stop.is_set():
                    return
                cpu = cpu_percent(usage.ticks - prev_ticks, now - prev_t)
                reading = gpu.read() if gpu is not None else None
                record = sample_record(time.time(), self.config, self.pid, cpu, usage, reading)
                try:
                    os.write(fd, (json.dumps(record) + "\n").encode())
                except OSError as exc:
                    self._say(f"{self.config.path}: {exc.strerror or exc}")
                    return
                self.samples += 1
                prev_ticks, prev_t = usage.ticks, now
                due += interval
                if due < clock():  # a slow sample (a GPU tool): no burst to catch up
                    due = clock() + interval
                if self.stop.wait(max(0.0, due - clock())):
                    return
        finally:
            os.close(fd)


def start_sampler(
    env: Mapping[str, str],
    rank: int,
    pid: int,
    started: float,
    report: Callable[[str], None],
) -> Sampler | None:
    """Start sampling ``pid``'s tree in a daemon thread, if this run wants it."""
    config = stats_config(env, rank)
    if config is None:
        return None
    sampler = Sampler(config, pid, started, report, env)
    threading.Thread(target=sampler.run, name="ezpz-stats", daemon=True).start()
    return sampler
