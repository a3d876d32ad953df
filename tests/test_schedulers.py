"""Which scheduler a system has, whether this shell is inside one of its jobs, and
which hosts the job holds.

There is no PBS server and no Slurm controller here, so jobs are emulated exactly
as the batch systems present them to a shell in the job: the environment variables
PBS/Slurm set (``PBS_JOBID``, ``PBS_NODEFILE``, ``SLURM_JOB_ID``,
``SLURM_JOB_NODELIST``, ...) and, for PBS, the nodefile on disk in the aux
directory (a ``tmp_path`` copy of ``/var/spool/pbs/aux``). A login node is emulated
by what tells it apart: the batch client (``qsub``/``sbatch``) as an executable file
on ``PATH`` and no job variables. Values follow the reference's vectors (AUR2,
Polaris, Slurm vector 31) in /work/shared/reference/ezpz-launch.md sections 1-2.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

import pytest

from ezpz_core.errors import UsageError
from ezpz_core.kinds import SchedulerKind
from ezpz_core.machines import GENERIC, machine_by_name
from ezpz_core.schedulers import Context, detect_scheduler
from tests.fakes import AURORA_HOSTS, AURORA_JOBID, detect, make_pbs_job

FIRST_HOST = "x4514c6s0b0n0"  # short name of the AUR2 job's first node


def make_bin(tmp: Path, programs: Mapping[str, str], name: str = "bin") -> str:
    """A directory holding executable shell scripts, to be used as PATH."""
    bindir = tmp / name
    bindir.mkdir(parents=True, exist_ok=True)
    for program, body in programs.items():
        script = bindir / program
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(bindir)


@pytest.fixture
def empty_path(tmp_path: Path) -> str:
    """A PATH with no programs at all (no qsub, sbatch, qstat, nvidia-smi)."""
    return make_bin(tmp_path, {}, name="empty-bin")


# --------------------------------------------------------------------------
# Precedence: the first rule that answers wins
# --------------------------------------------------------------------------


def test_forced_scheduler_beats_every_other_rule(tmp_path: Path) -> None:
    """``--scheduler`` wins over EZPZ_SCHEDULER, job variables, machine and PATH."""
    job = make_pbs_job(
        tmp_path,
        extra_env={
            "EZPZ_SCHEDULER": "pbs",
            "SLURM_JOB_ID": "1234",
            "PATH": make_bin(tmp_path, {"qsub": "exit 0"}),
        },
    )
    found = detect(job.env, hostname=FIRST_HOST, context=job.context, scheduler=SchedulerKind.SLURM)
    assert found.scheduler is SchedulerKind.SLURM
    assert found.scheduler_source == "--scheduler"
    # The forced scheduler's own variables decide the job: SLURM_JOB_ID=1234.
    assert found.job_id == "1234"


def test_forced_local_inside_a_pbs_job_is_not_in_a_job(tmp_path: Path) -> None:
    job = make_pbs_job(tmp_path)
    found = detect(job.env, hostname=FIRST_HOST, context=job.context, scheduler=SchedulerKind.LOCAL)
    assert found.scheduler is SchedulerKind.LOCAL
    assert not found.in_job
    assert found.job_id is None
    assert found.allocation.hosts == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("slurm", SchedulerKind.SLURM),
        ("SLURM", SchedulerKind.SLURM),
        ("Local", SchedulerKind.LOCAL),
        (" pbs ", SchedulerKind.PBS),
    ],
)
def test_ezpz_scheduler_any_case_beats_job_variables(
    tmp_path: Path, value: str, expected: SchedulerKind
) -> None:
    """EZPZ_SCHEDULER is read in any case and wins over PBS_JOBID/SLURM_JOB_ID."""
    env = {
        "PATH": make_bin(tmp_path, {}),
        "EZPZ_SCHEDULER": value,
        "PBS_JOBID": AURORA_JOBID,
        "SLURM_JOB_ID": "1234",
    }
    choice = detect_scheduler(env, machine_by_name("aurora"))
    assert choice.kind is expected
    assert choice.source == "EZPZ_SCHEDULER"


@pytest.mark.parametrize("value", ["", "auto", "AUTO", "  "])
def test_ezpz_scheduler_auto_or_empty_falls_through(tmp_path: Path, value: str) -> None:
    env = {"PATH": make_bin(tmp_path, {}), "EZPZ_SCHEDULER": value, "SLURM_JOB_ID": "77"}
    choice = detect_scheduler(env, GENERIC)
    assert choice.kind is SchedulerKind.SLURM
    assert choice.source == "SLURM_JOB_ID"


@pytest.mark.parametrize("value", ["lsf", "PBSPro", "slurm2"])
def test_invalid_ezpz_scheduler_is_a_usage_error_naming_the_variable(
    tmp_path: Path, value: str
) -> None:
    """ezpz upper-cased any value and carried on; we refuse it and say where it came from."""
    env = {"PATH": make_bin(tmp_path, {}), "EZPZ_SCHEDULER": value}
    with pytest.raises(UsageError) as info:
        detect(env)
    message = str(info.value)
    assert "EZPZ_SCHEDULER" in message
    assert repr(value) in message


def test_pbs_jobid_makes_pbs(empty_path: str) -> None:
    choice = detect_scheduler({"PATH": empty_path, "PBS_JOBID": AURORA_JOBID}, GENERIC)
    assert choice.kind is SchedulerKind.PBS
    assert choice.source == "PBS_JOBID"


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_pbs_jobid_is_unset(empty_path: str, value: str) -> None:
    env = {"PATH": empty_path, "PBS_JOBID": value}
    found = detect(env)
    assert found.scheduler is SchedulerKind.LOCAL
    assert not found.in_job
    assert found.job_id is None


@pytest.mark.parametrize("name", ["SLURM_JOB_ID", "SLURM_JOBID"])
def test_slurm_job_variables_make_slurm(empty_path: str, name: str) -> None:
    choice = detect_scheduler({"PATH": empty_path, name: "4242"}, GENERIC)
    assert choice.kind is SchedulerKind.SLURM
    assert choice.source == name


def test_empty_slurm_job_id_is_unset(empty_path: str) -> None:
    choice = detect_scheduler({"PATH": empty_path, "SLURM_JOB_ID": ""}, GENERIC)
    assert choice.kind is SchedulerKind.LOCAL


def test_both_pbs_and_slurm_job_ids_pbs_wins(tmp_path: Path) -> None:
    """Reference 1.1: if both PBS_JOBID and SLURM_JOB_ID are present, PBS wins."""
    job = make_pbs_job(tmp_path, extra_env={"SLURM_JOB_ID": "1234"})
    found = detect(job.env, hostname=FIRST_HOST, context=job.context)
    assert found.scheduler is SchedulerKind.PBS
    assert found.scheduler_source == "PBS_JOBID"
    assert found.job_id == "8414055"


def test_job_variables_beat_the_machine_table(empty_path: str) -> None:
    """A Slurm job on a host the table calls Aurora is still a Slurm job."""
    env = {"PATH": empty_path, "SLURM_JOB_ID": "99", "SLURM_JOB_NODELIST": FIRST_HOST}
    found = detect(env, hostname=FIRST_HOST)
    assert found.machine.name == "aurora"
    assert found.scheduler is SchedulerKind.SLURM


@pytest.mark.parametrize(
    ("hostname", "machine", "expected"),
    [
        ("x4514c6s0b0n0", "aurora", SchedulerKind.PBS),
        ("x4514c6s0b0n0.hsn.cm.aurora.alcf.anl.gov", "aurora", SchedulerKind.PBS),
        ("aurora-uan-0010", "aurora", SchedulerKind.PBS),
        ("x3005c0s13b0n0", "polaris", SchedulerKind.PBS),
        ("sophia-gpu-07", "sophia", SchedulerKind.PBS),
        ("nid001234", "perlmutter", SchedulerKind.SLURM),
        ("frontier00042", "frontier", SchedulerKind.SLURM),
        # ezpz defects: any login* host was Perlmutter, any x1* host SunSpot.
        ("login3", "generic", SchedulerKind.LOCAL),
        ("x1-carbon", "generic", SchedulerKind.LOCAL),
    ],
)
def test_machine_table_by_hostname(
    empty_path: str, hostname: str, machine: str, expected: SchedulerKind
) -> None:
    found = detect({"PATH": empty_path}, hostname=hostname)
    assert found.machine.name == machine
    assert found.scheduler is expected
    assert not found.in_job
    assert found.job_id is None
    if expected is not SchedulerKind.LOCAL:
        assert found.scheduler_source == f"machine table ({machine})"


def test_machine_override_beats_hostname(empty_path: str) -> None:
    found = detect({"PATH": empty_path}, hostname="nid001234", machine="polaris")
    assert found.machine.name == "polaris"
    assert found.machine_source == "--machine"
    assert found.scheduler is SchedulerKind.PBS


def test_ezpz_machine_env_beats_hostname(empty_path: str) -> None:
    found = detect({"PATH": empty_path, "EZPZ_MACHINE": "Frontier"}, hostname=FIRST_HOST)
    assert found.machine.name == "frontier"
    assert found.machine_source == "EZPZ_MACHINE"
    assert found.scheduler is SchedulerKind.SLURM


def test_machine_flag_beats_ezpz_machine_env(empty_path: str) -> None:
    found = detect({"PATH": empty_path, "EZPZ_MACHINE": "frontier"}, machine="aurora")
    assert found.machine.name == "aurora"
    assert found.scheduler is SchedulerKind.PBS


def test_unknown_machine_name_is_a_usage_error(empty_path: str) -> None:
    with pytest.raises(UsageError, match="EZPZ_MACHINE"):
        detect({"PATH": empty_path, "EZPZ_MACHINE": "bluegene"})


def test_machine_table_beats_clients_on_path(tmp_path: Path) -> None:
    """A Perlmutter node that also has a qsub wrapper on PATH stays Slurm."""
    env = {"PATH": make_bin(tmp_path, {"qsub": "exit 0"})}
    found = detect(env, hostname="nid001234")
    assert found.scheduler is SchedulerKind.SLURM
    assert found.scheduler_source == "machine table (perlmutter)"


@pytest.mark.parametrize(
    ("clients", "expected"),
    [
        (("qsub",), SchedulerKind.PBS),
        (("sbatch",), SchedulerKind.SLURM),
        (("qsub", "sbatch"), SchedulerKind.PBS),
    ],
)
def test_clients_on_path(tmp_path: Path, clients: tuple[str, ...], expected: SchedulerKind) -> None:
    """Only the emulated client directory is on PATH; the hostname matches no machine."""
    env = {"PATH": make_bin(tmp_path, dict.fromkeys(clients, "exit 0"))}
    found = detect(env, hostname="cluster-login1")
    assert found.machine.name == "generic"
    assert found.scheduler is expected
    first = clients[0]
    assert found.scheduler_source == f"{first} on PATH"


def test_client_that_is_not_executable_is_not_a_client(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "qsub").write_text("#!/bin/sh\nexit 0\n")  # mode 0644: not runnable
    found = detect({"PATH": str(bindir)}, hostname="cluster-login1")
    assert found.scheduler is SchedulerKind.LOCAL


def test_clients_are_looked_up_on_the_given_path_not_the_process_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """detect_job reads the environment it is given, not os.environ."""
    monkeypatch.setenv("PATH", make_bin(tmp_path, {"qsub": "exit 0"}, name="process-bin"))
    found = detect({"PATH": make_bin(tmp_path, {}, name="given-bin")}, hostname="laptop")
    assert found.scheduler is SchedulerKind.LOCAL


def test_nothing_found_is_local(empty_path: str) -> None:
    found = detect({"PATH": empty_path, "HOME": "/home/me"}, hostname="laptop")
    assert found.scheduler is SchedulerKind.LOCAL
    assert found.scheduler_source == "no scheduler found"
    assert not found.in_job
    assert found.job_id is None
    assert found.allocation.hosts == ()
    assert found.allocation.nhosts is None
    assert found.allocation.error is None
    assert found.warnings == ()


# --------------------------------------------------------------------------
# "The system has PBS" is not "inside a PBS job"
# --------------------------------------------------------------------------


def test_login_node_with_qsub_is_pbs_but_not_in_a_job(tmp_path: Path) -> None:
    """A generic PBS login node: qsub on PATH, no PBS_JOBID."""
    env = {"PATH": make_bin(tmp_path, {"qsub": "exit 0"}), "HOME": "/home/me"}
    found = detect(env, hostname="cluster-login1")
    assert found.scheduler is SchedulerKind.PBS
    assert found.in_job is False
    assert found.job_id is None
    assert found.allocation.hosts == ()
    assert found.allocation.error is None


def test_aurora_login_node_is_pbs_but_not_in_a_job(empty_path: str) -> None:
    found = detect({"PATH": empty_path}, hostname="aurora-uan-0010")
    assert found.scheduler is SchedulerKind.PBS
    assert found.in_job is False
    assert found.job_id is None


def test_slurm_login_node_with_sbatch_is_slurm_but_not_in_a_job(tmp_path: Path) -> None:
    env = {"PATH": make_bin(tmp_path, {"sbatch": "exit 0"}), "SLURM_NNODES": "4"}
    found = detect(env, hostname="cluster-login1")
    assert found.scheduler is SchedulerKind.SLURM
    assert found.in_job is False
    assert found.job_id is None
    assert found.allocation.nhosts is None


# --------------------------------------------------------------------------
# PBS, emulated as on Aurora and Polaris
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jobid", "short"),
    [
        (AURORA_JOBID, "8414055"),
        ("123456.polaris-pbs-01", "123456"),
        ("8414055", "8414055"),
    ],
)
def test_pbs_job_id_is_cut_at_the_first_dot(tmp_path: Path, jobid: str, short: str) -> None:
    job = make_pbs_job(tmp_path, jobid=jobid)
    found = detect(job.env, hostname=FIRST_HOST, context=job.context)
    assert found.in_job
    assert found.job_id == short


def test_pbs_aur2_from_pbs_nodefile(aurora) -> None:
    """Reference fixture AUR2: two Aurora nodes, the local host is the first."""
    found = detect(aurora.env, hostname=FIRST_HOST, context=aurora.context)
    alloc = found.allocation
    assert found.scheduler is SchedulerKind.PBS
    assert found.machine.name == "aurora"
    assert found.job_id == "8414055"
    assert alloc.hosts == AURORA_HOSTS
    assert alloc.slots == (1, 1)
    assert alloc.nhosts == 2
    assert alloc.hostfile == aurora.nodefile
    assert alloc.source == "PBS_NODEFILE"
    assert alloc.error is None
    assert found.warnings == ()


def test_pbs_nodefile_variable_beats_the_aux_dir(tmp_path: Path) -> None:
    """PBS_NODEFILE names the file to read even when the aux dir has another one."""
    job = make_pbs_job(tmp_path)
    elsewhere = tmp_path / "elsewhere" / "nodefile"
    elsewhere.parent.mkdir()
    elsewhere.write_text("x4514c6s0b0n0\nx4514c6s2b0n0\nx4514c6s3b0n0\n")
    env = {**job.env, "PBS_NODEFILE": str(elsewhere)}
    found = detect(env, hostname=FIRST_HOST, context=job.context)
    assert found.allocation.hosts == ("x4514c6s0b0n0", "x4514c6s2b0n0", "x4514c6s3b0n0")
    assert found.allocation.hostfile == str(elsewhere)


def test_pbs_without_nodefile_variable_reads_aux_dir_exact_name(tmp_path: Path) -> None:
    """With PBS_NODEFILE unset the nodefile is ``<aux>/<full PBS_JOBID>``, that exact
    name. ezpz picked the aux entry whose name *contained* the short id; decoys for
    other jobs sharing that prefix must not be read."""
    job = make_pbs_job(tmp_path, set_nodefile_var=False)
    aux = Path(job.context.pbs_aux_dir)
    (aux / "84140551.aurora-pbs-0001.hostmgmt.cm.aurora.alcf.anl.gov").write_text("decoy-a\n")
    (aux / "84140551.other").write_text("decoy-b\n")
    (aux / "8414055").write_text("decoy-c\n")
    found = detect(job.env, hostname=FIRST_HOST, context=job.context)
    alloc = found.allocation
    assert alloc.error is None
    assert alloc.hosts == AURORA_HOSTS
    assert alloc.hostfile == job.nodefile
    assert "aux" in alloc.source


def test_pbs_aux_dir_decoys_are_never_read_when_own_nodefile_missing(tmp_path: Path) -> None:
    """Only decoys exist (other ids, and the short id without server): no guessing."""
    job = make_pbs_job(tmp_path, set_nodefile_var=False)
    os.remove(job.nodefile)
    aux = Path(job.context.pbs_aux_dir)
    (aux / "84140551.other").write_text("decoy-b\n")
    (aux / "8414055").write_text("decoy-c\n")
    found = detect(job.env, hostname=FIRST_HOST, context=job.context)
    alloc = found.allocation
    assert found.in_job
    assert found.job_id == "8414055"
    assert alloc.hosts == ()
    assert alloc.error is not None
    assert job.nodefile in alloc.error
    assert "--hostfile" in alloc.error


def test_pbs_missing_nodefile_from_variable_is_an_allocation_error(tmp_path: Path) -> None:
    job = make_pbs_job(tmp_path)
    missing = str(tmp_path / "gone" / "8414055.nodefile")
    env = {**job.env, "PBS_NODEFILE": missing}
    found = detect(env, hostname=FIRST_HOST, context=job.context)  # must not raise
    alloc = found.allocation
    assert found.in_job
    assert found.job_id == "8414055"
    assert alloc.hosts == ()
    assert alloc.error is not None
    assert missing in alloc.error
    assert "--hostfile" in alloc.error


def test_pbs_missing_aux_nodefile_is_an_allocation_error(tmp_path: Path) -> None:
    job = make_pbs_job(tmp_path, set_nodefile_var=False)
    os.remove(job.nodefile)
    found = detect(job.env, hostname=FIRST_HOST, context=job.context)
    alloc = found.allocation
    assert alloc.hosts == ()
    assert alloc.error is not None
    assert job.nodefile in alloc.error
    assert "--hostfile" in alloc.error


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"x4514c6s0b0n0.hsn.cm.aurora.alcf.anl.gov\n\x00\x00\x00\x01\n", 2),
        (b"x4514c6s0b0n0\nx4514c6s1b0n0\n\xff\xfe\x89PNG\n", 3),
    ],
)
def test_pbs_binary_nodefile_is_an_allocation_error_naming_file_and_line(
    tmp_path: Path, data: bytes, line: int
) -> None:
    job = make_pbs_job(tmp_path)
    Path(job.nodefile).write_bytes(data)
    found = detect(job.env, hostname=FIRST_HOST, context=job.context)  # must not raise
    alloc = found.allocation
    assert alloc.hosts == ()
    assert alloc.error is not None
    assert job.nodefile in alloc.error
    assert f"line {line}" in alloc.error
    assert "--hostfile" in alloc.error


@pytest.mark.parametrize("content", ["", "\n\n", "# written by hand\n"])
def test_pbs_nodefile_without_hosts_is_an_allocation_error(tmp_path: Path, content: str) -> None:
    job = make_pbs_job(tmp_path)
    Path(job.nodefile).write_text(content)
    found = detect(job.env, hostname=FIRST_HOST, context=job.context)
    assert found.allocation.hosts == ()
    assert found.allocation.error is not None
    assert job.nodefile in found.allocation.error
    assert "--hostfile" in found.allocation.error


def test_pbs_never_needs_qstat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ezpz ran ``qstat -fn1wru`` to list the job's nodes. Here qstat is absent from
    the job's PATH, and a trap qstat that records any call sits on the process PATH:
    detection must work and never run it."""
    marker = tmp_path / "qstat-was-run"
    trap = make_bin(tmp_path, {"qstat": f'touch "{marker}"\nexit 1'}, name="trap-bin")
    monkeypatch.setenv("PATH", f"{trap}{os.pathsep}{os.environ.get('PATH', '')}")
    job = make_pbs_job(tmp_path, extra_env={"PATH": make_bin(tmp_path, {})})
    found = detect(job.env, hostname=FIRST_HOST, context=job.context)
    assert found.allocation.hosts == AURORA_HOSTS
    assert found.allocation.error is None
    assert not marker.exists()


