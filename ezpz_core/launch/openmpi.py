"""Open MPI ``mpirun`` outside a scheduler job (a laptop, a VM, a hostfile of hosts).

``mpirun -np N [--hostfile H --map-by ppr:P:node] [--bind-to B] [--oversubscribe]
[--tag-output]``. ``--oversubscribe`` is added when one host gets more ranks than it
has cores, which Open MPI otherwise refuses.
"""

from __future__ import annotations

from ezpz_core.kinds import RankIO
from ezpz_core.launch.context import BuildContext, Built


def build(ctx: BuildContext) -> Built:
    topo = ctx.topology
    argv = [ctx.program, "-np", str(topo.world_size)]
    if ctx.hostfile:
        argv += ["--hostfile", ctx.hostfile]
    if ctx.hostfile or topo.nhosts > 1:
        argv += ["--map-by", f"ppr:{topo.ppn}:node"]
    if ctx.binding.value is not None:
        argv += ["--bind-to", ctx.binding.value]
    if (
        not ctx.hostfile
        and topo.world_size > ctx.cpus
        and "--oversubscribe" not in ctx.launcher_args
    ):
        argv.append("--oversubscribe")
    if ctx.rank_io is RankIO.LABEL:
        argv.append("--tag-output")
    warnings = []
    if ctx.as_root and "--allow-run-as-root" not in ctx.launcher_args:
        argv.append("--allow-run-as-root")
        warnings.append("running as root: added --allow-run-as-root, which Open MPI requires")
    return Built((*argv, *ctx.launcher_args, *ctx.command), tuple(warnings))
