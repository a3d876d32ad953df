"""The reference's launch vectors (ezpz-launch.md section 4.8), through plan_launch.

Jobs are emulated as PBS and Slurm present them (env vars, nodefile on disk);
PALS ``mpiexec`` and GPUs cannot exist here, so the launcher probe answers with
recorded ``--version`` texts. Each vector states its reference number; where we
fix a defect the reference lists, the test says which and asserts our fix.
``--no-label`` (RankIO.NONE) gives the exact reference shapes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ezpz_core.errors import HostfileError, TopologyError
from ezpz_core.hostfile import read_hostfile
from ezpz_core.job import Job
from ezpz_core.kinds import LauncherChoice, RankIO
from ezpz_core.launch.plan import LaunchPlan, plan_launch
from ezpz_core.launch.request import LaunchRequest
from tests.fakes import (
    AURORA_BIND,
    AURORA_HOSTS,
    HYDRA_VERSION,
    OPENMPI_VERSION,
    FakeProbe,
    PbsJob,
    detect,
    make_pbs_job,
)

PY = "/opt/venv/bin/python"
TEST_CMD = ("python3", "-m", "ezpz.examples.test")
NO_MPI = FakeProbe()
UNKNOWN_MPIRUN = FakeProbe(found={"mpirun": "mpirun"})  # --version gave nothing
OPENMPI = FakeProbe(found={"mpirun": "mpirun"}, versions={"mpirun": OPENMPI_VERSION})
HYDRA = FakeProbe(found={"mpirun": "mpirun"}, versions={"mpirun": HYDRA_VERSION})


def plan(
    job: Job,
    env: dict[str, str],
    probe: FakeProbe = NO_MPI,
    rank_io: RankIO = RankIO.NONE,
    **fields: object,
) -> LaunchPlan:
    fields.setdefault("command", TEST_CMD)
    request = LaunchRequest(rank_io=rank_io, **fields)  # type: ignore[arg-type]
    user = read_hostfile(request.hostfile) if request.hostfile else None
    return plan_launch(job, request, env=env, probe=probe, user_hostfile=user, python=PY)


def aurora_job(pbs: PbsJob) -> Job:
    return detect(pbs.env, hostname="x4514c6s0b0n0", context=pbs.context)


def pbs_hosts(tmp_path: Path, n: int, ngpu: int, machine: str, **env: str) -> PbsJob:
    hosts = [f"node{i:02d}" for i in range(1, n + 1)]
    extra = {"NGPU_PER_HOST": str(ngpu), "EZPZ_MACHINE": machine, **env}
    return make_pbs_job(tmp_path, jobid="4242.pbs-server", hosts=hosts, extra_env=extra)


def pbs_job(pbs: PbsJob) -> Job:
    return detect(pbs.env, hostname="node01", context=pbs.context)


def slurm_env(**extra: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "SLURM_JOB_ID": "1234",
        "SLURM_NODELIST": "nid[001-002]",
        "SLURM_NNODES": "2",
        "NGPU_PER_HOST": "4",
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v != "<unset>"}


def slurm_job(env: dict[str, str]) -> Job:
    return detect(env, hostname="nid001")


# --- local (no scheduler) --------------------------------------------------------


def test_v1_local_world_size_from_env_with_unknown_mpirun(clean_env: dict[str, str]) -> None:
    env = {**clean_env, "WORLD_SIZE": "4"}
    got = plan(detect(env), env, UNKNOWN_MPIRUN, command=("python", "-m", "ezpz.examples.test"))
    assert got.argv == ("mpirun", "-np", "4", "python", "-m", "ezpz.examples.test")
    assert any("WORLD_SIZE" in w for w in got.warnings)


def test_v2_local_hostfile_with_nhosts_and_ppn(clean_env: dict[str, str], tmp_path: Path) -> None:
    hosts = tmp_path / "H"
    hosts.write_text("node001\nnode002\n")
    got = plan(detect(clean_env), clean_env, UNKNOWN_MPIRUN, hostfile=str(hosts), nhosts=2, ppn=4)
    assert got.argv == (
        "mpirun", "-np", "8", "--hostfile", str(hosts), "--map-by", "ppr:4:node", *TEST_CMD,
    )  # fmt: skip


def test_v3_local_cpu_bind_flag_beats_env(clean_env: dict[str, str]) -> None:
    env = {**clean_env, "WORLD_SIZE": "2", "CPU_BIND": "--cpu-bind=list:0-1"}
    got = plan(detect(env), env, UNKNOWN_MPIRUN, cpu_bind="list:2-3")
    assert got.argv == ("mpirun", "-np", "2", "--cpu-bind=list:2-3", *TEST_CMD)
    assert any("overrides CPU_BIND" in w for w in got.warnings)


def test_v37_local_hydra_uses_envall_and_dash_n(clean_env: dict[str, str]) -> None:
    """Adjusted: the issue asks Hydra for ``-n N`` (ezpz wrote ``-np``)."""
    env = {**clean_env, "WORLD_SIZE": "3"}
    got = plan(detect(env), env, HYDRA, command=("python3", "train.py"))
    assert got.argv == ("mpirun", "-envall", "-n", "3", "python3", "train.py")


def test_v39_local_nhosts_without_hostfile_is_refused(clean_env: dict[str, str]) -> None:
    """Fixed: ezpz ran 8 ranks on this one host when asked for 2 hosts."""
    env = {**clean_env, "NGPU_PER_HOST": "4"}
    with pytest.raises(TopologyError, match="--nhosts 2"):
        plan(detect(env), env, UNKNOWN_MPIRUN, nhosts=2)


def test_v40_local_hostfile_bind_and_passthrough(clean_env: dict[str, str], tmp_path: Path) -> None:
    hosts = tmp_path / "h"
    hosts.write_text("a\nb\n")
    got = plan(
        detect(clean_env), clean_env, UNKNOWN_MPIRUN,
        hostfile=str(hosts), nhosts=2, ppn=4, cpu_bind="core",
        launcher_args=("--oversubscribe",), command=("python3", "x.py"),
    )  # fmt: skip
    assert got.argv == (
        "mpirun", "-np", "8", "--hostfile", str(hosts), "--map-by", "ppr:4:node",
        "--cpu-bind=core", "--oversubscribe", "python3", "x.py",
    )  # fmt: skip


def test_v40_with_open_mpi_binds_with_bind_to(clean_env: dict[str, str], tmp_path: Path) -> None:
    """Fixed: ezpz passed ``--cpu-bind=`` to Open MPI, which does not know it."""
    hosts = tmp_path / "h"
    hosts.write_text("a\nb\n")
    got = plan(
        detect(clean_env), clean_env, OPENMPI,
        hostfile=str(hosts), nhosts=2, ppn=4, cpu_bind="core", command=("python3", "x.py"),
    )  # fmt: skip
    assert got.argv == (
        "mpirun", "-np", "8", "--hostfile", str(hosts), "--map-by", "ppr:4:node",
        "--bind-to", "core", "python3", "x.py",
    )  # fmt: skip


# --- PBS builder vectors (4-8) through emulated PBS jobs -------------------------------


def test_v4_generic_pbs_defaults_to_depth_binding(tmp_path: Path) -> None:
    pbs = pbs_hosts(tmp_path, n=4, ngpu=4, machine="generic")
    got = plan(pbs_job(pbs), pbs.env, command=())
    assert got.argv[:7] == (
        "mpiexec", "--envall", "--line-buffer", "--np=16", "--ppn=4",
        f"--hostfile={pbs.nodefile}", "--cpu-bind=depth",
    )  # fmt: skip
    assert got.argv[7] == "--depth=8"


@pytest.mark.parametrize(
    ("flag", "expected"),
    [(None, "--cpu-bind=list:0-1"), ("list:2-3", "--cpu-bind=list:2-3")],
    ids=["v5-env", "v6-flag"],
)
def test_v5_v6_cpu_bind_env_then_flag(tmp_path: Path, flag: str | None, expected: str) -> None:
    pbs = pbs_hosts(tmp_path, n=1, ngpu=8, machine="generic", CPU_BIND="--cpu-bind=list:0-1")
    got = plan(pbs_job(pbs), pbs.env, cpu_bind=flag, np=8, nhosts=1, command=())
    assert got.argv[3:7] == ("--np=8", "--ppn=8", f"--hostfile={pbs.nodefile}", expected)


def test_v7_aurora_binding_list_and_no_no_vni(tmp_path: Path) -> None:
    pbs = pbs_hosts(tmp_path, n=4, ngpu=4, machine="aurora")
    got = plan(pbs_job(pbs), pbs.env, command=("x",))
    assert got.argv == (
        "mpiexec", "--envall", "--line-buffer", "--np=16", "--ppn=4",
        f"--hostfile={pbs.nodefile}", AURORA_BIND, "x",
    )  # fmt: skip


def test_v8_ranks_not_divisible_by_hosts(tmp_path: Path) -> None:
    pbs = pbs_hosts(tmp_path, n=4, ngpu=4, machine="generic")
    with pytest.raises(TopologyError, match="-n 5 does not divide evenly over 2 host"):
        plan(pbs_job(pbs), pbs.env, np=5, nhosts=2)


# --- Aurora (AUR2) -------------------------------------------------------------------


AUR2_HEAD = ("mpiexec", "--envall", "--line-buffer")


def test_v14_aurora_defaults(aurora: PbsJob) -> None:
    got = plan(aurora_job(aurora), aurora.env)
    assert got.argv == (
        *AUR2_HEAD, "--np=24", "--ppn=12", f"--hostfile={aurora.nodefile}", AURORA_BIND, *TEST_CMD,
    )  # fmt: skip
    assert got.job.job_id == "8414055"
    assert got.hosts == AURORA_HOSTS


def test_v15_aurora_n8_spreads_and_warns(aurora: PbsJob) -> None:
    got = plan(aurora_job(aurora), aurora.env, np=8)
    assert got.argv[3:5] == ("--np=8", "--ppn=4")
    assert any("using 8 of the job's 24 accelerators" in w for w in got.warnings)


@pytest.mark.parametrize(
    ("fields", "np_ppn"),
    [
        ({"np": 2, "ppn": 2}, ("--np=2", "--ppn=2")),  # v16
        ({"ppn": 6}, ("--np=12", "--ppn=6")),  # v17
        ({"nhosts": 1}, ("--np=12", "--ppn=12")),  # v18
    ],
    ids=["v16", "v17", "v18"],
)
def test_v16_to_v18_aurora_topologies(
    aurora: PbsJob, fields: dict[str, int], np_ppn: tuple[str, str]
) -> None:
    got = plan(aurora_job(aurora), aurora.env, command=("python3", "x.py"), **fields)
    assert got.argv == (
        *AUR2_HEAD, *np_ppn, f"--hostfile={aurora.nodefile}", AURORA_BIND, "python3", "x.py",
    )  # fmt: skip


def test_v25_passthrough_before_command_and_command_untouched(aurora: PbsJob) -> None:
    got = plan(
        aurora_job(aurora), aurora.env, np=12, ppn=12,
        launcher_args=("--no-vni",), command=("python3", "x.py", "-n", "5"),
    )  # fmt: skip
    assert got.argv == (
        *AUR2_HEAD, "--np=12", "--ppn=12", f"--hostfile={aurora.nodefile}", AURORA_BIND,
        "--no-vni", "python3", "x.py", "-n", "5",
    )  # fmt: skip


def test_v27_smaller_user_hostfile_warns_partial_use(aurora: PbsJob, tmp_path: Path) -> None:
    one = tmp_path / "one.hosts"
    one.write_text(AURORA_HOSTS[0] + "\n")
    got = plan(aurora_job(aurora), aurora.env, hostfile=str(one), command=("python3", "x.py"))
    assert got.argv[3:7] == ("--np=12", "--ppn=12", f"--hostfile={one}", AURORA_BIND)
    assert any("using 12 of the job's 24" in w for w in got.warnings)


def test_v28_missing_user_hostfile_is_an_error(aurora: PbsJob) -> None:
    """Fixed: ezpz warned and silently used the job's nodefile instead."""
    with pytest.raises(HostfileError, match="/nope/hosts: does not exist"):
        plan(aurora_job(aurora), aurora.env, hostfile="/nope/hosts")


