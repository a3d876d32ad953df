"""Ranks, hosts and ranks per host from ``-n``, ``--ppn`` and ``--nhosts``.

The decision table is ezpz's (reference section 3.3), with its gaps closed: every
result is checked against the hosts available, negative and zero values are
refused instead of ignored, and ranks per host may not exceed the accelerators per
host unless ``NGPU_PER_HOST`` says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from ezpz_core.errors import TopologyError


@dataclass(frozen=True)
class Topology:
    """How many hosts, ranks per host and ranks in all."""

    nhosts: int
    ppn: int
    world_size: int


@dataclass(frozen=True)
class Capacity:
    """What the topology must fit into, and words for error messages."""

    max_hosts: int
    accelerators: int  # per host; 0 means CPU only (no per-host limit)
    default_ppn: int
    hosts_source: str  # e.g. "job 8414055", "hostfile ./hosts", "this host"


def _positive(value: int | None, flag: str) -> None:
    if value is not None and value < 1:
        raise TopologyError(f"{flag} must be a whole number >= 1, got {value}")


def _divide(total: int, parts: int, message: str) -> int:
    if total % parts:
        raise TopologyError(message)
    return total // parts


def resolve_topology(
    np: int | None, ppn: int | None, nhosts: int | None, cap: Capacity
) -> Topology:
    """Fill in what was not given and refuse what cannot fit (one clear error each)."""
    _positive(np, "-n/--np")
    _positive(ppn, "--ppn")
    _positive(nhosts, "--nhosts")
    hmax = cap.max_hosts
    if nhosts is not None and nhosts > hmax:
        raise TopologyError(
            f"--nhosts {nhosts} is more than the {hmax} host(s) of {cap.hosts_source}"
        )
    if np is not None and ppn is not None:
        hosts = _divide(
            np, ppn, f"-n {np} is not a multiple of --ppn {ppn}; pick -n as a multiple of {ppn}"
        )
        if nhosts is not None and hosts != nhosts:
            raise TopologyError(
                f"-n {np} does not equal --nhosts {nhosts} x --ppn {ppn} = {nhosts * ppn}"
            )
        if hosts > hmax:
            raise TopologyError(
                f"-n {np} with --ppn {ppn} needs {hosts} hosts, but {cap.hosts_source} has {hmax}"
            )
        topo = Topology(hosts, ppn, np)
    elif np is not None:
        hosts = nhosts if nhosts is not None else hmax
        per = _divide(
            np,
            hosts,
            f"-n {np} does not divide evenly over {hosts} host(s); pick -n as a multiple of "
            f"{hosts}, or set --nhosts to a divisor of {np}",
        )
        topo = Topology(hosts, per, np)
    else:
        hosts = nhosts if nhosts is not None else hmax
        per = ppn if ppn is not None else cap.default_ppn
        topo = Topology(hosts, per, hosts * per)
    if cap.accelerators and topo.ppn > cap.accelerators:
        raise TopologyError(
            f"{topo.ppn} ranks per host is more than the {cap.accelerators} accelerators per "
            f"host; lower -n/--ppn, or set NGPU_PER_HOST to share accelerators on purpose"
        )
    return topo


def usage_warning(topo: Topology, job_hosts: int | None, accelerators: int) -> str | None:
    """ "Using only 8 of 24 accelerators" when a GPU job leaves some idle."""
    if not accelerators or not job_hosts:
        return None
    capacity = job_hosts * accelerators
    if topo.world_size >= capacity:
        return None
    return (
        f"using {topo.world_size} of the job's {capacity} accelerators "
        f"({topo.nhosts} host(s) x {topo.ppn} per host; the job has {job_hosts} x {accelerators})"
    )
