"""The job this shell is in: scheduler, machine, hosts and accelerators.

``detect_job`` is the only place that reads the real environment; it takes the
environment as an argument (default ``os.environ``) and reports where each fact
came from, so ``--check`` can explain itself and tests need only vectors.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import psutil

from ezpz_core.devices import Accelerators, count_accelerators
from ezpz_core.hostfile import short_name
from ezpz_core.kinds import SchedulerKind
from ezpz_core.machines import Machine, machine_by_name, match_machine
from ezpz_core.schedulers import Allocation, Context, allocation_for, detect_scheduler
from ezpz_core.tools import ToolRunner, make_tool_runner


@dataclass(frozen=True)
class Job:
    """Facts about where we run; ``*_source`` fields say who told us."""

    scheduler: SchedulerKind
    scheduler_source: str
    in_job: bool
    machine: Machine
    machine_source: str
    hostname: str
    allocation: Allocation
    accelerators: Accelerators
    cpus: int  # cores on this host, for local oversubscription

    @property
    def job_id(self) -> str | None:
        return self.allocation.job_id

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.allocation.warnings

    def to_json(self) -> dict[str, Any]:
        """Job facts as JSON (``--check --json``; a plan's JSON starts from these)."""
        alloc = self.allocation
        return {
            "scheduler": self.scheduler.value,
            "scheduler_source": self.scheduler_source,
            "in_job": self.in_job,
            "machine": self.machine.name,
            "machine_source": self.machine_source,
            "job_id": self.job_id,
            "hostname": self.hostname,
            "hostfile": alloc.hostfile,
            "hosts": list(alloc.hosts),
            "nhosts": alloc.nhosts,
            "ngpu_per_host": self.accelerators.count,
            "accelerator": self.accelerators.kind or None,
            "ngpu_source": self.accelerators.source,
            "warnings": list(self.warnings),
        }


def local_cpu_count() -> int:
    """Cores this process may use: physical cores, capped by the affinity mask."""
    physical = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = physical
    return max(1, min(physical, allowed))


def detect_job(
    env: Mapping[str, str] | None = None,
    *,
    scheduler: SchedulerKind | None = None,
    machine: str | None = None,
    hostname: str | None = None,
    context: Context | None = None,
    run_tool: ToolRunner | None = None,
    cpus: int | None = None,
) -> Job:
    """Detect the job from ``env`` (default: this process's environment).

    ``scheduler`` and ``machine`` are the ``--scheduler``/``--machine`` overrides;
    the other keywords replace I/O (hostname, PBS aux directory, tool probes, core
    count) for tests.
    """
    env = os.environ if env is None else env
    host = hostname or socket.gethostname()
    if machine is not None:
        found_machine, machine_source = machine_by_name(machine, "--machine"), "--machine"
    elif env.get("EZPZ_MACHINE", "").strip():
        found_machine = machine_by_name(env["EZPZ_MACHINE"], "EZPZ_MACHINE")
        machine_source = "EZPZ_MACHINE"
    else:
        found_machine = match_machine(host, env)
        machine_source = (
            "no hostname rule matched" if found_machine.name == "generic" else f"hostname {host}"
        )

    choice = detect_scheduler(env, found_machine, scheduler)
    alloc = allocation_for(choice.kind, env, context or Context())
    in_job = alloc.job_id is not None
    if in_job and alloc.hosts and not _hosts_include(alloc.hosts, host):
        why = (
            " (an salloc shell on a login node? srun still starts ranks on the job's nodes; "
            "local probes such as nvidia-smi describe this host, not them)"
            if choice.kind is SchedulerKind.SLURM
            else "; was the job environment copied from another shell?"
        )
        alloc = _with_warning(
            alloc, f"this host ({host}) is not in job {alloc.job_id}'s host list{why}"
        )
    accelerators = count_accelerators(
        env,
        found_machine,
        run_tool or make_tool_runner(env),
        in_slurm_job=in_job and choice.kind is SchedulerKind.SLURM,
    )
    return Job(
        scheduler=choice.kind,
        scheduler_source=choice.source,
        in_job=in_job,
        machine=found_machine,
        machine_source=machine_source,
        hostname=host,
        allocation=alloc,
        accelerators=accelerators,
        cpus=cpus if cpus is not None else local_cpu_count(),
    )


def _hosts_include(hosts: tuple[str, ...], host: str) -> bool:
    mine = short_name(host)
    return any(short_name(h) == mine for h in hosts)


def _with_warning(alloc: Allocation, warning: str) -> Allocation:
    return replace(alloc, warnings=(*alloc.warnings, warning))
