"""Launch styles: one argv builder each, and the rank I/O that is safe for it.

A new launcher flavour is one builder module plus one row in each table here.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from ezpz_core.kinds import RankIO
from ezpz_core.launch import direct, hydra, mpirun, openmpi, pals, sophia, srun, torchrun
from ezpz_core.launch.context import BuildContext, Built


class Style(StrEnum):
    PALS = "pals"  # PBS mpiexec on ALCF and other HPE/Cray systems
    SOPHIA = "sophia"  # Open MPI mpirun inside a PBS job, ezpz's Sophia shape
    OPENMPI = "openmpi"
    HYDRA = "hydra"
    MPIRUN = "mpirun"  # an mpirun of unknown dialect
    SRUN = "srun"
    TORCHRUN = "torchrun"
    DIRECT = "none"


BUILDERS: dict[Style, Callable[[BuildContext], Built]] = {
    Style.PALS: pals.build,
    Style.SOPHIA: sophia.build,
    Style.OPENMPI: openmpi.build,
    Style.HYDRA: hydra.build,
    Style.MPIRUN: mpirun.build,
    Style.SRUN: srun.build,
    Style.TORCHRUN: torchrun.build,
    Style.DIRECT: direct.build,
}

# What --rank-io auto means per style: the launcher's own labels only where real
# captures showed they keep lines whole (docs/launch.md, "rank I/O").
AUTO_RANK_IO: dict[Style, RankIO] = {
    Style.PALS: RankIO.LABEL,
    Style.SOPHIA: RankIO.LABEL,
    Style.OPENMPI: RankIO.LABEL,
    Style.SRUN: RankIO.LABEL,
    Style.HYDRA: RankIO.WRAPPER,
    Style.MPIRUN: RankIO.WRAPPER,
    Style.TORCHRUN: RankIO.WRAPPER,
    Style.DIRECT: RankIO.LABEL,  # nothing is added; labels in the output are parsed
}