def test_v29_repeated_host_is_a_slot_not_a_node(tmp_path: Path) -> None:
    """Fixed: ezpz counted the third (repeated) line as a node (--np=36)."""
    pbs = make_pbs_job(
        tmp_path, hosts=(*AURORA_HOSTS, AURORA_HOSTS[0]), extra_env={"NGPU_PER_HOST": "12"}
    )
    got = plan(aurora_job(pbs), pbs.env)
    assert got.argv[3:5] == ("--np=24", "--ppn=12")
    assert any("more than once" in w for w in got.warnings)


def test_v30_slurm_nnodes_is_ignored_under_pbs(tmp_path: Path) -> None:
    """Fixed: a stray SLURM_NNODES=1 shrank the PBS job to one node (--np=12)."""
    pbs = make_pbs_job(tmp_path, extra_env={"NGPU_PER_HOST": "12", "SLURM_NNODES": "1"})
    got = plan(aurora_job(pbs), pbs.env)
    assert got.argv[3:5] == ("--np=24", "--ppn=12")


# --- Polaris, Sophia, SunSpot, generic PBS ---------------------------------------------


def polaris(tmp_path: Path, nodes: int = 2, **env: str) -> tuple[PbsJob, Job]:
    hosts = [f"x3005c0s{13 + i}b0n0.hsn.cm.polaris.alcf.anl.gov" for i in range(nodes)]
    pbs = make_pbs_job(
        tmp_path, jobid="123456.polaris-pbs-01", hosts=hosts,
        extra_env={"NGPU_PER_HOST": "4", **env},
    )  # fmt: skip
    return pbs, detect(pbs.env, hostname="x3005c0s13b0n0", context=pbs.context)


