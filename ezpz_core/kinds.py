"""Closed sets of names that cross module borders (schedulers, launchers, rank I/O)."""

from __future__ import annotations

from enum import StrEnum


class SchedulerKind(StrEnum):
    """Which batch system the machine has; ``LOCAL`` means none (a laptop, a VM)."""

    PBS = "pbs"
    SLURM = "slurm"
    LOCAL = "local"


class LauncherChoice(StrEnum):
    """What ``--launcher`` accepts: a launcher program, ``auto`` or ``none``."""

    AUTO = "auto"
    MPIEXEC = "mpiexec"
    MPIRUN = "mpirun"
    SRUN = "srun"
    TORCHRUN = "torchrun"
    NONE = "none"


class Flavour(StrEnum):
    """The argv dialect a launcher speaks, read from ``--version`` or the machine table."""

    PALS = "pals"  # HPE/Cray PALS mpiexec (Aurora, Polaris, ...)
    OPENMPI = "openmpi"
    HYDRA = "hydra"  # MPICH and Intel MPI
    SRUN = "srun"
    TORCHRUN = "torchrun"
    UNKNOWN = "unknown"
    NONE = "none"  # --launcher none: the command is the whole argv


class RankIO(StrEnum):
    """How each output line is tied to its rank (see docs/launch.md)."""

    AUTO = "auto"
    LABEL = "label"  # the launcher labels whole lines (line-safe launchers only)
    WRAPPER = "wrapper"  # our per-rank wrapper labels lines itself
    NONE = "none"  # nothing: the exact reference argv shapes
