"""``--check``: discovery facts judged, each non-ok one with a remedy.

Pure over its inputs: the job, the plan (or the error that stopped it), the
environment, and the launcher probe.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from ezpz_core.hostfile import short_name
from ezpz_core.job import Job
from ezpz_core.kinds import SchedulerKind
from ezpz_core.launch.plan import LaunchPlan
from ezpz_core.launch.styles import Style
from ezpz_core.tools import resolve_program


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    ERROR = "error"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    remedy: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data


def _ok(name: str, detail: str) -> Check:
    return Check(name, Status.OK, detail)


def check_scheduler(job: Job) -> Check:
    if job.in_job:
        return _ok(
            "scheduler", f"{job.scheduler.value}, inside job {job.job_id} ({job.scheduler_source})"
        )
    if job.scheduler is SchedulerKind.LOCAL:
        return _ok("scheduler", "none: ranks run on this host or the hosts of --hostfile")
    starter = "qsub -I" if job.scheduler is SchedulerKind.PBS else "salloc"
    return Check(
        "scheduler",
        Status.WARN,
        f"{job.scheduler.value} ({job.scheduler_source}), but not inside a job",
        f"start an interactive job ({starter} ...) to launch on compute nodes",
    )


def check_hosts(
    job: Job,
    plan: LaunchPlan | None,
    user_hostfile: str | None = None,
    user_hostfile_error: str | None = None,
) -> Check:
    alloc = job.allocation
    if user_hostfile_error:
        return Check(
            "hostfile",
            Status.ERROR,
            user_hostfile_error,
            "fix the file, or pass another with --hostfile (one host per line)",
        )
    if user_hostfile:
        used = f"{len(plan.hosts)} host(s) used" if plan else "read"
        return _ok("hostfile", f"{user_hostfile} (--hostfile): {used}")
    if job.in_job and alloc.error:
        return Check(
            "hostfile", Status.ERROR, alloc.error, "pass --hostfile FILE with one host per line"
        )
    if job.in_job:
        where = alloc.hostfile or alloc.nodelist or alloc.source
        detail = f"{alloc.nhosts} host(s) from {alloc.source}: {where}"
        if alloc.warnings:
            return Check(
                "hostfile",
                Status.WARN,
                f"{detail}; " + "; ".join(alloc.warnings),
                "check that this shell runs inside the job it describes",
            )
        return _ok("hostfile", detail)
    return _ok("hostfile", f"not needed: this host ({job.hostname}) only")


def check_launcher(plan: LaunchPlan | None, env: Mapping[str, str]) -> Check:
    if plan is None:
        return Check("launcher", Status.ERROR, "no plan (see the plan check)", "fix the plan first")
    pick = plan.launcher
    if pick.style is Style.DIRECT:
        return _ok("launcher", "none: the command runs exactly as given")
    if not pick.found:
        remedy = (
            "load your MPI module, or pip install 'ezpz-tui[mpi]' for Open MPI"
            if pick.name in ("mpirun", "mpiexec")
            else f"put {pick.name} on PATH, or choose another with --launcher"
        )
        return Check("launcher", Status.ERROR, f"{pick.name} not found on PATH", remedy)
    where = resolve_program(pick.program, env) or pick.program
    return _ok(
        "launcher",
        f"{pick.name} at {where} (flavour {pick.flavour.value}, rank I/O {plan.rank_io.value})",
    )


def check_accelerators(job: Job) -> Check:
    acc = job.accelerators
    if acc.count:
        return _ok(
            "accelerators",
            f"{acc.count} {acc.kind or ''} per host (from {acc.source})".replace("  ", " "),
        )
    if job.machine.accelerator:
        return Check(
            "accelerators",
            Status.WARN,
            f"none found, but {job.machine.display} nodes have {job.machine.accelerator} devices",
            "run inside a compute-node job, or set NGPU_PER_HOST",
        )
    return _ok(
        "accelerators",
        "none: one rank per host on the CPU unless --ppn, -n or the allocation says more",
    )


def check_python(plan: LaunchPlan | None, env: Mapping[str, str], python: str) -> Check:
    first = plan.command[0] if plan and plan.command else "python3"
    if os.sep in first or not os.path.basename(first).startswith("python"):
        first = "python3"
    on_path = shutil.which(first, path=env.get("PATH", ""))
    mine = os.path.realpath(python)
    if on_path is None:
        return Check(
            "python",
            Status.WARN,
            f"{first} is not on PATH; ranks that call it will fail",
            f"use the full interpreter path ({python}) in the command",
        )
    if os.path.realpath(on_path) != mine and os.path.dirname(on_path) != os.path.dirname(python):
        return Check(
            "python",
            Status.WARN,
            f"{first} on PATH is {on_path}, not this interpreter ({python}); "
            "ranks may lack your packages",
            "activate the environment (source .venv/bin/activate) "
            "or call the interpreter by its full path",
        )
    return _ok("python", f"{first} on PATH is this interpreter ({python})")


def check_environment(plan: LaunchPlan | None, env: Mapping[str, str]) -> list[Check]:
    """Launcher variables left in the launching shell leak into every rank."""
    checks: list[Check] = []
    world = env.get("WORLD_SIZE", "").strip()
    if world and plan and plan.topology and world != str(plan.topology.world_size):
        checks.append(
            Check(
                "env WORLD_SIZE",
                Status.ERROR,
                f"WORLD_SIZE={world} is set, but the plan starts {plan.topology.world_size} ranks; "
                "ranks inherit it and would disagree",
                "unset WORLD_SIZE before launching",
            )
        )
    leaked = [name for name in ("RANK", "LOCAL_RANK") if env.get(name, "").strip()]
    if leaked:
        checks.append(
            Check(
                "env " + "/".join(leaked),
                Status.WARN,
                " and ".join(f"{n}={env[n]}" for n in leaked)
                + " set in this shell: every rank inherits the same value",
                "unset " + " ".join(leaked),
            )
        )
    addr = env.get("MASTER_ADDR", "").strip()
    if addr and plan and plan.hosts and short_name(addr) not in {short_name(h) for h in plan.hosts}:
        checks.append(
            Check(
                "env MASTER_ADDR",
                Status.WARN,
                f"MASTER_ADDR={addr} is not one of the plan's hosts; rendezvous will wait for it",
                "unset MASTER_ADDR/MASTER_PORT (they are chosen per job) "
                "or point it at the first host",
            )
        )
    if not checks:
        checks.append(_ok("env", "no stale launcher variables (WORLD_SIZE, RANK, MASTER_ADDR)"))
    return checks


def check_plan(plan: LaunchPlan | None, error: str | None) -> Check:
    if plan is None:
        return Check(
            "plan", Status.ERROR, error or "no plan", "fix the flags or hostfile named above"
        )
    topo = plan.topology
    shape = (
        f"{topo.world_size} rank(s) = {topo.nhosts} host(s) x {topo.ppn} per host"
        if topo
        else "the command as given"
    )
    if plan.warnings:
        return Check(
            "plan", Status.WARN, f"{shape}; " + "; ".join(plan.warnings), "see the warnings"
        )
    return _ok("plan", shape)


def run_checks(
    job: Job,
    plan: LaunchPlan | None,
    *,
    env: Mapping[str, str],
    python: str,
    plan_error: str | None = None,
    user_hostfile: str | None = None,
    user_hostfile_error: str | None = None,
) -> list[Check]:
    """Every check, in the order a person would read them."""
    return [
        check_scheduler(job),
        check_hosts(job, plan, user_hostfile, user_hostfile_error),
        check_launcher(plan, env),
        check_accelerators(job),
        check_python(plan, env, python),
        *check_environment(plan, env),
        check_plan(plan, plan_error),
    ]
