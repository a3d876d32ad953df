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
from ezpz_core.rankenv import slurm_tasks_per_node
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
            per_host, where, notes = requested_tasks(env, len(hosts))
            return Allocation(
                job_id=jid,
                hosts=hosts,
                slots=tuple(1 for _ in hosts),
                nodelist=expression,
                source=name,
                warnings=notes,
                tasks_per_host=per_host,
                tasks_from=where,
            )
    nnodes = env.get("SLURM_NNODES", "").strip()
    if nnodes.isdigit() and int(nnodes) > 0:
        per_host, where, notes = requested_tasks(env, int(nnodes))
        return Allocation(
            job_id=jid,
            host_count=int(nnodes),
            source="SLURM_NNODES",
            warnings=notes,
            tasks_per_host=per_host,
            tasks_from=where,
        )
    return Allocation(
        job_id=jid,
        error=f"Slurm job {jid} has no node list (SLURM_JOB_NODELIST unset); pass --hostfile",
    )


def requested_tasks(env: Mapping[str, str], nhosts: int) -> tuple[int | None, str, tuple[str, ...]]:
    """Tasks per host the allocation was asked for (``salloc -N1 -n2``): from
    ``SLURM_NTASKS_PER_NODE``, else the even spread of ``SLURM_TASKS_PER_NODE``,
    else ``SLURM_NTASKS`` over the hosts. None when no task count was asked for
    (Slurm still says 1 per node then, which must not beat the accelerators) or
    the tasks are spread unevenly (a note says so)."""
    ntasks = next(
        (env[k].strip() for k in ("SLURM_NTASKS", "SLURM_NPROCS") if env.get(k, "").strip()), ""
    )
    per_node = env.get("SLURM_NTASKS_PER_NODE", "").strip()
    if per_node.isdigit() and int(per_node) > 0:
        return int(per_node), f"SLURM_NTASKS_PER_NODE={per_node}", ()
    if not ntasks.isdigit() or int(ntasks) < 1:
        return None, "", ()
    spread = env.get("SLURM_TASKS_PER_NODE", "").strip()
    counts = slurm_tasks_per_node(spread) if spread else None
    if counts is not None and len(set(counts)) == 1:
        return counts[0], f"SLURM_NTASKS={ntasks}, SLURM_TASKS_PER_NODE={spread}", ()
    if counts is None and nhosts > 0 and int(ntasks) % nhosts == 0:
        return int(ntasks) // nhosts, f"SLURM_NTASKS={ntasks} over {nhosts} node(s)", ()
    return (
        None,
        "",
        (
            f"the allocation's {ntasks} tasks are not spread evenly over its {nhosts} node(s) "
            f"(SLURM_TASKS_PER_NODE={spread or '?'}); pass -n and --ppn",
        ),
    )
