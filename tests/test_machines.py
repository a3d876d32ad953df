"""The machine table: hostname/environment rules, per-machine defaults, lookup by name.

Rules are anchored, fixing ezpz's prefix matching (reference section 1.3), where any
``x1...`` host was SunSpot, any ``login...`` host Perlmutter and any ``x3...`` host Polaris.
"""

from __future__ import annotations

import pytest

from ezpz_core.errors import UsageError
from ezpz_core.kinds import Flavour, SchedulerKind
from ezpz_core.machines import GENERIC, MACHINES, machine_by_name, machine_names, match_machine

AURORA_BIND = (
    "--cpu-bind=list:1-8:9-16:17-24:25-32:33-40:41-48:53-60:61-68:69-76:77-84:85-92:93-100"
)


@pytest.mark.parametrize(
    ("hostname", "env", "name"),
    [
        pytest.param("x4514c6s0b0n0", {}, "aurora", id="aurora-compute"),
        pytest.param(
            "x4514c6s0b0n0.hsn.cm.aurora.alcf.anl.gov", {}, "aurora", id="aurora-compute-fqdn"
        ),
        pytest.param("x4514c6s0b0n0-hsn0", {}, "aurora", id="aurora-compute-hsn-interface"),
        pytest.param("X4514C6S0B0N0", {}, "aurora", id="aurora-upper-case"),
        pytest.param("aurora-uan-0010", {}, "aurora", id="aurora-login"),
        pytest.param("uan-0010.aurora.alcf.anl.gov", {}, "aurora", id="aurora-domain"),
        pytest.param("x1921c0s0b0n0", {}, "sunspot", id="sunspot-compute"),
        pytest.param("uan-0001", {}, "sunspot", id="sunspot-login"),
        pytest.param("x3005c0s13b0n0", {}, "polaris", id="polaris-compute"),
        pytest.param(
            "x3005c0s13b0n0.hsn.cm.polaris.alcf.anl.gov", {}, "polaris", id="polaris-fqdn"
        ),
        pytest.param("polaris-login-02", {}, "polaris", id="polaris-login"),
        pytest.param("sirius-login-01", {}, "sirius", id="sirius-login"),
        pytest.param("x3005c0s13b0n0.sirius.alcf.anl.gov", {}, "sirius", id="sirius-in-fqdn"),
        pytest.param(
            "x3005c0s13b0n0",
            {"PBS_O_HOST": "sirius-login-01"},
            "sirius",
            id="sirius-by-pbs-o-host",
        ),
        pytest.param(
            "x3005c0s13b0n0", {"PBS_O_HOST": "Sirius-Login-01"}, "sirius", id="sirius-env-any-case"
        ),
        pytest.param(
            "x3005c0s13b0n0",
            {"PBS_O_HOST": "polaris-login-01"},
            "polaris",
            id="polaris-despite-pbs-o-host",
        ),
        pytest.param("sophia-gpu-07", {}, "sophia", id="sophia"),
        pytest.param("thetagpu12", {}, "thetagpu", id="thetagpu"),
        pytest.param("nid001234", {}, "perlmutter", id="perlmutter-compute"),
        pytest.param("login01", {"NERSC_HOST": "perlmutter"}, "perlmutter", id="perlmutter-login"),
        pytest.param("login01.perlmutter.nersc.gov", {}, "perlmutter", id="perlmutter-login-fqdn"),
        pytest.param("frontier01234", {}, "frontier", id="frontier-compute"),
        pytest.param(
            "frontier01234.frontier.olcf.ornl.gov", {}, "frontier", id="frontier-compute-fqdn"
        ),
        pytest.param(
            "login08", {"LMOD_SYSTEM_NAME": "frontier"}, "frontier", id="frontier-by-lmod"
        ),
    ],
)
def test_known_hosts_match_their_machine(hostname, env, name):
    assert match_machine(hostname, env).name == name


@pytest.mark.parametrize(
    ("hostname", "env"),
    [
        pytest.param("x1-carbon", {}, id="laptop-x1-carbon-is-not-sunspot"),
        pytest.param("x1yoga", {}, id="x1-prefix-is-not-sunspot"),
        pytest.param("login3", {}, id="login-without-nersc-host-is-not-perlmutter"),
        pytest.param("login01", {"NERSC_HOST": "cori"}, id="login-on-other-nersc-system"),
        pytest.param("nid001", {}, id="short-nid-is-not-perlmutter"),
        pytest.param("x3-something", {}, id="x3-prefix-is-not-polaris"),
        pytest.param("x4-laptop", {}, id="x4-prefix-is-not-aurora"),
        pytest.param("x40c1s1b1n1", {}, id="too-few-rack-digits"),
        pytest.param("theta", {}, id="a-laptop-called-theta-is-not-thetagpu"),
        pytest.param("aurora-mbp", {}, id="a-laptop-called-aurora-is-not-aurora"),
        pytest.param("sophia-laptop", {}, id="a-laptop-called-sophia-is-not-sophia"),
        pytest.param("polaris-pc", {}, id="a-pc-called-polaris-is-not-polaris"),
        pytest.param("mylaptop", {}, id="laptop"),
        pytest.param("localhost", {}, id="localhost"),
        pytest.param("", {}, id="empty-hostname"),
        pytest.param("mybox", {"NERSC_HOST": ""}, id="empty-env-value"),
        pytest.param("mybox", {"LMOD_SYSTEM_NAME": "frontier-dev"}, id="lmod-not-exact"),
    ],
)
def test_other_hosts_are_generic(hostname, env):
    assert match_machine(hostname, env) is GENERIC


