"""``plan_launch``: a job and a request in, the exact argv and its reasons out.

Pure: the environment, the user's hostfile and the launcher probe are passed in.
``make_plan`` is the edge that gathers them from this machine.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ezpz_core.errors import UsageError
from ezpz_core.hostfile import Hostfile, read_hostfile, short_name
from ezpz_core.job import Job, detect_job
from ezpz_core.kinds import RankIO, SchedulerKind
from ezpz_core.launch.binding import Binding, resolve_binding
from ezpz_core.launch.choose import LauncherPick, choose_launcher
from ezpz_core.launch.context import BuildContext
from ezpz_core.launch.flavour import LauncherProbe, SystemProbe
from ezpz_core.launch.request import LaunchRequest
from ezpz_core.launch.styles import AUTO_RANK_IO, BUILDERS, Style
from ezpz_core.launch.topology import Capacity, Topology, resolve_topology, usage_warning
from ezpz_core.schedulers import Context

WORKLOAD_MODULE = "ezpz_core.workload"
RANKIO_MODULE = "ezpz_core.rankio"


def default_command(python: str) -> tuple[str, ...]:
    """The reference workload, run by this interpreter."""
    return (python, "-m", WORKLOAD_MODULE)


def wrap_command(python: str, command: tuple[str, ...]) -> tuple[str, ...]:
    """Put the per-rank wrapper in front of ``command`` (``--rank-io wrapper``)."""
    return (python, "-m", RANKIO_MODULE, "--", *command)


@dataclass(frozen=True)
class LaunchPlan:
    """Everything ``--dry-run`` prints and ``--run`` executes."""

    job: Job
    request: LaunchRequest
    launcher: LauncherPick
    rank_io: RankIO
    topology: Topology | None  # None with --launcher none
    hostfile: str | None
    hosts: tuple[str, ...]  # the hosts this plan uses
    binding: Binding
    command: tuple[str, ...]  # the user's command (or the default), unwrapped
    argv: tuple[str, ...]
    warnings: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The ``--dry-run --json`` object (also ``plan.json`` of a run): the job's
        facts, with the hosts this plan uses, then the plan itself."""
        topo = self.topology
        data = self.job.to_json()
        data.update(
            hostfile=self.hostfile,
            hosts=list(self.hosts),
            nhosts=topo.nhosts if topo else None,
            ppn=topo.ppn if topo else None,
            world_size=topo.world_size if topo else None,
            launcher=self.launcher.name,
            launcher_found=self.launcher.found,
            launcher_flavour=self.launcher.flavour.value,
            launch_style=self.launcher.style.value,
            rank_io=self.rank_io.value,
            cpu_bind=self.binding.value,
            cpu_bind_source=self.binding.source or None,
            command=list(self.command),
            argv=list(self.argv),
            warnings=list(self.warnings),
        )
        return data


@dataclass(frozen=True)
class _Hosts:
    hosts: tuple[str, ...]
    slots: tuple[int, ...]
    count: int
    hostfile: str | None
    source: str
    from_user: bool


def _select_hosts(job: Job, request: LaunchRequest, user: Hostfile | None) -> _Hosts:
    alloc = job.allocation
    if user is not None:
        return _Hosts(
            user.hosts, user.slots, len(user.hosts), request.hostfile, f"hostfile {user.path}", True
        )
    if job.in_job:
        if alloc.error:
            raise UsageError(alloc.error)
        count = alloc.nhosts or 1
        return _Hosts(alloc.hosts, alloc.slots, count, alloc.hostfile, f"job {alloc.job_id}", False)
    return _Hosts((job.hostname,), (1,), 1, None, "this host", False)


def _default_ppn(job: Job, hosts: _Hosts) -> tuple[int, list[str]]:
    """Ranks per host when no flag says: inside an allocation, the task count the
    user asked the scheduler for; else one per accelerator; else a hostfile's
    uniform ``slots=N``; else 1 (docs/discovery.md, "Ranks per host")."""
    asked = job.allocation.tasks_per_host if job.in_job and not hosts.from_user else None
    accelerators = job.accelerators.count
    if asked is not None:
        where = job.allocation.tasks_from
        if accelerators and asked > accelerators:
            return accelerators, [
                f"the allocation asks for {asked} tasks per host ({where}) but its hosts have "
                f"{accelerators} accelerators: {accelerators} per host (--ppn {asked} with "
                f"NGPU_PER_HOST={asked} shares them)"
            ]
        return asked, []  # what the user asked for: no warning (`--check` would warn)
    if accelerators > 0:
        return accelerators, []
    if hosts.slots and len(set(hosts.slots)) == 1 and hosts.slots[0] > 1:
        return hosts.slots[0], []  # an Open MPI hostfile's slots=N
    return 1, []


def _host_warnings(job: Job, hosts: _Hosts, user: Hostfile | None) -> list[str]:
    notes = list(job.warnings)
    if user is not None:
        if user.repeat_warning():
            notes.append(str(user.repeat_warning()))
        if job.in_job and job.allocation.hosts:
            in_job = {short_name(h) for h in job.allocation.hosts}
            outside = [h for h in user.hosts if short_name(h) not in in_job]
            if outside:
                notes.append(
                    f"{len(outside)} host(s) of {hosts.source} are not in job {job.job_id} "
                    f"(first: {outside[0]}); the launcher cannot start ranks there"
                )
    elif not job.in_job and job.scheduler is not SchedulerKind.LOCAL:
        notes.append(
            f"{job.scheduler.value} is available but this shell is not inside a job: ranks "
            "start on this host only (submit it as a batch job: --submit, or Submit in "
            "the console; start an interactive job; or pass --hostfile)"
        )
    return notes


