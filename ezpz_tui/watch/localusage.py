"""Resource use of a label-mode run's ranks on this host, sampled with psutil.

Ranks started without the per-rank wrapper write no stats files, but on the host
of the run's ``--run`` session they are still in the process table, below the
session. Which process is which rank is read from its environment: the launcher
put the rank variables there (``ezpz_core.rankenv.rank_from_env`` knows which
launcher's win).

Two things make "the processes naming rank r" not simply that:

* a rank's own children (data loader workers, a compiler) inherit its variables:
  so each rank is its *topmost* descendant naming it, and that process's whole
  subtree counts for it, less the subtrees of other ranks below it (a torchrun
  agent that mpiexec made rank 0 has workers 1..7 below it);
* the launcher (srun, mpirun) inherits the session's own environment, and inside
  a Slurm batch job that holds ``SLURM_PROCID=0``: a launcher must not become rank
  0. So a variable a process shares, value and all, with the session does not name
  its rank. Because srun also gives its rank 0 ``SLURM_PROCID=0``, a process
  named only by such shared values still counts as that rank when no process
  below it is named by a variable of its own (a rank, not a launcher).

``rank_roots`` and ``rank_members`` do that over plain data; ``LocalSampler`` feeds
them from psutil and sums the members' CPU, memory and threads.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ezpz_core.rankenv import rank_from_env
from ezpz_core.run.rankstats import Usage

if TYPE_CHECKING:
    import psutil

REMAP_S = 5.0  # the rank -> process map is rebuilt at most this often


@dataclass(frozen=True)
class ProcRank:
    """One descendant of the session and what its environment says."""

    pid: int
    ppid: int
    named: int | None  # rank from variables the session does not share
    shared: int | None = None  # rank from all its variables, shared ones too


def env_ranks(
    env: Mapping[str, str], session_env: Mapping[str, str]
) -> tuple[int | None, int | None]:
    """``(named, shared)`` for ``ProcRank`` from a process's environment."""
    own = {k: v for k, v in env.items() if session_env.get(k) != v}
    found, everything = rank_from_env(own), rank_from_env(env)
    return (
        found.rank if found.source != "none" else None,
        everything.rank if everything.source != "none" else None,
    )


def _ancestors(pid: int, parent: Mapping[int, int], root: int) -> Iterable[int]:
    """``pid``'s ancestors below ``root``, nearest first."""
    seen = {pid}
    here = parent.get(pid)
    while here is not None and here != root and here not in seen:
        yield here
        seen.add(here)
        here = parent.get(here)


def rank_roots(procs: Iterable[ProcRank], session_pid: int) -> dict[int, list[int]]:
    """Each rank's topmost processes below ``session_pid`` (see the module docstring).

    Usually one per rank; a rank named by more than one unrelated process (a
    restart whose old process still exits) gets all of them, in pid order."""
    procs = list(procs)
    parent = {p.pid: p.ppid for p in procs}
    # processes with a named rank below them are launchers (or agents), never
    # ranks by shared values alone
    above_named: set[int] = set()
    for p in procs:
        if p.named is not None:
            above_named.update(_ancestors(p.pid, parent, session_pid))
    rank: dict[int, int] = {}
    for p in procs:
        if p.named is not None:
            rank[p.pid] = p.named
        elif p.shared is not None and p.pid not in above_named:
            rank[p.pid] = p.shared
    roots: dict[int, list[int]] = {}
    for pid in sorted(rank):
        r = rank[pid]
        if any(rank.get(a) == r for a in _ancestors(pid, parent, session_pid)):
            continue  # a child of its rank's process
        roots.setdefault(r, []).append(pid)
    return roots


def rank_members(procs: Iterable[ProcRank], roots: Mapping[int, list[int]]) -> dict[int, list[int]]:
    """Every process of each rank: its roots' subtrees, less other roots' subtrees."""
    children: dict[int, list[int]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p.pid)
    all_roots = {pid for pids in roots.values() for pid in pids}
    members: dict[int, list[int]] = {}
    for r, pids in roots.items():
        found: list[int] = []
        stack = list(pids)
        while stack:
            pid = stack.pop()
            found.append(pid)
            stack.extend(c for c in children.get(pid, ()) if c not in all_roots)
        members[r] = sorted(set(found))
    return members


@dataclass
class _CpuMark:
    """A process's CPU seconds when last sampled, and when (monotonic)."""

    seconds: float
    at: float


