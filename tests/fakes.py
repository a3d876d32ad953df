"""Stand-ins for what cannot exist on a CI machine, shaped like the real thing.

PBS and PALS ``mpiexec`` cannot run here, and there are no GPUs. Jobs are
emulated exactly as PBS/Slurm present them to a shell: environment variables plus
a nodefile on disk. Launcher dialects come from recorded ``--version`` texts
(captured from the real programs: Open MPI 5.0.11 and MPICH 5.0.2 wheels).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ezpz_core.job import Job, detect_job
from ezpz_core.kinds import Flavour
from ezpz_core.launch.flavour import parse_flavour
from ezpz_core.schedulers import Context

OPENMPI_VERSION = (
    "mpirun (Open MPI) 5.0.11\n\nReport bugs to https://www.open-mpi.org/community/help/\n"
)
HYDRA_VERSION = """HYDRA build details:
    Version:                                 5.0.2
    Release Date:                            Fri Sep 25 20:45:26 UTC 2026
    CC:                              cc
    Configure options:                       --with-device=ch4:ucx,ofi --with-pm=hydra:gforker
    Process Manager:                         pmi
    Launchers available:                     ssh rsh fork slurm ll lsf sge manual persist
"""

AURORA_JOBID = "8414055.aurora-pbs-0001.hostmgmt.cm.aurora.alcf.anl.gov"
AURORA_HOSTS = (
    "x4514c6s0b0n0.hsn.cm.aurora.alcf.anl.gov",
    "x4514c6s1b0n0.hsn.cm.aurora.alcf.anl.gov",
)
AURORA_BIND = (
    "--cpu-bind=list:1-8:9-16:17-24:25-32:33-40:41-48:53-60:61-68:69-76:77-84:85-92:93-100"
)


@dataclass
class FakeProbe:
    """Launcher lookup with recorded answers: ``found`` maps name -> argv[0]."""

    found: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def find(self, name: str) -> str | None:
        return self.found.get(name)

    def flavour(self, program: str) -> Flavour:
        return parse_flavour(self.versions.get(program))


def no_tools(argv: Sequence[str]) -> str | None:
    """A host with no nvidia-smi, xpu-smi or rocm-smi."""
    del argv
    return None


@dataclass
class PbsJob:
    """A PBS job as PBS presents it: env vars and the nodefile in the aux dir."""

    env: dict[str, str]
    context: Context
    nodefile: str


def make_pbs_job(
    tmp: Path,
    jobid: str = AURORA_JOBID,
    hosts: Sequence[str] = AURORA_HOSTS,
    extra_env: Mapping[str, str] | None = None,
    set_nodefile_var: bool = True,
) -> PbsJob:
    aux = tmp / "var/spool/pbs/aux"
    aux.mkdir(parents=True, exist_ok=True)
    nodefile = aux / jobid
    nodefile.write_text("".join(f"{h}\n" for h in hosts))
    env = {"PBS_JOBID": jobid, "PATH": os.defpath, "PBS_ENVIRONMENT": "PBS_INTERACTIVE"}
    if set_nodefile_var:
        env["PBS_NODEFILE"] = str(nodefile)
    env.update(extra_env or {})
    return PbsJob(env=env, context=Context(pbs_aux_dir=str(aux)), nodefile=str(nodefile))


def detect(
    env: Mapping[str, str],
    hostname: str = "laptop",
    context: Context | None = None,
    **kwargs: object,
) -> Job:
    """detect_job with no tool probes and a fixed host and core count."""
    kwargs.setdefault("cpus", 8)
    kwargs.setdefault("run_tool", no_tools)
    return detect_job(env, hostname=hostname, context=context or Context(), **kwargs)  # type: ignore[arg-type]
