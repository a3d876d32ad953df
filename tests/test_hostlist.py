"""Slurm host lists: every form Slurm writes expands (python-hostlist), and compresses back.

ezpz's own expander (reference section 2.3) kept ``nid001,nid002`` as one bogus host and
raised ValueError on several groups, suffixes after ``]`` and two bracket groups.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ezpz_core.errors import UsageError
from ezpz_core.hostfile import compress_hosts, expand_nodelist

SOURCE = "SLURM_JOB_NODELIST"


@pytest.mark.parametrize(
    ("expression", "hosts"),
    [
        pytest.param("node001", ("node001",), id="single-host"),
        pytest.param("nid[001-003]", ("nid001", "nid002", "nid003"), id="range"),
        pytest.param(
            "nid[001-003,007]", ("nid001", "nid002", "nid003", "nid007"), id="range-and-single"
        ),
        pytest.param("node[001,003]", ("node001", "node003"), id="singles"),
        pytest.param(
            "node[001-003,007,010-012]",
            ("node001", "node002", "node003", "node007", "node010", "node011", "node012"),
            id="ranges-and-singles",
        ),
        pytest.param("nid[8-10]", ("nid8", "nid9", "nid10"), id="unpadded-widening"),
        pytest.param("nid[08-10]", ("nid08", "nid09", "nid10"), id="zero-padded"),
        pytest.param("nid[1]", ("nid1",), id="one-element-brackets"),
        pytest.param(
            "nid[001-002],login[01-02]",
            ("nid001", "nid002", "login01", "login02"),
            id="several-groups",
        ),
        pytest.param(
            "login01,nid[001-002]", ("login01", "nid001", "nid002"), id="plain-then-group"
        ),
        pytest.param("node[1-2]-ib", ("node1-ib", "node2-ib"), id="suffix-after-bracket"),
        pytest.param("x[1-2]c[3-4]", ("x1c3", "x1c4", "x2c3", "x2c4"), id="two-bracket-groups"),
        pytest.param(
            "x4514c6s[0-1]b0n0", ("x4514c6s0b0n0", "x4514c6s1b0n0"), id="aurora-style-infix"
        ),
        pytest.param(
            "nid[001-002].chn.perlmutter.nersc.gov",
            ("nid001.chn.perlmutter.nersc.gov", "nid002.chn.perlmutter.nersc.gov"),
            id="fqdn-suffix",
        ),
        pytest.param("  nid[001-002]\n", ("nid001", "nid002"), id="surrounding-whitespace"),
        pytest.param("\tnid001 ", ("nid001",), id="tab-and-space"),
    ],
)
def test_slurm_host_list_forms_expand_in_order(expression, hosts):
    assert expand_nodelist(expression, SOURCE) == hosts


@pytest.mark.parametrize(
    ("expression", "hosts"),
    [
        pytest.param("nid001,nid002", ("nid001", "nid002"), id="two-hosts"),
        pytest.param("a,b,c", ("a", "b", "c"), id="three-hosts"),
        pytest.param("nid001.x.y,nid002.x.y", ("nid001.x.y", "nid002.x.y"), id="fqdns"),
    ],
)
def test_plain_comma_lists_are_split_into_hosts(expression, hosts):
    # ezpz kept "nid001,nid002" as one host named "nid001,nid002" (reference 2.3).
    assert expand_nodelist(expression, SOURCE) == hosts


@pytest.mark.parametrize(
    ("expression", "hosts"),
    [
        pytest.param("nid[1,1,2]", ("nid1", "nid2"), id="repeat-inside-brackets"),
        pytest.param("nid[1-3],nid2", ("nid1", "nid2", "nid3"), id="repeat-across-groups"),
        pytest.param("b,a,b,a", ("b", "a"), id="first-seen-order"),
        pytest.param("nid[3-4],nid[1-4]", ("nid3", "nid4", "nid1", "nid2"), id="overlap"),
    ],
)
def test_duplicate_hosts_are_removed_keeping_first_seen_order(expression, hosts):
    assert expand_nodelist(expression, SOURCE) == hosts


@pytest.mark.parametrize("expression", ["", " ", "\n\t "], ids=["empty", "space", "whitespace"])
def test_empty_host_list_is_a_usage_error_naming_the_source(expression):
    with pytest.raises(UsageError) as info:
        expand_nodelist(expression, SOURCE)
    assert str(info.value).startswith(f"{SOURCE} is empty; ")
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("nid[001-", id="unterminated-range"),
        pytest.param("nid[1-2", id="unclosed-bracket"),
        pytest.param("nid]", id="stray-close-bracket"),
        pytest.param("nid[[1]]", id="nested-brackets"),
        pytest.param("nid[a-b]", id="letters-in-range"),
        pytest.param("nid[]", id="empty-brackets"),
        pytest.param("nid[005-003]", id="descending-range"),
        pytest.param("nid[1--2]", id="double-hyphen"),
    ],
)
def test_malformed_host_list_is_a_usage_error_naming_the_source(expression):
    with pytest.raises(UsageError) as info:
        expand_nodelist(expression, SOURCE)
    assert str(info.value).startswith(f"{SOURCE}={expression!r} is not a valid Slurm host list")


@pytest.mark.parametrize(
    ("expression", "bad"),
    [
        pytest.param("bad!host", "bad!host", id="bang"),
        pytest.param("nid001 nid002", "nid001 nid002", id="space-separated"),
        pytest.param("a..b", "a..b", id="empty-label"),
        pytest.param("nid[1-2]!", "nid1!", id="bang-after-bracket"),
        pytest.param("ok,-x", "-x", id="leading-hyphen"),
    ],
)
def test_host_list_expanding_to_an_invalid_host_name_is_a_usage_error(expression, bad):
    with pytest.raises(UsageError) as info:
        expand_nodelist(expression, SOURCE)
    assert str(info.value) == (f"{SOURCE}={expression!r} expands to an invalid host name {bad!r}")


def test_error_names_whichever_source_variable_was_given():
    with pytest.raises(UsageError, match=r"^SLURM_NODELIST='nid\[001-'"):
        expand_nodelist("nid[001-", "SLURM_NODELIST")


@pytest.mark.parametrize(
    ("hosts", "expression"),
    [
        pytest.param(["nid001", "nid002", "nid003", "nid007"], "nid[001-003,007]", id="range"),
        pytest.param(["nid003", "nid001", "nid002"], "nid[001-003]", id="unsorted-input"),
        pytest.param(["node1"], "node1", id="single"),
        pytest.param(["n9", "n10"], "n[9-10]", id="widening"),
        pytest.param(["a", "b"], "a,b", id="no-numbers"),
        pytest.param(["node1-ib", "node2-ib"], "node[1-2]-ib", id="suffix"),
        pytest.param(["login01", "nid001", "nid002"], "login01,nid[001-002]", id="two-prefixes"),
        pytest.param(["nid001", "nid001"], "nid001", id="duplicates"),
    ],
)
def test_compress_hosts_gives_the_slurm_spelling(hosts, expression):
    assert compress_hosts(hosts) == expression


def test_compress_hosts_accepts_any_iterable():
    assert compress_hosts(h for h in ("nid1", "nid2")) == "nid[1-2]"


def test_compress_hosts_keeps_zero_padded_and_unpadded_names_apart():
    hosts = ["a1", "a01", "a001"]
    assert sorted(expand_nodelist(compress_hosts(hosts), SOURCE)) == sorted(hosts)


HOSTS = st.lists(
    st.builds(
        lambda prefix, number, width: f"{prefix}{number:0{width}d}",
        st.from_regex(r"[a-z][a-z0-9_-]{0,6}", fullmatch=True),
        st.integers(min_value=0, max_value=99999),
        st.integers(min_value=1, max_value=6),
    ),
    min_size=1,
    max_size=30,
    unique=True,
)


@settings(max_examples=200, deadline=None)
@given(HOSTS)
def test_property_compress_then_expand_round_trips_unique_hosts(hosts):
    expanded = expand_nodelist(compress_hosts(hosts), SOURCE)
    assert len(expanded) == len(hosts)
    assert set(expanded) == set(hosts)