def test_v19_polaris_depth_binding(tmp_path: Path) -> None:
    pbs, job = polaris(tmp_path)
    got = plan(job, pbs.env, command=("python3", "train.py", "--lr", "0.1"))
    assert job.machine.name == "polaris"
    assert got.argv == (
        *AUR2_HEAD, "--np=8", "--ppn=4", f"--hostfile={pbs.nodefile}",
        "--cpu-bind=depth", "--depth=8", "python3", "train.py", "--lr", "0.1",
    )  # fmt: skip


def test_v20_polaris_cpu_bind_from_env(tmp_path: Path) -> None:
    pbs, job = polaris(tmp_path, CPU_BIND="verbose,list:0-7")
    got = plan(job, pbs.env, command=("python3", "train.py"))
    assert got.argv[5:] == (
        f"--hostfile={pbs.nodefile}",
        "--cpu-bind=verbose,list:0-7",
        "python3",
        "train.py",
    )
    assert got.binding.source == "CPU_BIND"


def test_v21_pasted_cpu_bind_prefix_is_stripped_and_flag_wins(tmp_path: Path) -> None:
    pbs, job = polaris(tmp_path, nodes=1, CPU_BIND="depth")
    got = plan(job, pbs.env, cpu_bind="--cpu-bind=list:0-15", command=("python3", "x.py"))
    assert got.argv[3:] == (
        "--np=4",
        "--ppn=4",
        f"--hostfile={pbs.nodefile}",
        "--cpu-bind=list:0-15",
        "python3",
        "x.py",
    )
    assert any("overrides CPU_BIND=depth" in w for w in got.warnings)


