"""The table of systems ezpz-tui knows, as data.

Adding a machine is one ``Machine(...)`` row: how to recognise it (hostname or
environment rules), its scheduler, accelerators per host, default CPU binding and
the launcher it uses inside a job. Rules are anchored regular expressions, so a
laptop called ``x1-carbon`` or a login node called ``login3`` elsewhere is not
mistaken for SunSpot or Perlmutter (both were ezpz defects).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ezpz_core.errors import UsageError
from ezpz_core.kinds import Flavour, SchedulerKind

# ALCF HPE nodes are named x<rack>c<chassis>s<slot>b<blade>n<node>, optionally
# followed by a domain or a -hsnN interface suffix.
_ALCF_NODE = r"c\d+s\d+b\d+n\d+(?:[.-].*)?"

AURORA_CPU_BIND = "list:1-8:9-16:17-24:25-32:33-40:41-48:53-60:61-68:69-76:77-84:85-92:93-100"
DEPTH_BIND: tuple[str, ...] = ("--cpu-bind=depth", "--depth=8")


@dataclass(frozen=True)
class Rule:
    """One way to recognise a machine: a regex over the hostname or an env variable."""

    pattern: str
    env: str | None = None  # None: match the hostname

    def matches(self, hostname: str, env: Mapping[str, str]) -> bool:
        subject = hostname if self.env is None else env.get(self.env, "")
        return bool(subject) and re.fullmatch(self.pattern, subject.lower()) is not None


@dataclass(frozen=True)
class Machine:
    """Facts about one system that no probe can tell reliably."""

    name: str
    display: str
    scheduler: SchedulerKind | None
    accelerators_per_host: int
    accelerator: str  # "xpu", "cuda", "rocm" or "" (unknown / CPU)
    job_flavour: Flavour | None  # the launcher dialect used inside a job
    cpu_bind: tuple[str, ...] = ()  # default binding tokens for PALS mpiexec
    rendezvous_domain: str = ""  # appended to a short hostname for MASTER_ADDR
    filter_profile: str | None = None
    rules: tuple[Rule, ...] = field(default=(), repr=False)


MACHINES: tuple[Machine, ...] = (
    Machine(
        name="aurora",
        display="Aurora",
        scheduler=SchedulerKind.PBS,
        accelerators_per_host=12,  # 6 GPUs x 2 tiles, FLAT mode
        accelerator="xpu",
        job_flavour=Flavour.PALS,
        cpu_bind=(f"--cpu-bind={AURORA_CPU_BIND}",),
        rendezvous_domain=".hsn.cm.aurora.alcf.anl.gov",
        filter_profile="aurora",
        rules=(
            Rule(r"x4\d{3}" + _ALCF_NODE),
            Rule(r"aurora-(uan|login)-?\d+(\..*)?"),
            Rule(r".*\.aurora\.alcf\.anl\.gov"),
        ),
    ),
    Machine(
        name="sunspot",
        display="SunSpot",
        scheduler=SchedulerKind.PBS,
        accelerators_per_host=12,
        accelerator="xpu",
        job_flavour=Flavour.PALS,
        cpu_bind=(f"--cpu-bind={AURORA_CPU_BIND}",),
        filter_profile="aurora",
        rules=(
            Rule(r"x1\d{3}" + _ALCF_NODE),
            Rule(r"(sunspot-)?uan-\d+(\..*)?"),
            Rule(r".*\.sunspot\.alcf\.anl\.gov"),
        ),
    ),
    Machine(
        name="sirius",
        display="Sirius",
        scheduler=SchedulerKind.PBS,
        accelerators_per_host=4,
        accelerator="cuda",
        job_flavour=Flavour.PALS,
        cpu_bind=DEPTH_BIND,
        rendezvous_domain=".hsn.cm.sirius.alcf.anl.gov",
        rules=(Rule(r".*sirius.*"), Rule(r"sirius.*", env="PBS_O_HOST")),
    ),
    Machine(
        name="polaris",
        display="Polaris",
        scheduler=SchedulerKind.PBS,
        accelerators_per_host=4,
        accelerator="cuda",
        job_flavour=Flavour.PALS,
        cpu_bind=DEPTH_BIND,
        rendezvous_domain=".hsn.cm.polaris.alcf.anl.gov",
        rules=(
            Rule(r"x3\d{3}" + _ALCF_NODE),
            Rule(r"polaris-(login|gpu)-?\d+(\..*)?"),
            Rule(r".*\.polaris\.alcf\.anl\.gov"),
        ),
    ),
    Machine(
        name="sophia",
        display="Sophia",
        scheduler=SchedulerKind.PBS,
        accelerators_per_host=8,
        accelerator="cuda",
        job_flavour=Flavour.OPENMPI,
        rendezvous_domain=".lab.alcf.anl.gov",
        rules=(Rule(r"sophia-(gpu|login)-?\d+(\..*)?"),),
    ),
    Machine(
        name="thetagpu",
        display="ThetaGPU",
        scheduler=SchedulerKind.PBS,
        accelerators_per_host=8,
        accelerator="cuda",
        job_flavour=Flavour.PALS,
        cpu_bind=DEPTH_BIND,
        rules=(Rule(r"theta(gpu|login)\d+(\..*)?"),),
    ),
    Machine(
        name="perlmutter",
        display="Perlmutter",
        scheduler=SchedulerKind.SLURM,
        accelerators_per_host=4,
        accelerator="cuda",
        job_flavour=Flavour.SRUN,
        rules=(
            Rule(r"perlmutter", env="NERSC_HOST"),
            Rule(r"nid\d{6}"),
            Rule(r".*\.perlmutter\.nersc\.gov"),
        ),
    ),
    Machine(
        name="frontier",
        display="Frontier",
        scheduler=SchedulerKind.SLURM,
        accelerators_per_host=8,  # 4 MI250X x 2 GCDs
        accelerator="rocm",
        job_flavour=Flavour.SRUN,
        rules=(
            Rule(r"frontier", env="LMOD_SYSTEM_NAME"),
            Rule(r"frontier\d+(\..*)?"),
            Rule(r".*\.frontier\.olcf\.ornl\.gov"),
        ),
    ),
)

GENERIC = Machine(
    name="generic",
    display="generic",
    scheduler=None,
    accelerators_per_host=0,
    accelerator="",
    job_flavour=None,
    cpu_bind=DEPTH_BIND,
)

_BY_NAME: dict[str, Machine] = {m.name: m for m in (*MACHINES, GENERIC)}


def machine_names() -> list[str]:
    """Names accepted by ``--machine`` and ``EZPZ_MACHINE``."""
    return list(_BY_NAME)


def machine_by_name(name: str, source: str = "--machine") -> Machine:
    """The machine called ``name`` (any case); a clear error lists the known ones."""
    key = name.strip().lower()
    if key not in _BY_NAME:
        known = ", ".join(machine_names())
        raise UsageError(f"{source}={name!r} is not a known machine; choose one of: {known}")
    return _BY_NAME[key]


def match_machine(hostname: str, env: Mapping[str, str]) -> Machine:
    """The first machine whose rules match ``hostname`` or ``env``; else ``GENERIC``."""
    host = hostname.lower()
    for machine in MACHINES:
        if any(rule.matches(host, env) for rule in machine.rules):
            return machine
    return GENERIC
