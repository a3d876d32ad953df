"""The job's hosts as rows, and the search over them.

A query is either part of a host name (``x4514``, case-insensitive) or a host
list expression (``x4514c6s[0-3]b0n0``, ``nid[001-004,010]``), expanded with
``ezpz_core``'s own hostlist reader; a short name matches its long form.
"""

from __future__ import annotations

from dataclasses import dataclass

from ezpz_core.errors import UsageError
from ezpz_core.hostfile import Hostfile, expand_nodelist, short_name
from ezpz_core.job import Job
from ezpz_core.launch.plan import LaunchPlan


@dataclass(frozen=True)
class HostRow:
    host: str
    slots: int
    accelerators: int
    used: bool  # the plan starts ranks here


def host_rows(job: Job, plan: LaunchPlan | None, user: Hostfile | None = None) -> list[HostRow]:
    """The hosts the plan draws from (the user's hostfile, else the job's), in order."""
    acc = job.accelerators.count
    used = set(plan.hosts) if plan else set()
    if user is not None:
        hosts, slots = user.hosts, user.slots
    else:
        hosts, slots = job.allocation.hosts, job.allocation.slots
    if not hosts:
        hosts, slots = (job.hostname,), (1,)
        used = used or {job.hostname}
    padded = tuple(slots) + (1,) * (len(hosts) - len(slots))
    return [HostRow(h, s, acc, h in used) for h, s in zip(hosts, padded[: len(hosts)], strict=True)]


def is_expression(query: str) -> bool:
    return "[" in query or "," in query


def filter_hosts(rows: list[HostRow], query: str) -> tuple[list[HostRow], str | None]:
    """The rows that match ``query``, and an error when the expression is malformed."""
    text = query.strip()
    if not text:
        return rows, None
    if is_expression(text):
        try:
            wanted = set(expand_nodelist(text, "the search"))
        except UsageError:
            return [], f"{text!r} is not a valid hostlist (e.g. nid[001-004,010])"
        shorts = {short_name(w) for w in wanted}
        return [r for r in rows if r.host in wanted or short_name(r.host) in shorts], None
    lowered = text.lower()
    return [r for r in rows if lowered in r.host.lower()], None
