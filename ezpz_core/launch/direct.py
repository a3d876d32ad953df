"""``--launcher none``: the command is the whole argv, for users' own launch scripts."""

from __future__ import annotations

from ezpz_core.launch.context import BuildContext, Built


def build(ctx: BuildContext) -> Built:
    warnings = []
    if ctx.launcher_args:
        warnings.append("--launcher-arg is ignored with --launcher none (there is no launcher)")
    return Built(ctx.command, tuple(warnings))