def test_v22_sophia_uses_mpirun_and_ignores_binding(tmp_path: Path) -> None:
    pbs = make_pbs_job(
        tmp_path,
        jobid="77.sophia-pbs-01",
        hosts=["sophia-gpu-07"],
        extra_env={"NGPU_PER_HOST": "8"},
    )
    job = detect(pbs.env, hostname="sophia-gpu-07", context=pbs.context)
    got = plan(job, pbs.env, cpu_bind="depth", command=("python3", "train.py"))
    assert got.argv == (
        "mpirun", "-n=8", "-N=8", f"--hostfile={pbs.nodefile}",
        "-x", "PATH", "-x", "LD_LIBRARY_PATH", "python3", "train.py",
    )  # fmt: skip
    assert any("ignored on Sophia" in w for w in got.warnings)


def test_v23_explicit_depth_binding_has_no_depth_companion(tmp_path: Path) -> None:
    hosts = ["x1921c0s0b0n0", "x1921c0s1b0n0"]
    pbs = make_pbs_job(
        tmp_path, jobid="9.sunspot-pbs", hosts=hosts, extra_env={"NGPU_PER_HOST": "12"}
    )
    job = detect(pbs.env, hostname=hosts[0], context=pbs.context)
    got = plan(job, pbs.env, cpu_bind="depth", command=("python3", "train.py"))
    assert job.machine.name == "sunspot"
    assert got.argv[3:] == (
        "--np=24",
        "--ppn=12",
        f"--hostfile={pbs.nodefile}",
        "--cpu-bind=depth",
        "python3",
        "train.py",
    )
    assert any("--depth" in w for w in got.warnings)


