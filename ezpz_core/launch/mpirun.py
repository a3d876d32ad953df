"""An ``mpirun`` whose dialect ``--version`` did not reveal: ezpz's local shape.

``mpirun -np N [--hostfile H --map-by ppr:P:node] [--cpu-bind=B]`` — flags both
Open MPI and Hydra accept for the common case; ranks are labelled by our wrapper.
"""

from __future__ import annotations

from ezpz_core.errors import UsageError
from ezpz_core.kinds import RankIO
from ezpz_core.launch.context import BuildContext, Built


def build(ctx: BuildContext) -> Built:
    topo = ctx.topology
    if ctx.rank_io is RankIO.LABEL:
        raise UsageError(
            f"cannot tell which MPI {ctx.program} belongs to, so it cannot be asked for rank "
            "labels; use --rank-io wrapper (the default) or --rank-io none"
        )
    argv = [ctx.program, "-np", str(topo.world_size)]
    if ctx.hostfile:
        argv += ["--hostfile", ctx.hostfile, "--map-by", f"ppr:{topo.ppn}:node"]
    warnings = []
    if ctx.binding.value is not None:
        argv.append(f"--cpu-bind={ctx.binding.value}")
        warnings.append(
            f"{ctx.program}'s MPI is unknown; --cpu-bind={ctx.binding.value} is passed as is"
        )
    return Built((*argv, *ctx.launcher_args, *ctx.command), tuple(warnings))
