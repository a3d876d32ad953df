"""Which launcher runs the job: the scheduler's, the machine's, or what is installed."""

from __future__ import annotations

from dataclasses import dataclass

from ezpz_core.job import Job
from ezpz_core.kinds import Flavour, LauncherChoice, SchedulerKind
from ezpz_core.launch.flavour import LauncherProbe
from ezpz_core.launch.styles import Style


@dataclass(frozen=True)
class LauncherPick:
    name: str  # mpiexec, mpirun, srun, torchrun or none
    program: str  # argv[0]
    found: bool
    style: Style
    flavour: Flavour
    source: str  # why this one, in words


_STYLE_OF_FLAVOUR = {
    Flavour.OPENMPI: Style.OPENMPI,
    Flavour.HYDRA: Style.HYDRA,
    Flavour.PALS: Style.PALS,
}


def _mpi(name: str, probe: LauncherProbe, in_pbs: bool, source: str) -> LauncherPick:
    found = probe.find(name)
    flavour = probe.flavour(found) if found else Flavour.UNKNOWN
    default = Style.PALS if in_pbs else Style.MPIRUN
    style = _STYLE_OF_FLAVOUR.get(flavour, default)
    return LauncherPick(name, found or name, found is not None, style, flavour, source)


def _fixed(
    name: str, probe: LauncherProbe, style: Style, flavour: Flavour, source: str
) -> LauncherPick:
    found = probe.find(name)
    return LauncherPick(name, found or name, found is not None, style, flavour, source)


def choose_launcher(job: Job, choice: LauncherChoice, probe: LauncherProbe) -> LauncherPick:
    """The launcher for ``choice`` (``auto``: what the job and this host call for)."""
    in_pbs = job.in_job and job.scheduler is SchedulerKind.PBS
    in_slurm = job.in_job and job.scheduler is SchedulerKind.SLURM
    machine = job.machine
    if choice is LauncherChoice.NONE:
        return LauncherPick("none", "", True, Style.DIRECT, Flavour.NONE, "--launcher none")
    if choice is LauncherChoice.SRUN or (choice is LauncherChoice.AUTO and in_slurm):
        source = "--launcher" if choice is LauncherChoice.SRUN else "Slurm job"
        return _fixed("srun", probe, Style.SRUN, Flavour.SRUN, source)
    if choice is LauncherChoice.TORCHRUN:
        return _fixed("torchrun", probe, Style.TORCHRUN, Flavour.TORCHRUN, "--launcher")
    explicit = choice in (LauncherChoice.MPIEXEC, LauncherChoice.MPIRUN)
    if (
        in_pbs
        and machine.job_flavour is Flavour.OPENMPI
        and choice in (LauncherChoice.AUTO, LauncherChoice.MPIRUN)
    ):
        return _fixed(
            "mpirun", probe, Style.SOPHIA, Flavour.OPENMPI, f"machine table ({machine.name})"
        )
    if (
        in_pbs
        and machine.job_flavour is Flavour.PALS
        and choice in (LauncherChoice.AUTO, LauncherChoice.MPIEXEC)
    ):
        return _fixed("mpiexec", probe, Style.PALS, Flavour.PALS, f"machine table ({machine.name})")
    if explicit:
        return _mpi(choice.value, probe, in_pbs, "--launcher")
    if in_pbs:
        return _mpi("mpiexec", probe, True, "PBS job")
    for name in ("mpirun", "mpiexec"):
        if probe.find(name):
            return _mpi(name, probe, False, f"{name} found here")
    if probe.find("torchrun"):
        return _fixed("torchrun", probe, Style.TORCHRUN, Flavour.TORCHRUN, "no MPI launcher here")
    return LauncherPick("mpirun", "mpirun", False, Style.MPIRUN, Flavour.UNKNOWN, "nothing found")