def test_pbs_mpiprocs_repeats_are_slots_not_hosts(tmp_path: Path) -> None:
    """``select=2:mpiprocs=4``: PBS writes each host four times, one line per slot."""
    hosts = [h for h in AURORA_HOSTS for _ in range(4)]
    job = make_pbs_job(tmp_path, hosts=hosts)
    found = detect(job.env, hostname=FIRST_HOST, context=job.context)
    alloc = found.allocation
    assert alloc.hosts == AURORA_HOSTS
    assert alloc.slots == (4, 4)
    assert alloc.nhosts == 2
    # Equal repeats are how PBS always writes the file: nothing to warn about.
    assert found.warnings == ()


def test_pbs_uneven_repeats_count_once_and_warn(tmp_path: Path) -> None:
    """Reference vector 29 (AUR2 with a third, duplicate line): ezpz counted 3 nodes."""
    job = make_pbs_job(tmp_path, hosts=(*AURORA_HOSTS, AURORA_HOSTS[0]))
    found = detect(job.env, hostname=FIRST_HOST, context=job.context)
    alloc = found.allocation
    assert alloc.hosts == AURORA_HOSTS
    assert alloc.slots == (2, 1)
    assert alloc.nhosts == 2
    assert any("more than once" in w for w in found.warnings)