def test_v24_generic_pbs_cluster(tmp_path: Path) -> None:
    pbs = pbs_hosts(tmp_path, n=2, ngpu=2, machine="generic")
    got = plan(pbs_job(pbs), pbs.env, command=("python3", "x.py"))
    assert got.argv == (
        *AUR2_HEAD, "--np=4", "--ppn=2", f"--hostfile={pbs.nodefile}",
        "--cpu-bind=depth", "--depth=8", "python3", "x.py",
    )  # fmt: skip


# --- Slurm --------------------------------------------------------------------------


SRUN = ("srun", "-u", "--verbose")


@pytest.mark.parametrize(
    ("env", "fields", "expected"),
    [
        (slurm_env(SLURM_NODELIST="nid[001-004]", NGPU_PER_HOST="8"), {"nhosts": 4, "ppn": 8},
         ("-N4", "-n32", "--gpus-per-node=8")),  # v9
        (slurm_env(SLURM_NODELIST="<unset>", SLURM_NNODES="8"), {},
         ("-N8", "-n32", "--gpus-per-node=4")),  # v12
        (slurm_env(), {}, ("-N2", "-n8", "--gpus-per-node=4")),  # v13
        (slurm_env(), {"np": 6, "ppn": 3}, ("-N2", "-n6", "--gpus-per-node=3")),  # v32
        (slurm_env(NGPU_PER_HOST="0"), {"np": 4}, ("-N2", "-n4")),  # v35
    ],
    ids=["v9", "v12", "v13", "v32", "v35"],
)  # fmt: skip
def test_slurm_sizing(
    env: dict[str, str], fields: dict[str, int], expected: tuple[str, ...]
) -> None:
    got = plan(slurm_job(env), env, command=("python3", "train.py"), **fields)
    assert got.argv == (*SRUN, *expected, "python3", "train.py")


def test_v10_inconsistent_n_nhosts_ppn_is_refused() -> None:
    """Fixed: ezpz emitted ``-N4 -n16 --gpus-per-node=8`` although 4 x 8 != 16."""
    env = slurm_env(SLURM_NODELIST="nid[001-004]", NGPU_PER_HOST="8")
    with pytest.raises(TopologyError, match="-n 16 does not equal --nhosts 4 x --ppn 8"):
        plan(slurm_job(env), env, np=16, nhosts=4, ppn=8)


