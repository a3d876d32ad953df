"""Which rank am I? Read from whichever launcher started this process.

Stdlib only (mpi4py is imported only by ``mpi_facts``, when no launcher variable
gives the rank): the per-rank wrapper imports this on every rank at start-up.
Launcher-specific variables come before generic ones, so a stale ``RANK`` left in
a shell, or the batch step's ``SLURM_PROCID`` seen by ranks that ``mpirun`` starts
inside a Slurm job, never wins over what the real launcher set. The exception is a
torchrun worker (it carries ``TORCHELASTIC_RUN_ID``): torchrun's own variables win
there, because ``mpiexec``/``srun`` starting one torchrun per node leave their
per-node rank in the MPI and Slurm variables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ezpz_core.errors import DistSetupError

TORCHRUN_MARKERS = ("TORCHELASTIC_RUN_ID", "TORCHELASTIC_RESTART_COUNT")

# (variable, launcher) in order of trust, per quantity.
RANK_VARS = (
    ("OMPI_COMM_WORLD_RANK", "openmpi"),
    ("PMIX_RANK", "pmix"),
    ("PALS_RANKID", "pals"),
    ("PMI_RANK", "mpich"),
    ("RANK", "torchrun"),
    ("SLURM_PROCID", "slurm"),
)
LOCAL_RANK_VARS = (
    ("OMPI_COMM_WORLD_LOCAL_RANK", "openmpi"),
    ("PMIX_LOCAL_RANK", "pmix"),
    ("PALS_LOCAL_RANKID", "pals"),
    ("PMI_LOCAL_RANK", "mpich"),
    ("MPI_LOCALRANKID", "mpich"),
    ("LOCAL_RANK", "torchrun"),
    ("SLURM_LOCALID", "slurm"),
)
WORLD_SIZE_VARS = (
    ("OMPI_COMM_WORLD_SIZE", "openmpi"),
    ("PMI_SIZE", "mpich"),
    ("PALS_SIZE", "pals"),
    ("WORLD_SIZE", "torchrun"),
    ("SLURM_NTASKS", "slurm"),
)
LOCAL_SIZE_VARS = (
    ("OMPI_COMM_WORLD_LOCAL_SIZE", "openmpi"),
    ("PMI_LOCAL_SIZE", "mpich"),
    ("MPI_LOCALNRANKS", "mpich"),
    ("LOCAL_WORLD_SIZE", "torchrun"),
)


@dataclass(frozen=True)
class RankEnv:
    rank: int
    local_rank: int | None
    world_size: int | None
    local_world_size: int | None
    source: str  # the launcher whose variable gave the rank, or "none"


def _first(env: Mapping[str, str], table: tuple[tuple[str, str], ...]) -> tuple[int, str] | None:
    for name, launcher in table:
        value = env.get(name, "").strip()
        if value.isdigit():
            return int(value), launcher
    return None


def _torchrun_first(table: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(table, key=lambda row: row[1] != "torchrun"))


def slurm_tasks_per_node(spec: str) -> list[int] | None:
    """``SLURM_TASKS_PER_NODE`` / ``SLURM_STEP_TASKS_PER_NODE`` (``"2(x3),1"``: 2 on
    each of the first three nodes, then 1) as a count per node; None if unreadable."""
    counts: list[int] = []
    for part in spec.split(","):
        match = re.fullmatch(r"\s*(\d+)(?:\(x(\d+)\))?\s*", part)
        if match is None:
            return None
        counts += [int(match.group(1))] * int(match.group(2) or 1)
    return counts or None


def slurm_tasks_on_node(tasks_per_node: str, node_id: int) -> int | None:
    """Tasks Slurm placed on node ``node_id``; None if unreadable or past the end."""
    counts = slurm_tasks_per_node(tasks_per_node)
    return counts[node_id] if counts is not None and 0 <= node_id < len(counts) else None


def _slurm_local_size(env: Mapping[str, str]) -> tuple[int, str] | None:
    node = env.get("SLURM_NODEID", "").strip()
    spec = env.get("SLURM_STEP_TASKS_PER_NODE") or env.get("SLURM_TASKS_PER_NODE") or ""
    if not node.isdigit() or not spec:
        return None
    count = slurm_tasks_on_node(spec, int(node))
    return None if count is None else (count, "slurm")


def rank_from_env(env: Mapping[str, str]) -> RankEnv:
    """Rank facts from launcher variables; rank 0 of 1 when none is set.

    ``local_world_size`` is the number of ranks actually on this node (never the
    accelerators per node, an ezpz defect), or None when no variable says so.
    """
    torchrun = any(env.get(name) for name in TORCHRUN_MARKERS)
    tables = (RANK_VARS, LOCAL_RANK_VARS, WORLD_SIZE_VARS, LOCAL_SIZE_VARS)
    if torchrun:
        tables = tuple(_torchrun_first(table) for table in tables)
    rank, local, world, local_size = (_first(env, table) for table in tables)
    if local_size is None and (rank is None or rank[1] == "slurm"):
        local_size = _slurm_local_size(env)
    return RankEnv(
        rank=rank[0] if rank else 0,
        local_rank=local[0] if local else None,
        world_size=world[0] if world else None,
        local_world_size=local_size[0] if local_size else None,
        source=rank[1] if rank else "none",
    )


@dataclass(frozen=True)
class Ranks:
    """Rank facts, complete: what ``torch.distributed`` needs of them."""

    rank: int
    local_rank: int
    world_size: int
    local_world_size: int
    source: str  # launcher whose variables told us, "mpi4py" or "none"


def resolve_ranks(
    found: RankEnv, mpi: tuple[int, int, int] | None = None, nodes: int | None = None
) -> Ranks:
    """Complete the launcher's facts: ``mpi`` is (rank, size, ranks on this node)
    from mpi4py, asked for only when no launcher variable gives the rank; ``nodes``
    is the job's node count, for launchers that do not say how many ranks share a
    node (then ranks are assumed spread evenly; one node when unknown)."""
    if found.source == "none" and mpi is not None:
        rank, size, local_size = mpi
        return Ranks(rank, rank % max(local_size, 1), size, local_size, "mpi4py")
    world = found.world_size or 1
    if found.rank >= world:
        raise DistSetupError(
            f"rank {found.rank} (from {found.source}) but the world size is "
            f"{found.world_size or 'not set'}: set WORLD_SIZE (or launch with a launcher "
            "that sets both), or unset a stale RANK in your shell"
        )
    local_size = found.local_world_size
    if local_size is None:
        local_size = -(-world // nodes) if nodes else world
    local_rank = found.local_rank
    if local_rank is None:
        local_rank = found.rank % max(local_size, 1)
    return Ranks(found.rank, local_rank, world, local_size, found.source)


def mpi_facts() -> tuple[int, int, int] | None:
    """(rank, size, ranks on this node) from mpi4py, or None when it is not installed."""
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    comm = MPI.COMM_WORLD
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return comm.Get_rank(), comm.Get_size(), node.Get_size()
    finally:
        node.Free()
