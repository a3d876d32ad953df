"""Scheduler modules and the rule that picks one.

A new scheduler is one module with ``kind``, ``job_id(env)`` and
``allocation(env, ctx)`` (see ``base.Scheduler``) plus one line in ``REGISTRY``.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from ezpz_core.errors import UsageError
from ezpz_core.kinds import SchedulerKind
from ezpz_core.machines import Machine
from ezpz_core.schedulers import local, pbs, slurm
from ezpz_core.schedulers.base import Allocation, Context, Scheduler

REGISTRY: dict[SchedulerKind, Scheduler] = {
    SchedulerKind.PBS: cast(Scheduler, pbs),
    SchedulerKind.SLURM: cast(Scheduler, slurm),
    SchedulerKind.LOCAL: cast(Scheduler, local),
}

# Client programs whose presence says which batch system a login node has.
_CLIENTS = ((SchedulerKind.PBS, "qsub"), (SchedulerKind.SLURM, "sbatch"))


@dataclass(frozen=True)
class SchedulerChoice:
    kind: SchedulerKind
    source: str


def parse_scheduler(value: str, source: str) -> SchedulerKind | None:
    """``"PBS"`` -> PBS; ``"auto"``/empty -> None; anything else is a usage error."""
    text = value.strip().lower()
    if text in ("", "auto"):
        return None
    try:
        return SchedulerKind(text)
    except ValueError:
        choices = ", ".join(k.value for k in SchedulerKind)
        raise UsageError(f"{source}={value!r} is not a scheduler; choose auto, {choices}") from None


def detect_scheduler(
    env: Mapping[str, str], machine: Machine, forced: SchedulerKind | None = None
) -> SchedulerChoice:
    """Which scheduler this system has; the first rule that answers wins.

    ``--scheduler``, ``EZPZ_SCHEDULER``, ``PBS_JOBID``, ``SLURM_JOB_ID``/``SLURM_JOBID``,
    the machine table, ``qsub``/``sbatch`` on PATH, then local.
    """
    if forced is not None:
        return SchedulerChoice(forced, "--scheduler")
    from_env = parse_scheduler(env.get("EZPZ_SCHEDULER", ""), "EZPZ_SCHEDULER")
    if from_env is not None:
        return SchedulerChoice(from_env, "EZPZ_SCHEDULER")
    if pbs.job_id(env):
        return SchedulerChoice(SchedulerKind.PBS, "PBS_JOBID")
    if slurm.job_id(env):
        name = "SLURM_JOB_ID" if env.get("SLURM_JOB_ID", "").strip() else "SLURM_JOBID"
        return SchedulerChoice(SchedulerKind.SLURM, name)
    if machine.scheduler is not None:
        return SchedulerChoice(machine.scheduler, f"machine table ({machine.name})")
    for kind, client in _CLIENTS:
        if shutil.which(client, path=env.get("PATH", "")):
            return SchedulerChoice(kind, f"{client} on PATH")
    return SchedulerChoice(SchedulerKind.LOCAL, "no scheduler found")


def allocation_for(kind: SchedulerKind, env: Mapping[str, str], ctx: Context) -> Allocation:
    """The allocation of the job this shell is in, or an empty one when not in a job."""
    module = REGISTRY[kind]
    if module.job_id(env) is None:
        return Allocation(job_id=None)
    return module.allocation(env, ctx)


__all__ = [
    "REGISTRY",
    "Allocation",
    "Context",
    "SchedulerChoice",
    "allocation_for",
    "detect_scheduler",
    "parse_scheduler",
]