def test_v35_cpu_only_slurm_defaults_to_one_rank_per_host() -> None:
    """Adjusted: ezpz refused a CPU-only srun without -n; the issue makes it 1 per host."""
    env = slurm_env(NGPU_PER_HOST="0")
    got = plan(slurm_job(env), env, command=("python3", "train.py"))
    assert got.argv == (*SRUN, "-N2", "-n2", "python3", "train.py")


@pytest.mark.parametrize(
    ("env", "fields", "tail"),
    [
        (slurm_env(), {"cpu_bind": "cores"}, ("--cpu-bind=cores",)),  # v31
        (slurm_env(CPU_BIND="--cpu-bind=map_cpu:0,1"), {}, ("--cpu-bind=map_cpu:0,1",)),  # v33
        (slurm_env(), {"launcher_args": ("-l",)}, ("-l",)),  # v34
    ],
    ids=["v31", "v33", "v34"],
)
def test_slurm_binding_and_passthrough(
    env: dict[str, str], fields: dict[str, object], tail: tuple[str, ...]
) -> None:
    got = plan(slurm_job(env), env, command=("python3", "x.py"), **fields)
    assert got.argv == (*SRUN, "-N2", "-n8", "--gpus-per-node=4", *tail, "python3", "x.py")


def test_v31_writes_no_nodefile_into_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fixed: ezpz wrote ./nodefile-1234 on every Slurm launch."""
    monkeypatch.chdir(tmp_path)
    env = slurm_env()
    plan(slurm_job(env), env, cpu_bind="cores")
    assert list(tmp_path.iterdir()) == []


def test_v11_v36_user_hostfile_becomes_srun_nodelist(tmp_path: Path) -> None:
    """Fixed: ezpz only counted the hostfile's lines; srun never saw the hosts."""
    three = tmp_path / "three.hosts"
    three.write_text("nid001\nnid002\nnid003\n")
    env = slurm_env()
    got = plan(slurm_job(env), env, hostfile=str(three), command=("python3", "x.py"))
    assert got.argv == (
        *SRUN,
        "-N3",
        "-n12",
        "--gpus-per-node=4",
        "--nodelist=nid[001-003]",
        "python3",
        "x.py",
    )
    assert any("not in job 1234" in w for w in got.warnings)


# --- rank I/O ---------------------------------------------------------------------


def test_label_mode_on_pals_appends_label(aurora: PbsJob) -> None:
    got = plan(aurora_job(aurora), aurora.env, rank_io=RankIO.AUTO)
    assert got.rank_io is RankIO.LABEL
    assert got.argv[:8] == (
        *AUR2_HEAD,
        "--np=24",
        "--ppn=12",
        f"--hostfile={aurora.nodefile}",
        AURORA_BIND,
        "--label",
    )


def test_label_mode_on_srun_drops_unbuffered() -> None:
    env = slurm_env()
    got = plan(slurm_job(env), env, rank_io=RankIO.AUTO, command=("python3", "x.py"))
    assert got.rank_io is RankIO.LABEL
    assert got.argv == (
        "srun",
        "--label",
        "--verbose",
        "-N2",
        "-n8",
        "--gpus-per-node=4",
        "python3",
        "x.py",
    )


def test_label_mode_on_open_mpi_tags_output(clean_env: dict[str, str]) -> None:
    got = plan(
        detect(clean_env),
        clean_env,
        OPENMPI,
        rank_io=RankIO.AUTO,
        np=2,
        command=("python3", "x.py"),
    )
    assert got.argv == ("mpirun", "-np", "2", "--tag-output", "python3", "x.py")


def test_open_mpi_oversubscribes_beyond_local_cores(clean_env: dict[str, str]) -> None:
    job = detect(clean_env, cpus=2)
    got = plan(job, clean_env, OPENMPI, np=4, command=("python3", "x.py"))
    assert got.argv == ("mpirun", "-np", "4", "--oversubscribe", "python3", "x.py")


