"""Where the ranks of a job meet: ``MASTER_ADDR`` and ``MASTER_PORT``.

The environment's values when set; one rank needs none; otherwise rank 0's host
(with the machine table's high-speed-network domain) and a free port, broadcast
with mpi4py; without mpi4py, or with an mpi4py of another MPI than the launcher
(it sees a world of 1: an Open MPI wheel under ``srun`` without PMIx) inside a
job, the job's first host and a port derived from the job id. Pure but for
``free_port`` and the mpi4py broadcast, which are passed in.
"""

from __future__ import annotations

import socket
import zlib
from collections.abc import Callable, Mapping

from ezpz_core.errors import DistSetupError, UsageError
from ezpz_core.hostfile import expand_nodelist
from ezpz_core.machines import match_machine
from ezpz_core.rankenv import Ranks
from ezpz_core.schedulers import pbs, slurm
from ezpz_core.schedulers.base import Allocation, Context

PORT_BASE, PORT_SPAN = 20000, 10000  # job-id ports: below Linux's ephemeral range


def rendezvous_host(hostname: str, env: Mapping[str, str]) -> str:
    """``hostname`` as other nodes must dial it: the machine table's high-speed
    network domain (Aurora, Polaris, Sirius, Sophia) on the short name."""
    machine = match_machine(hostname, env)
    if machine.rendezvous_domain:
        return hostname.split(".")[0] + machine.rendezvous_domain
    return hostname


def job_port(job_id: str) -> int:
    """A port every rank computes alike from the job id, when none can broadcast one."""
    return PORT_BASE + zlib.crc32(job_id.encode()) % PORT_SPAN


def job_id(env: Mapping[str, str]) -> str:
    for name in ("PBS_JOBID", "SLURM_JOB_ID", "EZPZ_RUN_ID", "TORCHELASTIC_RUN_ID"):
        if env.get(name):
            return env[name]
    return ""


def job_allocation(env: Mapping[str, str]) -> Allocation | None:
    """The hosts of the PBS or Slurm job this rank runs in (the schedulers' own
    reading), or None outside a job."""
    for module in (pbs, slurm):
        if module.job_id(env):
            return module.allocation(env, Context())
    return None


def job_nodes(env: Mapping[str, str]) -> int | None:
    """How many nodes the job has, when its scheduler says."""
    allocation = job_allocation(env)
    return allocation.nhosts if allocation is not None else None


def first_job_host(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(the job's first host, why there is none): rank 0's host under block placement.
    A Slurm step's own node list comes first (a step may use part of the job)."""
    step = env.get("SLURM_STEP_NODELIST", "").strip()
    if step:
        try:
            return expand_nodelist(step, "SLURM_STEP_NODELIST")[0], None
        except UsageError as exc:
            return None, str(exc)
    allocation = job_allocation(env)
    if allocation is None:
        return None, None
    if allocation.hosts:
        return allocation.hosts[0], None
    return None, allocation.error


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


Broadcast = Callable[[tuple[str, int] | None], tuple[int, tuple[str, int] | None]]


def resolve_rendezvous(
    env: Mapping[str, str],
    ranks: Ranks,
    hostname: str,
    broadcast: Broadcast | None,
    pick_port: Callable[[], int] = free_port,
) -> tuple[str, int, str]:
    """(address, port, how) for ``init_process_group``.

    ``broadcast(value)`` sends rank 0's value to every rank and returns
    (the communicator's size, the value received); None when mpi4py is absent.
    """
    addr, port = env.get("MASTER_ADDR", "").strip(), env.get("MASTER_PORT", "").strip()
    if addr and port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise DistSetupError(
                f"MASTER_PORT={port!r} is not a port number (1-65535); unset it or fix it"
            )
        return addr, int(port), "env"
    if ranks.world_size == 1:
        return "127.0.0.1", pick_port(), "local"
    if broadcast is not None:
        mine = (rendezvous_host(hostname, env), pick_port()) if ranks.rank == 0 else None
        size, value = broadcast(mine)
        if size != ranks.world_size:
            # mpi4py of another MPI (an Open MPI wheel under srun without PMIx): every
            # rank sees the same wrong size, so every rank can take the job's first
            # host and job-id port alike instead; without a job, say what is wrong
            derived = _from_job(env, ranks) if job_id(env) else None
            if derived is None:
                raise DistSetupError(mismatch_message(ranks, size))
            return derived
        if value is None or not value[0] or value[0] == "None":
            raise DistSetupError(
                f"rank {ranks.rank}: the launcher started {ranks.world_size} ranks and "
                f"mpi4py sees a world of {size}, but rank 0's rendezvous address did not "
                f"arrive (got {value!r}): mpi4py may not match the launcher's MPI. "
                f"Fix: {MISMATCH_REMEDY}"
            )
        return value[0], value[1], "mpi4py"
    return _without_mpi(env, ranks)


def _from_job(env: Mapping[str, str], ranks: Ranks) -> tuple[str, int, str] | None:
    """The job's first host and job-id port, or None when the job names no host."""
    host, _problem = first_job_host(env)
    if host is None:
        return None
    return rendezvous_host(host, env), job_port(job_id(env)), "job-id"


def _without_mpi(env: Mapping[str, str], ranks: Ranks) -> tuple[str, int, str]:
    host, problem = first_job_host(env)
    if host is None and ranks.local_world_size >= ranks.world_size:
        host = "127.0.0.1"  # every rank is on this node
    if host is None:
        why = f" ({problem})" if problem else ""
        raise DistSetupError(
            f"rank {ranks.rank}: cannot tell which host rank 0 is on: MASTER_ADDR is "
            f"not set, mpi4py is not installed, and the job has no host list{why}. Set "
            "MASTER_ADDR and MASTER_PORT, or install mpi4py (pip install mpi4py)."
        )
    ident = job_id(env)
    if not ident:
        raise DistSetupError(
            f"rank {ranks.rank}: MASTER_PORT is not set and there is no job id to "
            "derive one from (and no mpi4py to share one). Set MASTER_PORT."
        )
    return rendezvous_host(host, env), job_port(ident), "job-id"


def mismatch_message(ranks: Ranks, mpi_size: int) -> str:
    return (
        f"rank {ranks.rank}: the launcher started {ranks.world_size} ranks, but mpi4py "
        f"sees a world of {mpi_size}: mpi4py is built against a different MPI than the "
        "launcher (for example an Open MPI mpi4py under MPICH/PALS mpiexec), so rank 0 "
        f"cannot share the rendezvous address. Fix: {MISMATCH_REMEDY}"
    )


MISMATCH_REMEDY = (
    "use the mpiexec that matches mpi4py's MPI (python -c 'from mpi4py import MPI; "
    "print(MPI.Get_library_version())'), or set MASTER_ADDR and MASTER_PORT."
)


def mpi_broadcast(value: tuple[str, int] | None) -> tuple[int, tuple[str, int] | None]:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    return comm.Get_size(), comm.bcast(value, root=0)


def mpi4py_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None
