"""Everything the console reads from the machine, gathered in one value.

The app never reaches for ``os.environ``, the hostname or ``PATH`` itself: it is
given a ``Surroundings``. The CLI builds the real one; tests build emulated ones
(an Aurora PBS job, a Slurm job, a laptop) with fixed hosts, probes and paths, so
snapshots do not depend on the machine that takes them.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ezpz_core.kinds import SchedulerKind
from ezpz_tui.config import ConsoleConfig, config_dir
from ezpz_tui.form import LaunchForm

if TYPE_CHECKING:  # discovery and planning load in the worker, after the first frame
    from ezpz_core.job import Job
    from ezpz_core.launch.flavour import LauncherProbe
    from ezpz_core.schedulers import Context
    from ezpz_core.tools import ToolRunner
    from ezpz_tui.preview import Planner


@dataclass(frozen=True)
class Surroundings:
    env: Mapping[str, str]
    config: ConsoleConfig
    cwd: str
    python: str = sys.executable
    form: LaunchForm = field(default_factory=LaunchForm)  # what the flags filled in
    scheduler: SchedulerKind | None = None  # --scheduler
    machine: str | None = None  # --machine
    hostname: str | None = None
    context: Context | None = None
    probe: LauncherProbe | None = None
    run_tool: ToolRunner | None = None
    cpus: int | None = None
    as_root: bool = False
    outdir: str = "outputs/ezpz-tui"  # --outdir: where runs are started and listed
    clock: Callable[[], float] = time.time  # run ages and silences (tests freeze it)

    def detect(self) -> Job:
        """Discovery (may run nvidia-smi and friends: call it from a worker)."""
        from ezpz_core.job import detect_job

        return detect_job(
            self.env,
            scheduler=self.scheduler,
            machine=self.machine,
            hostname=self.hostname,
            context=self.context,
            run_tool=self.run_tool,
            cpus=self.cpus,
        )

    def planner(self, job: Job) -> Planner:
        from ezpz_core.launch.flavour import SystemProbe
        from ezpz_tui.preview import Planner

        return Planner(
            job,
            env=self.env,
            probe=self.probe or SystemProbe(self.env, self.run_tool),
            python=self.python,
            as_root=self.as_root,
        )


def real_surroundings(
    form: LaunchForm,
    scheduler: SchedulerKind | None,
    machine: str | None,
    outdir: str = "outputs/ezpz-tui",
) -> Surroundings:
    env = os.environ
    return Surroundings(
        env=env,
        config=ConsoleConfig(config_dir(env)),
        cwd=os.getcwd(),
        form=form,
        scheduler=scheduler,
        machine=machine,
        as_root=os.geteuid() == 0,
        outdir=outdir,
    )