def test_hydra_auto_uses_the_rank_wrapper(clean_env: dict[str, str]) -> None:
    got = plan(
        detect(clean_env), clean_env, HYDRA, rank_io=RankIO.AUTO, np=2, command=("python3", "x.py")
    )
    assert got.rank_io is RankIO.WRAPPER
    assert got.argv == (
        "mpirun",
        "-envall",
        "-n",
        "2",
        PY,
        "-m",
        "ezpz_core.rankio",
        "--",
        "python3",
        "x.py",
    )


def test_torchrun_when_no_mpi_wraps_with_no_python(clean_env: dict[str, str]) -> None:
    probe = FakeProbe(found={"torchrun": "torchrun"})
    got = plan(
        detect(clean_env), clean_env, probe, rank_io=RankIO.AUTO, np=2, command=("python3", "x.py")
    )
    assert got.launcher.name == "torchrun"
    assert got.argv == (
        "torchrun", "--standalone", "--nproc-per-node", "2", "--no-python",
        PY, "-m", "ezpz_core.rankio", "--", "python3", "x.py",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("command", "no_python"),
    [(("train.py", "--lr", "1"), False), (("python3", "train.py"), True)],
)
def test_torchrun_no_python_only_for_programs(
    clean_env: dict[str, str], command: tuple[str, ...], no_python: bool
) -> None:
    probe = FakeProbe(found={"torchrun": "torchrun"})
    got = plan(
        detect(clean_env), clean_env, probe, launcher=LauncherChoice.TORCHRUN, np=2, command=command
    )
    assert ("--no-python" in got.argv) is no_python
    assert got.argv[-len(command) :] == command