def test_local_host_not_in_nodefile_warns(aurora) -> None:
    found = detect(aurora.env, hostname="x4102c1s0b0n0", context=aurora.context)
    assert found.in_job
    assert found.allocation.hosts == AURORA_HOSTS
    assert len(found.warnings) == 1
    assert "x4102c1s0b0n0" in found.warnings[0]
    assert "8414055" in found.warnings[0]


@pytest.mark.parametrize(
    "hostname", [FIRST_HOST, "x4514c6s1b0n0.hsn.cm.aurora.alcf.anl.gov", "X4514C6S0B0N0"]
)
def test_local_host_in_nodefile_does_not_warn(aurora, hostname: str) -> None:
    """The nodefile holds FQDNs; the local short name (any case) is the same host."""
    found = detect(aurora.env, hostname=hostname, context=aurora.context)
    assert found.warnings == ()


def test_stray_slurm_nnodes_is_ignored_in_a_pbs_job(tmp_path: Path) -> None:
    """Reference vector 30: AUR2 plus SLURM_NNODES=1 sized ezpz's job as one node."""
    job = make_pbs_job(
        tmp_path,
        extra_env={"NGPU_PER_HOST": "12", "SLURM_NNODES": "1", "SLURM_NODELIST": "nid001"},
    )
    found = detect(job.env, hostname=FIRST_HOST, context=job.context)
    assert found.scheduler is SchedulerKind.PBS
    assert found.allocation.hosts == AURORA_HOSTS
    assert found.allocation.nhosts == 2
    assert found.allocation.host_count is None


