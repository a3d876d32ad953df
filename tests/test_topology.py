"""The topology decision table (reference section 3.3) and its errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ezpz_core.errors import TopologyError, UsageError
from ezpz_core.launch.topology import Capacity, Topology, resolve_topology, usage_warning

TWO_BY_12 = Capacity(max_hosts=2, accelerators=12, default_ppn=12, hosts_source="job 1")
CPU_ONE = Capacity(max_hosts=1, accelerators=0, default_ppn=1, hosts_source="this host")


@pytest.mark.parametrize(
    ("np", "ppn", "nhosts", "expected"),
    [
        (None, None, None, Topology(2, 12, 24)),  # nothing: all of it
        (8, None, None, Topology(2, 4, 8)),  # N: spread over every host
        (None, None, 1, Topology(1, 12, 12)),  # H
        (None, 6, None, Topology(2, 6, 12)),  # P
        (12, 12, None, Topology(1, 12, 12)),  # N,P -> hosts = N/P
        (12, None, 2, Topology(2, 6, 12)),  # N,H
        (None, 3, 1, Topology(1, 3, 3)),  # H,P
        (24, 12, 2, Topology(2, 12, 24)),  # N,H,P consistent
    ],
    ids=["none", "N", "H", "P", "NP", "NH", "HP", "NHP"],
)
def test_decision_table(
    np: int | None, ppn: int | None, nhosts: int | None, expected: Topology
) -> None:
    assert resolve_topology(np, ppn, nhosts, TWO_BY_12) == expected


@pytest.mark.parametrize(
    ("np", "ppn", "nhosts", "message"),
    [
        (0, None, None, "-n/--np must be a whole number >= 1, got 0"),
        (-1, None, None, "-n/--np must be a whole number >= 1, got -1"),
        (None, 0, None, "--ppn must be a whole number >= 1, got 0"),
        (None, None, -3, "--nhosts must be a whole number >= 1, got -3"),
        (5, None, None, "-n 5 does not divide evenly over 2 host"),
        (None, None, 3, "--nhosts 3 is more than the 2 host"),
        (10, 4, None, "-n 10 is not a multiple of --ppn 4"),
        (36, 12, None, "needs 3 hosts, but job 1 has 2"),
        (16, 8, 4, "--nhosts 4 is more than"),
        (12, 4, 2, "-n 12 does not equal --nhosts 2 x --ppn 4 = 8"),
        (48, None, None, "24 ranks per host is more than the 12 accelerators"),
        (None, 13, None, "13 ranks per host is more than the 12 accelerators"),
    ],
)
def test_each_impossible_request_gets_one_clear_error(
    np: int | None, ppn: int | None, nhosts: int | None, message: str
) -> None:
    with pytest.raises(TopologyError, match=message.replace("+", r"\+")) as info:
        resolve_topology(np, ppn, nhosts, TWO_BY_12)
    assert isinstance(info.value, UsageError)  # exit code 2 at the CLI


def test_cpu_hosts_have_no_per_host_rank_limit() -> None:
    assert resolve_topology(64, None, None, CPU_ONE) == Topology(1, 64, 64)


def test_usage_warning_names_idle_accelerators() -> None:
    warning = usage_warning(Topology(2, 4, 8), job_hosts=2, accelerators=12)
    assert warning is not None and "using 8 of the job's 24 accelerators" in warning
    assert usage_warning(Topology(2, 12, 24), job_hosts=2, accelerators=12) is None
    assert usage_warning(Topology(1, 1, 1), job_hosts=None, accelerators=0) is None


@given(
    hosts=st.integers(1, 64),
    accel=st.integers(0, 16),
    np=st.none() | st.integers(-2, 2000),
    ppn=st.none() | st.integers(-2, 32),
    nhosts=st.none() | st.integers(-2, 80),
)
def test_any_input_gives_a_consistent_topology_or_a_topology_error(
    hosts: int, accel: int, np: int | None, ppn: int | None, nhosts: int | None
) -> None:
    cap = Capacity(hosts, accel, max(accel, 1), "job")
    try:
        topo = resolve_topology(np, ppn, nhosts, cap)
    except TopologyError:
        return
    assert topo.world_size == topo.nhosts * topo.ppn
    assert 1 <= topo.nhosts <= hosts
    assert topo.ppn >= 1
    if accel:
        assert topo.ppn <= accel
    for given_value, got in ((np, topo.world_size), (ppn, topo.ppn), (nhosts, topo.nhosts)):
        assert given_value is None or given_value == got
