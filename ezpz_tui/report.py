"""Plain-text renderings of a plan and of ``--check`` results (no Textual, no rich).

The argv is always printed last, alone on its line, built with ``shlex.join``
so it can be copied into a shell as is.
"""

from __future__ import annotations

import shlex

from ezpz_core.doctor import Check, Status
from ezpz_core.job import Job
from ezpz_core.launch.plan import LaunchPlan


def _hosts_line(hosts: tuple[str, ...], limit: int = 4) -> str:
    shown = ", ".join(hosts[:limit])
    return shown + (f", ... ({len(hosts)} in all)" if len(hosts) > limit else "")


def job_lines(job: Job) -> list[tuple[str, str]]:
    where = f"inside job {job.job_id}" if job.in_job else "not inside a job"
    acc = job.accelerators
    return [
        ("scheduler", f"{job.scheduler.value}, {where} ({job.scheduler_source})"),
        ("machine", f"{job.machine.name} ({job.machine_source})"),
        ("host", job.hostname),
        ("accelerators", f"{acc.count} {acc.kind} per host ({acc.source})".replace("  ", " ")),
    ]


def plan_lines(plan: LaunchPlan) -> list[tuple[str, str]]:
    rows = job_lines(plan.job)
    topo = plan.topology
    if topo is not None:
        rows.append(("hostfile", plan.hostfile or "-"))
        rows.append(("hosts", _hosts_line(plan.hosts) or "-"))
        rows.append(
            ("topology", f"{topo.world_size} rank(s) = {topo.nhosts} host(s) x {topo.ppn} per host")
        )
    pick = plan.launcher
    found = "" if pick.found else ", NOT FOUND"
    rows.append(("launcher", f"{pick.name} ({pick.flavour.value}; {pick.source}{found})"))
    rows.append(("rank I/O", plan.rank_io.value))
    if plan.binding.value:
        rows.append(("cpu bind", f"{plan.binding.value} ({plan.binding.source})"))
    return rows


def _table(rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(k) for k, _ in rows)
    return [f"  {key:<{width}}  {value}" for key, value in rows]


def format_plan(plan: LaunchPlan) -> str:
    out = ["ezpz-tui plan (dry run: nothing was started)", *_table(plan_lines(plan))]
    if plan.warnings:
        out.append("warnings:")
        out += [f"  - {w}" for w in plan.warnings]
    out.append("command:")
    out.append(shlex.join(plan.argv))
    return "\n".join(out)


STATUS_MARK = {Status.OK: "ok", Status.WARN: "warn", Status.ERROR: "ERROR"}


def totals_line(checks: list[Check]) -> str:
    errors = sum(c.status is Status.ERROR for c in checks)
    warns = sum(c.status is Status.WARN for c in checks)
    return f"{errors} error(s), {warns} warning(s)"


def format_checks(job: Job, plan: LaunchPlan | None, checks: list[Check]) -> str:
    out = ["ezpz-tui check", *_table(plan_lines(plan) if plan else job_lines(job)), "checks:"]
    width = max(len(c.name) for c in checks)
    for check in checks:
        out.append(f"  {STATUS_MARK[check.status]:<5} {check.name:<{width}}  {check.detail}")
        if check.remedy and check.status is not Status.OK:
            out.append(f"  {'':<5} {'':<{width}}  fix: {check.remedy}")
    out.append(totals_line(checks))
    if plan is not None:
        out.append("command:")
        out.append(shlex.join(plan.argv))
    return "\n".join(out)


def duration_text(seconds: float) -> str:
    """``0.5s``, ``45s``, ``4m05s``, ``2h03m``: short enough for a bar or a caption."""
    if seconds < 60:
        return f"{max(0.0, seconds):.3g}s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
