"""PBS Pro (Aurora, Polaris, Sophia, ...): the job from ``PBS_JOBID`` and its nodefile.

``qstat`` is never needed: the job id and the nodefile come from the environment
PBS sets in every job, with ``/var/spool/pbs/aux/<PBS_JOBID>`` (that exact name)
as the fallback when ``PBS_NODEFILE`` is unset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ezpz_core.errors import HostfileError
from ezpz_core.hostfile import read_hostfile
from ezpz_core.kinds import SchedulerKind
from ezpz_core.schedulers.base import Allocation, Context

kind = SchedulerKind.PBS


def full_job_id(env: Mapping[str, str]) -> str | None:
    value = env.get("PBS_JOBID", "").strip()
    return value or None


def job_id(env: Mapping[str, str]) -> str | None:
    """``8414055.aurora-pbs-0001.hostmgmt...`` -> ``8414055``."""
    full = full_job_id(env)
    return full.split(".", 1)[0] if full else None


def allocation(env: Mapping[str, str], ctx: Context) -> Allocation:
    full = full_job_id(env)
    short = job_id(env)
    nodefile = env.get("PBS_NODEFILE", "").strip()
    if nodefile:
        source = "PBS_NODEFILE"
    elif full:
        nodefile = os.path.join(ctx.pbs_aux_dir, full)
        source = f"{ctx.pbs_aux_dir}/<PBS_JOBID>"
        if not os.path.exists(nodefile):
            return Allocation(
                job_id=short,
                source=source,
                error=(
                    f"PBS job {short} has no nodefile: PBS_NODEFILE is unset and {nodefile} "
                    "does not exist; pass --hostfile"
                ),
            )
    else:
        return Allocation(job_id=None, source="", error="not inside a PBS job (PBS_JOBID unset)")
    try:
        parsed = read_hostfile(nodefile)
    except HostfileError as exc:
        return Allocation(
            job_id=short, hostfile=nodefile, source=source, error=f"{exc}; pass --hostfile"
        )
    # ``select=N:mpiprocs=P`` writes each host P times: P > 1 is a task count the
    # user asked for (1, PBS's default, names none)
    mpiprocs = parsed.slots[0] if parsed.slots and _pbs_uniform(parsed.slots) else 1
    return Allocation(
        job_id=short,
        hosts=parsed.hosts,
        slots=parsed.slots,
        hostfile=nodefile,
        source=source,
        tasks_per_host=mpiprocs if mpiprocs > 1 else None,
        tasks_from=f"{mpiprocs} lines per host in the nodefile (mpiprocs)" if mpiprocs > 1 else "",
        warnings=tuple(
            w for w in (parsed.repeat_warning(),) if w and not _pbs_uniform(parsed.slots)
        ),
    )


def _pbs_uniform(slots: tuple[int, ...]) -> bool:
    # PBS repeats every host mpiprocs times; equal repeats are normal, not a mistake.
    return len(set(slots)) == 1