class LocalSampler:
    """Samples this host's ranks of a run started in label mode (no wrapper): the
    descendants of the run's ``--run`` session process (``owner.json``'s pid, when
    ``owner.json``'s host is this host), mapped to ranks by the rank variables in
    their environment (``rank_from_env``), each rank's process tree summed.

    The rank -> process map is rebuilt at most every ``remap_s`` seconds (5: new
    ranks, restarts; walking the process table costs); processes a rank starts in
    between count from the next rebuild.
    ``cpu`` is % of one core from ``cpu_times`` deltas between calls; a process seen
    for the first time counts its average since it started (its CPU seconds over its
    age), so the first call already shows a busy rank as busy. Processes that vanish
    mid-sample, and ones we may not inspect, are skipped; ``sample`` never raises."""

    def __init__(self, session_pid: int, host: str, remap_s: float = REMAP_S) -> None:
        self.session_pid = session_pid
        self.host = host
        self.remap_s = remap_s
        self._session: psutil.Process | None = None
        self._session_env: dict[str, str] = {}
        self._gone = False
        self._members: dict[int, list[int]] = {}
        self._procs: dict[int, psutil.Process] = {}
        self._marks: dict[tuple[int, float], _CpuMark] = {}
        self._mapped: float | None = None

    def sample(self, now: float) -> list[Usage]:
        """One ``Usage`` per rank found (``source="local"``, ``t=now``, epoch
        seconds), in rank order; ``[]`` when the session is gone."""
        import psutil

        try:
            session = self._live_session()
            if session is None:
                return []
            clock = time.monotonic()
            if self._mapped is None or clock - self._mapped >= self.remap_s:
                self._mapped = clock
                self._remap(session)
            return self._measure(now, clock)
        except (psutil.Error, OSError):  # the session itself went while we looked
            return []

    # -- the session and its ranks ---------------------------------------------------

    def _live_session(self) -> psutil.Process | None:
        import psutil

        if self._gone:
            return None
        try:
            if self._session is None:
                self._session = psutil.Process(self.session_pid)
                try:
                    self._session_env = self._session.environ()
                except psutil.AccessDenied:
                    self._session_env = {}
            # is_running also catches a pid reused since (it compares start times)
            if self._session.is_running() and self._session.status() != psutil.STATUS_ZOMBIE:
                return self._session
        except psutil.Error:
            pass
        self._gone = True  # a session does not come back
        return None

    def _remap(self, session: psutil.Process) -> None:
        import psutil

        found: list[ProcRank] = []
        procs: dict[int, psutil.Process] = {}
        for proc in session.children(recursive=True):
            try:
                ppid = proc.ppid()
            except psutil.Error:
                continue
            try:
                named, shared = env_ranks(proc.environ(), self._session_env)
            except psutil.Error:  # not ours to read, or gone: it names no rank
                named, shared = None, None
            found.append(ProcRank(proc.pid, ppid, named, shared))
            procs[proc.pid] = proc  # it remembers its start: a reused pid is not it
        self._members = rank_members(found, rank_roots(found, self.session_pid))
        self._procs = procs

    # -- measuring ---------------------------------------------------------------------

    def _measure(self, now: float, clock: float) -> list[Usage]:
        import psutil

        usages: list[Usage] = []
        marks: dict[tuple[int, float], _CpuMark] = {}
        for rank in sorted(self._members):
            cpu = 0.0
            rss = threads = procs = 0
            for pid in self._members[rank]:
                proc = self._procs.get(pid)
                if proc is None:
                    continue
                try:
                    with proc.oneshot():
                        if proc.status() == psutil.STATUS_ZOMBIE:
                            continue
                        times = proc.cpu_times()
                        created = proc.create_time()
                        memory = proc.memory_info()
                        count = proc.num_threads()
                except psutil.Error:  # vanished mid-sample, or not ours to inspect
                    continue
                if not proc.is_running():  # the pid is another process now
                    continue
                seconds = times.user + times.system
                key = (pid, created)
                mark = self._marks.get(key)
                if mark is None:  # first seen: its average since it started
                    age = time.time() - created
                    rate = seconds / age if age > 0 else 0.0
                else:
                    span = clock - mark.at
                    rate = (seconds - mark.seconds) / span if span > 0 else 0.0
                marks[key] = _CpuMark(seconds, clock)
                cpu += max(rate, 0.0) * 100.0
                rss += memory.rss
                threads += count
                procs += 1
            if procs:
                usages.append(
                    Usage(
                        t=now,
                        rank=rank,
                        host=self.host,
                        cpu=cpu,
                        rss=rss,
                        threads=threads,
                        procs=procs,
                        source="local",
                    )
                )
        self._marks = marks
        return usages
