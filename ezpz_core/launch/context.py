"""What every argv builder receives, and what it gives back."""

from __future__ import annotations

from dataclasses import dataclass, field

from ezpz_core.kinds import RankIO
from ezpz_core.launch.binding import Binding
from ezpz_core.launch.topology import Topology


@dataclass(frozen=True)
class BuildContext:
    """Everything decided before the argv is spelled out."""

    program: str  # argv[0]: a bare name found on PATH, or an absolute path
    topology: Topology
    rank_io: RankIO  # already resolved: never AUTO
    command: tuple[str, ...]  # the user's command, already wrapped for rank_io=wrapper
    launcher_args: tuple[str, ...] = ()
    hostfile: str | None = None
    hosts: tuple[str, ...] = ()  # the hosts this plan uses (may be empty under Slurm)
    hosts_from_user: bool = False  # --hostfile was given
    binding: Binding = field(default_factory=lambda: Binding(None, ""))
    machine_bind: tuple[str, ...] = ()
    accelerators: int = 0
    cpus: int = 1
    as_root: bool = False  # Open MPI refuses root unless told


@dataclass(frozen=True)
class Built:
    argv: tuple[str, ...]
    warnings: tuple[str, ...] = ()
