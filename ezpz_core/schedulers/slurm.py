"""Slurm (Perlmutter, Frontier, ...): the job and its nodes from the environment.

Node lists are expanded with python-hostlist, so every form works:
``nid[001-003,007]``, comma lists, several bracket groups, suffixes. Nothing is
written to disk: ``srun`` and MPI launchers read the allocation from Slurm.
"""

from __future__ import annotations

from collections.abc import Mapping

from ezpz_core.errors import UsageError
from ezpz_core.hostfile import expand_nodelist
from ezpz_core.kinds import SchedulerKind
from ezpz_core.schedulers.base import Allocation, Context

kind = SchedulerKind.SLURM

_JOB_VARS = ("SLURM_JOB_ID", "SLURM_JOBID")
_NODELIST_VARS = ("SLURM_JOB_NODELIST", "SLURM_NODELIST")


def job_id(env: Mapping[str, str]) -> str | None:
    for name in _JOB_VARS:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def allocation(env: Mapping[str, str], ctx: Context) -> Allocation:
    del ctx  # Slurm needs no files
    jid = job_id(env)
    for name in _NODELIST_VARS:
        expression = env.get(name, "").strip()
        if expression:
            try:
                hosts = expand_nodelist(expression, name)
            except UsageError as exc:
                return Allocation(job_id=jid, nodelist=expression, source=name, error=str(exc))
            return Allocation(
                job_id=jid,
                hosts=hosts,
                slots=tuple(1 for _ in hosts),
                nodelist=expression,
                source=name,
            )
    nnodes = env.get("SLURM_NNODES", "").strip()
    if nnodes.isdigit() and int(nnodes) > 0:
        return Allocation(job_id=jid, host_count=int(nnodes), source="SLURM_NNODES")
    return Allocation(
        job_id=jid,
        error=f"Slurm job {jid} has no node list (SLURM_JOB_NODELIST unset); pass --hostfile",
    )
