"""Which rank am I? Read from whichever launcher started this process.

Stdlib only: the per-rank wrapper imports it on every rank at start-up.
Launcher-specific variables come before generic ones, so a stale ``RANK`` left in
a shell, or the batch step's ``SLURM_PROCID`` seen by ranks that ``mpirun`` starts
inside a Slurm job, never wins over what the real launcher set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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


def rank_from_env(env: Mapping[str, str]) -> RankEnv:
    """Rank facts from launcher variables; rank 0 of 1 when none is set."""
    rank = _first(env, RANK_VARS)
    local = _first(env, LOCAL_RANK_VARS)
    world = _first(env, WORLD_SIZE_VARS)
    local_size = _first(env, LOCAL_SIZE_VARS)
    return RankEnv(
        rank=rank[0] if rank else 0,
        local_rank=local[0] if local else None,
        world_size=world[0] if world else None,
        local_world_size=local_size[0] if local_size else None,
        source=rank[1] if rank else "none",
    )