def test_pbs_allocation_defaults_to_the_real_aux_dir() -> None:
    assert Context().pbs_aux_dir == "/var/spool/pbs/aux"


# --------------------------------------------------------------------------
# Slurm, emulated as on Perlmutter
# --------------------------------------------------------------------------


def test_slurm_vector_31(empty_path: str) -> None:
    """Reference vector 31: SLURM_JOB_ID=1234, SLURM_NODELIST=nid[001-002]."""
    env = {
        "PATH": empty_path,
        "SLURM_JOB_ID": "1234",
        "SLURM_NODELIST": "nid[001-002]",
        "SLURM_NNODES": "2",
        "NGPU_PER_HOST": "4",
    }
    found = detect(env, hostname="nid001")
    alloc = found.allocation
    assert found.scheduler is SchedulerKind.SLURM
    assert found.in_job
    assert found.job_id == "1234"
    assert alloc.hosts == ("nid001", "nid002")
    assert alloc.slots == (1, 1)
    assert alloc.nodelist == "nid[001-002]"
    assert alloc.source == "SLURM_NODELIST"
    assert alloc.error is None
    assert found.warnings == ()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SLURM_JOB_ID": "1234"}, "1234"),
        ({"SLURM_JOBID": "98765"}, "98765"),
        ({"SLURM_JOB_ID": "1234", "SLURM_JOBID": "5678"}, "1234"),
        ({"SLURM_JOB_ID": "", "SLURM_JOBID": "5678"}, "5678"),
    ],
)
def test_slurm_job_id(empty_path: str, env: dict[str, str], expected: str) -> None:
    full = {"PATH": empty_path, "SLURM_JOB_NODELIST": "nid000001", **env}
    found = detect(full, hostname="nid000001")
    assert found.job_id == expected


