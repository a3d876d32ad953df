"""Open MPI ``mpirun`` as ezpz drives it inside a PBS job on Sophia.

``mpirun -n=N -N=P --hostfile=H -x PATH -x LD_LIBRARY_PATH [--tag-output]``
(the ``-n=``/``-N=`` spelling is ezpz's; Sophia takes no CPU binding).
"""

from __future__ import annotations

from ezpz_core.kinds import RankIO
from ezpz_core.launch.context import BuildContext, Built


def build(ctx: BuildContext) -> Built:
    topo = ctx.topology
    argv = [ctx.program, f"-n={topo.world_size}", f"-N={topo.ppn}"]
    if ctx.hostfile:
        argv.append(f"--hostfile={ctx.hostfile}")
    argv += ["-x", "PATH", "-x", "LD_LIBRARY_PATH"]
    warnings = []
    if ctx.binding.value is not None:
        warnings.append(
            f"CPU binding ({ctx.binding.source} {ctx.binding.value}) is ignored on Sophia; "
            "pass Open MPI's --bind-to with --launcher-arg if you need it"
        )
    if ctx.rank_io is RankIO.LABEL:
        argv.append("--tag-output")
    return Built((*argv, *ctx.launcher_args, *ctx.command), tuple(warnings))
