"""Slurm ``srun``: ``srun -u --verbose -N H -n N [--gpus-per-node=P] [--cpu-bind=B]``.

``-u`` (unbuffered) makes srun label every read rather than every line, so it is
kept only for ``--rank-io none`` (the exact reference shape); ``label`` uses
``--label`` without ``-u``. A ``--hostfile`` becomes ``--nodelist`` so the hosts
it names are the ones used (ezpz only counted its lines).
"""

from __future__ import annotations

from ezpz_core.hostfile import compress_hosts
from ezpz_core.kinds import RankIO
from ezpz_core.launch.context import BuildContext, Built


def build(ctx: BuildContext) -> Built:
    topo = ctx.topology
    argv = [ctx.program]
    if ctx.rank_io is RankIO.NONE:
        argv.append("-u")
    elif ctx.rank_io is RankIO.LABEL:
        argv.append("--label")
    argv += ["--verbose", f"-N{topo.nhosts}", f"-n{topo.world_size}"]
    if ctx.accelerators > 0:
        argv.append(f"--gpus-per-node={topo.ppn}")
    if ctx.hosts_from_user and ctx.hosts:
        argv.append(f"--nodelist={compress_hosts(ctx.hosts[: topo.nhosts])}")
    if ctx.binding.value is not None:
        argv.append(f"--cpu-bind={ctx.binding.value}")
    return Built((*argv, *ctx.launcher_args, *ctx.command))