@pytest.mark.parametrize(
    ("nodelist", "hosts"),
    [
        ("nid001234", ("nid001234",)),
        ("nid[001-003,007]", ("nid001", "nid002", "nid003", "nid007")),
        ("a[1-2],b[3-4]", ("a1", "a2", "b3", "b4")),
        ("nid001,nid002", ("nid001", "nid002")),  # ezpz: one bogus host "nid001,nid002"
        ("nid[001-002],login[01-02]", ("nid001", "nid002", "login01", "login02")),
        ("node[1-2]-ib", ("node1-ib", "node2-ib")),
        ("x[1-2]c[3-4]", ("x1c3", "x1c4", "x2c3", "x2c4")),
        ("nid[8-10]", ("nid8", "nid9", "nid10")),
        ("nid[08-10]", ("nid08", "nid09", "nid10")),
    ],
)
def test_slurm_nodelist_every_form(empty_path: str, nodelist: str, hosts: tuple[str, ...]) -> None:
    env = {"PATH": empty_path, "SLURM_JOB_ID": "1234", "SLURM_JOB_NODELIST": nodelist}
    found = detect(env, hostname=hosts[0])
    assert found.allocation.hosts == hosts
    assert found.allocation.nhosts == len(hosts)
    assert found.allocation.source == "SLURM_JOB_NODELIST"
    assert found.allocation.error is None


