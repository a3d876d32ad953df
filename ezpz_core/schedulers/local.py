"""No batch system: the job is this host."""

from __future__ import annotations

from collections.abc import Mapping

from ezpz_core.kinds import SchedulerKind
from ezpz_core.schedulers.base import Allocation, Context

kind = SchedulerKind.LOCAL


def job_id(env: Mapping[str, str]) -> str | None:
    del env
    return None


def allocation(env: Mapping[str, str], ctx: Context) -> Allocation:
    del env, ctx
    return Allocation(job_id=None, source="this host")
