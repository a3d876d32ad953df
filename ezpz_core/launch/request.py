"""What the user asked for, before it meets the job."""

from __future__ import annotations

from dataclasses import dataclass

from ezpz_core.kinds import LauncherChoice, RankIO


@dataclass(frozen=True)
class LaunchRequest:
    """Flags of ``ezpz-tui`` (or fields of the console's form) that shape a launch.

    ``None`` means "not given": the plan derives it from the job.
    """

    command: tuple[str, ...] = ()
    np: int | None = None
    ppn: int | None = None
    nhosts: int | None = None
    hostfile: str | None = None
    cpu_bind: str | None = None
    launcher: LauncherChoice = LauncherChoice.AUTO
    rank_io: RankIO = RankIO.AUTO
    launcher_args: tuple[str, ...] = ()