def test_slurm_job_nodelist_beats_nodelist(empty_path: str) -> None:
    env = {
        "PATH": empty_path,
        "SLURM_JOB_ID": "1234",
        "SLURM_JOB_NODELIST": "nid[001-002]",
        "SLURM_NODELIST": "nid[005-007]",
    }
    found = detect(env, hostname="nid001")
    assert found.allocation.hosts == ("nid001", "nid002")
    assert found.allocation.source == "SLURM_JOB_NODELIST"


def test_slurm_nnodes_alone_gives_a_host_count(empty_path: str) -> None:
    env = {"PATH": empty_path, "SLURM_JOB_ID": "1234", "SLURM_NNODES": "8"}
    found = detect(env, hostname="nid001")
    alloc = found.allocation
    assert alloc.hosts == ()
    assert alloc.host_count == 8
    assert alloc.nhosts == 8
    assert alloc.source == "SLURM_NNODES"
    assert alloc.error is None


def test_slurm_job_without_nodes_is_an_allocation_error(empty_path: str) -> None:
    found = detect({"PATH": empty_path, "SLURM_JOB_ID": "1234"}, hostname="nid001")
    assert found.in_job
    assert found.allocation.nhosts is None
    assert found.allocation.error is not None
    assert "--hostfile" in found.allocation.error


