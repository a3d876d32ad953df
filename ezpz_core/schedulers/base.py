"""What every scheduler module provides, and the data it returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ezpz_core.kinds import SchedulerKind


@dataclass(frozen=True)
class Allocation:
    """The hosts a job was given, as its scheduler presents them.

    ``hosts`` may be empty while ``host_count`` is known (Slurm with only
    ``SLURM_NNODES``). ``error`` holds why the hosts could not be read; it only
    matters when no ``--hostfile`` replaces them. ``tasks_per_host`` is the task
    count the user asked the scheduler for, per host (``salloc -n2``,
    ``select=2:mpiprocs=4``), None when the request named none; ``tasks_from``
    says where it was read, for the plan's notes.
    """

    job_id: str | None
    hosts: tuple[str, ...] = ()
    slots: tuple[int, ...] = ()
    hostfile: str | None = None  # a file the scheduler wrote (PBS nodefile)
    nodelist: str | None = None  # the raw host-list expression (Slurm)
    host_count: int | None = None
    source: str = ""
    error: str | None = None
    warnings: tuple[str, ...] = field(default=())
    tasks_per_host: int | None = None
    tasks_from: str = ""

    @property
    def nhosts(self) -> int | None:
        return len(self.hosts) if self.hosts else self.host_count


@dataclass(frozen=True)
class Context:
    """Paths a scheduler reads besides the environment (overridable in tests)."""

    pbs_aux_dir: str = "/var/spool/pbs/aux"


class Scheduler(Protocol):
    """One batch system: is this shell inside one of its jobs, and which hosts."""

    kind: SchedulerKind

    def job_id(self, env: Mapping[str, str]) -> str | None: ...

    def allocation(self, env: Mapping[str, str], ctx: Context) -> Allocation: ...
