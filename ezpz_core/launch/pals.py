"""HPE/Cray PALS ``mpiexec`` (PBS on Aurora, SunSpot, Polaris, Sirius, ThetaGPU...).

``mpiexec --envall --line-buffer --np=N --ppn=P --hostfile=H <bind> [--label]``
"""

from __future__ import annotations

from ezpz_core.kinds import RankIO
from ezpz_core.launch.context import BuildContext, Built

LINE_SAFE_LABEL = True


def build(ctx: BuildContext) -> Built:
    topo = ctx.topology
    argv = [
        ctx.program,
        "--envall",
        "--line-buffer",
        f"--np={topo.world_size}",
        f"--ppn={topo.ppn}",
    ]
    if ctx.hostfile:
        argv.append(f"--hostfile={ctx.hostfile}")
    warnings: list[str] = []
    if ctx.binding.value is not None:
        argv.append(f"--cpu-bind={ctx.binding.value}")
        if ctx.binding.value == "depth" and not any(
            a.startswith(("--depth", "-d")) for a in ctx.launcher_args
        ):
            warnings.append(
                "--cpu-bind depth without --depth: PALS then uses a depth of 1; "
                "add --launcher-arg=--depth=N to give each rank N cores"
            )
    else:
        argv.extend(ctx.machine_bind)
        entries = _list_entries(ctx.machine_bind)
        if entries and topo.ppn > entries:
            warnings.append(
                f"the default CPU binding lists {entries} core sets but --ppn is {topo.ppn}; "
                "pass --cpu-bind with one set per rank"
            )
    if ctx.rank_io is RankIO.LABEL:
        argv.append("--label")
    return Built((*argv, *ctx.launcher_args, *ctx.command), tuple(warnings))


def _list_entries(tokens: tuple[str, ...]) -> int:
    for token in tokens:
        if token.startswith("--cpu-bind=list:"):
            return len(token.removeprefix("--cpu-bind=list:").split(":"))
    return 0