@pytest.mark.parametrize("name", ["SLURM_JOB_NODELIST", "SLURM_NODELIST"])
@pytest.mark.parametrize("nodelist", ["nid[001-", "nid[005-003]", "nid[001-002]x["])
def test_slurm_invalid_nodelist_is_an_allocation_error_naming_the_variable(
    empty_path: str, name: str, nodelist: str
) -> None:
    env = {"PATH": empty_path, "SLURM_JOB_ID": "1234", name: nodelist}
    found = detect(env, hostname="nid001")  # must not raise
    alloc = found.allocation
    assert found.in_job
    assert alloc.hosts == ()
    assert alloc.error is not None
    assert name in alloc.error
    assert nodelist in alloc.error


def test_slurm_local_host_not_in_nodelist_warns(empty_path: str) -> None:
    env = {"PATH": empty_path, "SLURM_JOB_ID": "1234", "SLURM_JOB_NODELIST": "nid[001-002]"}
    found = detect(env, hostname="nid009")
    assert any("nid009" in w and "1234" in w for w in found.warnings)


@pytest.mark.parametrize("kind", ["slurm", "pbs"])
def test_detection_writes_nothing_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """ezpz wrote ``./nodefile-<jobid>`` (and ``./hostfile``) on every launch."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "train.py").write_text("print('hi')\n")
    monkeypatch.chdir(workdir)
    if kind == "slurm":
        env = {
            "PATH": make_bin(tmp_path, {}),
            "SLURM_JOB_ID": "1234",
            "SLURM_NODELIST": "nid[001-002]",
            "SLURM_NNODES": "2",
        }
        context = None
        hostname = "nid001"
    else:
        job = make_pbs_job(tmp_path / "pbs", extra_env={"PATH": make_bin(tmp_path, {})})
        env, context, hostname = job.env, job.context, FIRST_HOST
    before = sorted(os.listdir(workdir))
    found = detect(env, hostname=hostname, context=context)
    assert found.in_job
    assert found.allocation.nhosts == 2
    assert sorted(os.listdir(workdir)) == before == ["train.py"]


# --------------------------------------------------------------------------
# Local
# --------------------------------------------------------------------------


def test_local_job(clean_env: dict[str, str], empty_path: str) -> None:
    env = {**clean_env, "PATH": empty_path}
    found = detect(env, hostname="laptop", cpus=8)
    assert found.scheduler is SchedulerKind.LOCAL
    assert found.machine.name == "generic"
    assert found.in_job is False
    assert found.job_id is None
    assert found.allocation.hosts == ()
    assert found.allocation.error is None
    assert found.cpus == 8


def test_stray_slurm_variables_without_job_id_are_not_a_job(empty_path: str) -> None:
    """SLURM_NNODES / SLURM_NODELIST left in a shell without SLURM_JOB_ID: no job."""
    env = {"PATH": empty_path, "SLURM_NNODES": "2", "SLURM_NODELIST": "nid[001-002]"}
    found = detect(env, hostname="laptop")
    assert found.scheduler is SchedulerKind.LOCAL
    assert not found.in_job
    assert found.allocation.hosts == ()
    assert found.allocation.nhosts is None
