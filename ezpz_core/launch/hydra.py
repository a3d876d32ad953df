"""MPICH / Intel MPI Hydra ``mpirun``: ``mpirun -envall -n N [-f H -ppn P] [-bind-to B]``.

Hydra's own labels (``-prepend-rank``) split lines that a rank writes in pieces,
so ``auto`` picks our rank wrapper here instead.
"""

from __future__ import annotations

from ezpz_core.kinds import RankIO
from ezpz_core.launch.context import BuildContext, Built


def build(ctx: BuildContext) -> Built:
    topo = ctx.topology
    argv = [ctx.program, "-envall", "-n", str(topo.world_size)]
    if ctx.hostfile:
        argv += ["-f", ctx.hostfile]
    if ctx.hostfile or topo.nhosts > 1:
        argv += ["-ppn", str(topo.ppn)]
    if ctx.binding.value is not None:
        argv += ["-bind-to", ctx.binding.value]
    warnings = []
    if ctx.rank_io is RankIO.LABEL:
        argv.append("-prepend-rank")
        warnings.append(
            "Hydra's -prepend-rank labels split lines written in pieces and mix ranks on "
            "one line; --rank-io wrapper keeps every line whole"
        )
    return Built((*argv, *ctx.launcher_args, *ctx.command), tuple(warnings))
