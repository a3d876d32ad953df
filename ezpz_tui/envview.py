"""The launcher-related part of the environment, with secrets masked.

The job view lists what decides a launch (scheduler, MPI, rendezvous and rank
variables). Any variable whose name looks like a credential is shown masked:
these screens end up in screenshots and screen shares.
"""

from __future__ import annotations

from collections.abc import Mapping

PREFIXES = (
    "PBS_",
    "SLURM_",
    "OMPI_",
    "PMI_",
    "PMIX_",
    "PALS_",
    "MPICH_",
    "I_MPI_",
    "HYDRA_",
    "MASTER_",
    "TORCHELASTIC_",
    "NCCL_",
    "CCL_",
    "FI_",
    "ZE_",
    "EZPZ_",
)
NAMES = frozenset(
    {
        "WORLD_SIZE",
        "RANK",
        "LOCAL_RANK",
        "LOCAL_WORLD_SIZE",
        "NGPU_PER_HOST",
        "CPU_BIND",
        "CUDA_VISIBLE_DEVICES",
        "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
    }
)
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
MASK = "******"


def is_launcher_var(name: str) -> bool:
    return name in NAMES or name.startswith(PREFIXES)


def is_secret(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def launcher_env(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """(name, value as shown) for each launcher variable, sorted by name."""
    return [
        (name, MASK if is_secret(name) else value)
        for name, value in sorted(env.items())
        if is_launcher_var(name)
    ]