def test_torchrun_refuses_several_hosts(clean_env: dict[str, str], tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("a\nb\n")
    probe = FakeProbe(found={"torchrun": "torchrun"})
    with pytest.raises(TopologyError, match="torchrun --standalone runs on one host"):
        plan(
            detect(clean_env),
            clean_env,
            probe,
            launcher=LauncherChoice.TORCHRUN,
            hostfile=str(hosts),
        )


def test_unknown_mpirun_cannot_label(clean_env: dict[str, str]) -> None:
    with pytest.raises(Exception, match="--rank-io wrapper"):
        plan(detect(clean_env), clean_env, UNKNOWN_MPIRUN, rank_io=RankIO.LABEL)


# --- commands -----------------------------------------------------------------------


def test_default_command_is_the_reference_workload(clean_env: dict[str, str]) -> None:
    got = plan(detect(clean_env), clean_env, OPENMPI, command=())
    assert got.command == (PY, "-m", "ezpz_core.workload")
    assert got.argv[-3:] == (PY, "-m", "ezpz_core.workload")


def test_launcher_none_runs_the_command_exactly(clean_env: dict[str, str]) -> None:
    command = ("./my launch.sh", "--flag", "a b", "")
    got = plan(
        detect(clean_env),
        clean_env,
        OPENMPI,
        rank_io=RankIO.AUTO,
        launcher=LauncherChoice.NONE,
        command=command,
    )
    assert got.argv == command
    assert got.rank_io is RankIO.LABEL  # nothing added; labels in its output are parsed


def test_arguments_with_spaces_and_quotes_are_never_resplit(aurora: PbsJob) -> None:
    command = ("python3", "-c", "print('a b'); import sys", "--name=x y", "$HOME")
    got = plan(aurora_job(aurora), aurora.env, command=command, launcher_args=("--env", "A=1 2"))
    assert got.argv[-len(command) - 2 :] == ("--env", "A=1 2", *command)


# --- the task count the allocation was asked for ---------------------------------------
# Variables as Slurm 22.05 sets them (seen in `salloc -N1 -n2` with Debian's
# slurm-wlm): SLURM_NTASKS, SLURM_NPROCS, SLURM_TASKS_PER_NODE; and a PBS nodefile
# with each host written mpiprocs times.


@pytest.mark.parametrize(
    ("extra", "fields", "expected"),
    [
        # salloc -N1 -n2 on a CPU node: two ranks, not one (the defect)
        ({"SLURM_NODELIST": "nid001", "SLURM_NNODES": "1", "NGPU_PER_HOST": "0",
          "SLURM_NTASKS": "2", "SLURM_NPROCS": "2", "SLURM_TASKS_PER_NODE": "2"}, {},
         ("-N1", "-n2")),
        # salloc -N2 -n8 on 4-GPU nodes: 4 a node, as before
        ({"SLURM_NTASKS": "8", "SLURM_TASKS_PER_NODE": "4(x2)"}, {},
         ("-N2", "-n8", "--gpus-per-node=4")),
        # salloc -N2 -n4 on 4-GPU nodes: 2 a node, the GPUs half used
        ({"SLURM_NTASKS": "4", "SLURM_TASKS_PER_NODE": "2(x2)"}, {},
         ("-N2", "-n4", "--gpus-per-node=2")),
        # --ntasks-per-node=1 on 4-GPU nodes
        ({"SLURM_NTASKS_PER_NODE": "1", "SLURM_TASKS_PER_NODE": "1(x2)"}, {},
         ("-N2", "-n2", "--gpus-per-node=1")),
        # salloc -N2 only: Slurm says 1 a node, but no task count was asked for
        ({"SLURM_TASKS_PER_NODE": "1(x2)"}, {}, ("-N2", "-n8", "--gpus-per-node=4")),
        # flags on our command line win over the allocation
        ({"SLURM_NTASKS": "4", "SLURM_TASKS_PER_NODE": "2(x2)"}, {"np": 8},
         ("-N2", "-n8", "--gpus-per-node=4")),
        ({"SLURM_NTASKS": "4", "SLURM_TASKS_PER_NODE": "2(x2)"}, {"ppn": 1},
         ("-N2", "-n2", "--gpus-per-node=1")),
    ],
    ids=["n2-cpu", "n8-gpu", "n4-gpu", "per-node-1", "no-task-count", "np-wins", "ppn-wins"],
)  # fmt: skip
def test_the_allocation_s_task_count_is_the_default_topology(
    extra: dict[str, str], fields: dict[str, int], expected: tuple[str, ...]
) -> None:
    env = slurm_env(**extra)
    got = plan(slurm_job(env), env, command=("python3", "train.py"), **fields)
    assert got.argv == (*SRUN, *expected, "python3", "train.py")


def test_an_allocation_s_tasks_spread_unevenly_are_not_guessed() -> None:
    env = slurm_env(SLURM_NTASKS="3", SLURM_TASKS_PER_NODE="2,1", NGPU_PER_HOST="0")
    got = plan(slurm_job(env), env, command=("python3", "train.py"))
    assert got.argv == (*SRUN, "-N2", "-n2", "python3", "train.py")
    assert any("not spread evenly" in w and "pass -n and --ppn" in w for w in got.warnings)


def test_more_tasks_than_accelerators_asked_for_keeps_one_rank_per_accelerator() -> None:
    env = slurm_env(SLURM_NTASKS="16", SLURM_TASKS_PER_NODE="8(x2)")
    got = plan(slurm_job(env), env, command=("python3", "train.py"))
    assert got.argv == (*SRUN, "-N2", "-n8", "--gpus-per-node=4", "python3", "train.py")
    assert any("asks for 8 tasks per host" in w and "NGPU_PER_HOST=8" in w for w in got.warnings)


def test_pbs_mpiprocs_is_the_default_ranks_per_host(tmp_path: Path) -> None:
    """``select=2:mpiprocs=4`` on Aurora (12 GPUs a node): the nodefile holds each
    host 4 times, and 4 ranks a host is what was asked for."""
    pbs = make_pbs_job(tmp_path, hosts=[h for h in AURORA_HOSTS for _ in range(4)])
    got = plan(aurora_job(pbs), pbs.env)
    assert got.argv[3:5] == ("--np=8", "--ppn=4")
    assert any("using 8 of the job's 24 accelerators" in w for w in got.warnings)
    got = plan(aurora_job(pbs), pbs.env, ppn=12)  # a flag still wins
    assert got.argv[3:5] == ("--np=24", "--ppn=12")