@pytest.mark.parametrize(
    ("name", "scheduler", "accelerators", "accelerator", "flavour"),
    [
        ("aurora", SchedulerKind.PBS, 12, "xpu", Flavour.PALS),
        ("sunspot", SchedulerKind.PBS, 12, "xpu", Flavour.PALS),
        ("polaris", SchedulerKind.PBS, 4, "cuda", Flavour.PALS),
        ("sirius", SchedulerKind.PBS, 4, "cuda", Flavour.PALS),
        ("sophia", SchedulerKind.PBS, 8, "cuda", Flavour.OPENMPI),
        ("thetagpu", SchedulerKind.PBS, 8, "cuda", Flavour.PALS),
        ("perlmutter", SchedulerKind.SLURM, 4, "cuda", Flavour.SRUN),
        ("frontier", SchedulerKind.SLURM, 8, "rocm", Flavour.SRUN),
        ("generic", None, 0, "", None),
    ],
)
def test_machine_scheduler_accelerators_and_job_flavour(
    name, scheduler, accelerators, accelerator, flavour
):
    machine = machine_by_name(name)
    assert (
        machine.scheduler,
        machine.accelerators_per_host,
        machine.accelerator,
        machine.job_flavour,
    ) == (scheduler, accelerators, accelerator, flavour)


@pytest.mark.parametrize(
    ("name", "cpu_bind"),
    [
        ("aurora", (AURORA_BIND,)),
        ("sunspot", (AURORA_BIND,)),
        ("polaris", ("--cpu-bind=depth", "--depth=8")),
        ("sirius", ("--cpu-bind=depth", "--depth=8")),
        ("thetagpu", ("--cpu-bind=depth", "--depth=8")),
        ("sophia", ()),
        ("perlmutter", ()),
        ("frontier", ()),
    ],
)
def test_machine_default_cpu_binding(name, cpu_bind):
    assert machine_by_name(name).cpu_bind == cpu_bind


@pytest.mark.parametrize(
    ("name", "domain"),
    [
        ("aurora", ".hsn.cm.aurora.alcf.anl.gov"),
        ("polaris", ".hsn.cm.polaris.alcf.anl.gov"),
        ("sirius", ".hsn.cm.sirius.alcf.anl.gov"),
        ("sophia", ".lab.alcf.anl.gov"),
        ("perlmutter", ""),
        ("frontier", ""),
        ("generic", ""),
    ],
)
def test_machine_rendezvous_domain(name, domain):
    assert machine_by_name(name).rendezvous_domain == domain


@pytest.mark.parametrize(
    ("name", "profile"),
    [("aurora", "aurora"), ("sunspot", "aurora"), ("polaris", None), ("generic", None)],
)
def test_machine_log_filter_profile(name, profile):
    assert machine_by_name(name).filter_profile == profile


@pytest.mark.parametrize(
    "spelling", ["aurora", "Aurora", "AURORA", "  aurora ", "aUrOrA"], ids=repr
)
def test_machine_by_name_ignores_case_and_surrounding_spaces(spelling):
    assert machine_by_name(spelling).name == "aurora"


@pytest.mark.parametrize("name", [m.name for m in (*MACHINES, GENERIC)])
def test_machine_by_name_finds_every_table_row(name):
    assert machine_by_name(name).name == name


def test_machine_names_lists_every_machine_and_generic():
    assert machine_names() == [
        "aurora",
        "sunspot",
        "sirius",
        "polaris",
        "sophia",
        "thetagpu",
        "perlmutter",
        "frontier",
        "generic",
    ]


@pytest.mark.parametrize("name", ["summit", "", "auroras", "aurora-uan-0010"])
def test_unknown_machine_name_is_a_usage_error_listing_known_names(name):
    with pytest.raises(UsageError) as info:
        machine_by_name(name)
    message = str(info.value)
    assert message.startswith(f"--machine={name!r} is not a known machine; choose one of: ")
    assert all(known in message for known in machine_names())
    assert info.value.exit_code == 2


def test_unknown_machine_error_names_the_given_source():
    with pytest.raises(UsageError, match=r"^EZPZ_MACHINE='summit' is not a known machine"):
        machine_by_name("summit", source="EZPZ_MACHINE")


def test_every_machine_in_the_table_has_a_unique_name_and_a_rule():
    names = [m.name for m in MACHINES]
    assert len(names) == len(set(names))
    assert all(m.rules for m in MACHINES)