def _launcher_warnings(pick: LauncherPick, python: str) -> list[str]:
    if pick.found:
        if pick.style is Style.TORCHRUN and pick.source == "no MPI launcher here":
            return ["no MPI launcher (mpirun/mpiexec) found here; using torchrun on this host"]
        return []
    if pick.source == "nothing found":
        return [
            "no launcher found on PATH or next to this Python: install an MPI (pip install "
            "'ezpz-tui[mpi]'), or torch for torchrun, or pass --launcher"
        ]
    return [
        f"{pick.name} was not found on PATH or in {os.path.dirname(python)}; "
        "the plan shows the command it would run"
    ]


def _world_size_from_env(
    job: Job, request: LaunchRequest, env: Mapping[str, str]
) -> tuple[int | None, list[str]]:
    given = (request.np, request.ppn, request.nhosts, request.hostfile)
    raw = env.get("WORLD_SIZE", "").strip()
    if job.in_job or any(v is not None for v in given) or not raw:
        return request.np, []
    if not raw.isdigit() or int(raw) < 1:
        raise UsageError(
            f"WORLD_SIZE={raw!r} in the environment is not a whole number >= 1; unset it"
        )
    return int(raw), [f"-n {raw} taken from WORLD_SIZE in the environment (pass -n to override)"]


def plan_launch(
    job: Job,
    request: LaunchRequest,
    *,
    env: Mapping[str, str],
    probe: LauncherProbe,
    user_hostfile: Hostfile | None = None,
    python: str = sys.executable,
    as_root: bool = False,
) -> LaunchPlan:
    """Decide the launcher, topology and argv for ``request`` in ``job``."""
    pick = choose_launcher(job, request.launcher, probe)
    rank_io = AUTO_RANK_IO[pick.style] if request.rank_io is RankIO.AUTO else request.rank_io
    command = request.command or default_command(python)
    binding, warnings = resolve_binding(request.cpu_bind, env)
    warnings += _launcher_warnings(pick, python)

    topology: Topology | None = None
    hosts_used: tuple[str, ...] = ()
    hostfile: str | None = None
    hosts = _Hosts((), (), 0, None, "", False)
    if pick.style is Style.DIRECT:
        if any(v is not None for v in (request.np, request.ppn, request.nhosts, request.hostfile)):
            warnings.append("-n/--ppn/--nhosts/--hostfile are ignored with --launcher none")
        hostfile = None
    else:
        hosts = _select_hosts(job, request, user_hostfile)
        warnings += _host_warnings(job, hosts, user_hostfile)
        np, notes = _world_size_from_env(job, request, env)
        warnings += notes
        default_ppn, ppn_notes = _default_ppn(job, hosts)
        if request.np is None and request.ppn is None:  # the default is used
            warnings += ppn_notes
        cap = Capacity(hosts.count, job.accelerators.count, default_ppn, hosts.source)
        topology = resolve_topology(np, request.ppn, request.nhosts, cap)
        job_hosts = job.allocation.nhosts if job.in_job else None
        note = usage_warning(topology, job_hosts, job.accelerators.count)
        if note:
            warnings.append(note)
        hosts_used = hosts.hosts[: topology.nhosts]
        hostfile = hosts.hostfile
        if pick.style is Style.SRUN and hosts.from_user:
            hostfile = None  # srun gets the hosts as --nodelist
    wrapped = wrap_command(python, command) if rank_io is RankIO.WRAPPER else command
    ctx = BuildContext(
        program=pick.program,
        topology=topology or Topology(1, 1, 1),
        rank_io=rank_io,
        command=wrapped,
        launcher_args=request.launcher_args,
        hostfile=hostfile,
        hosts=hosts_used,
        hosts_from_user=hosts.from_user,
        binding=binding,
        machine_bind=job.machine.cpu_bind,
        accelerators=job.accelerators.count,
        cpus=job.cpus,
        as_root=as_root,
    )
    built = BUILDERS[pick.style](ctx)
    return LaunchPlan(
        job=job,
        request=request,
        launcher=pick,
        rank_io=rank_io,
        topology=topology,
        hostfile=hostfile,
        hosts=hosts_used,
        binding=binding,
        command=command,
        argv=built.argv,
        warnings=tuple(dict.fromkeys((*warnings, *built.warnings))),
    )


def make_plan(
    request: LaunchRequest,
    env: Mapping[str, str] | None = None,
    *,
    scheduler: SchedulerKind | None = None,
    machine: str | None = None,
    context: Context | None = None,
    probe: LauncherProbe | None = None,
) -> LaunchPlan:
    """Detect the job, read ``--hostfile`` and probe launchers, then plan (the edge)."""
    env = os.environ if env is None else env
    job = detect_job(env, scheduler=scheduler, machine=machine, context=context)
    hostfile = read_hostfile(os.path.expanduser(request.hostfile)) if request.hostfile else None
    return plan_launch(
        job,
        request,
        env=env,
        probe=probe or SystemProbe(env),
        user_hostfile=hostfile,
        as_root=os.geteuid() == 0,
    )
