"""``torchrun --standalone --nproc-per-node N`` on this host, when no MPI is here.

torchrun runs Python files by default; any other program (``python3 -m ...``, our
rank wrapper) needs ``--no-python``.
"""

from __future__ import annotations

from ezpz_core.errors import TopologyError
from ezpz_core.kinds import RankIO
from ezpz_core.launch.context import BuildContext, Built


def build(ctx: BuildContext) -> Built:
    topo = ctx.topology
    if topo.nhosts > 1:
        raise TopologyError(
            f"torchrun --standalone runs on one host, but this plan needs {topo.nhosts}; "
            "use --launcher mpirun, mpiexec or srun for several hosts"
        )
    argv = [ctx.program, "--standalone", "--nproc-per-node", str(topo.ppn)]
    warnings = []
    if ctx.rank_io is RankIO.LABEL:
        argv += ["--tee", "3"]
        warnings.append(
            "torchrun's --tee labels mix ranks on one line when a rank writes a line in "
            "pieces; --rank-io wrapper keeps every line whole"
        )
    if ctx.binding.value is not None:
        warnings.append(f"torchrun has no CPU binding; {ctx.binding.source} is ignored")
    argv += ctx.launcher_args
    if ctx.command and not ctx.command[0].endswith(".py"):
        argv.append("--no-python")
    return Built((*argv, *ctx.command), tuple(warnings))
