"""``--check``: each check's verdict and remedy, from emulated jobs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ezpz_core.doctor import Check, Status, run_checks
from ezpz_core.job import Job
from ezpz_core.kinds import RankIO
from ezpz_core.launch.plan import LaunchPlan, plan_launch
from ezpz_core.launch.request import LaunchRequest
from tests.fakes import OPENMPI_VERSION, FakeProbe, PbsJob, detect, make_pbs_job

HERE = FakeProbe(
    found={"mpirun": "mpirun", "mpiexec": "mpiexec"}, versions={"mpirun": OPENMPI_VERSION}
)


def make(job: Job, env: dict[str, str], probe: FakeProbe = HERE, **fields: object) -> LaunchPlan:
    request = LaunchRequest(rank_io=RankIO.AUTO, command=("python3", "x.py"), **fields)  # type: ignore[arg-type]
    return plan_launch(job, request, env=env, probe=probe, python=sys.executable)


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def venv_path() -> str:
    return os.path.dirname(sys.executable) + os.pathsep + os.defpath


def test_healthy_local_setup_has_no_errors() -> None:
    # the venv only: a machine with Slurm's or PBS's clients installed (CI installs
    # Slurm) is a login node, which warns, and is tested below
    env = {"PATH": os.path.dirname(sys.executable)}
    job = detect(env)
    checks = run_checks(job, make(job, env), env=env, python=sys.executable)
    assert [c.status for c in checks] == [Status.OK] * len(checks)


def test_login_node_with_a_scheduler_but_no_job_warns(tmp_path: Path) -> None:
    env = {"PATH": venv_path(), "EZPZ_MACHINE": "polaris"}
    job = detect(env, hostname="polaris-login-01")
    check = by_name(run_checks(job, make(job, env), env=env, python=sys.executable))["scheduler"]
    assert check.status is Status.WARN
    assert "qsub -I" in check.remedy


def test_missing_nodefile_is_an_error_with_a_remedy(tmp_path: Path) -> None:
    pbs = make_pbs_job(tmp_path, extra_env={"NGPU_PER_HOST": "12"})
    Path(pbs.nodefile).unlink()
    job = detect(pbs.env, hostname="x4514c6s0b0n0", context=pbs.context)
    checks = by_name(run_checks(job, None, env=pbs.env, python=sys.executable, plan_error="x"))
    assert checks["hostfile"].status is Status.ERROR
    assert "--hostfile" in checks["hostfile"].remedy
    assert checks["plan"].status is Status.ERROR


def test_launcher_not_found_is_an_error(aurora: PbsJob) -> None:
    job = detect(aurora.env, hostname="x4514c6s0b0n0", context=aurora.context)
    plan = make(job, aurora.env, probe=FakeProbe())
    check = by_name(run_checks(job, plan, env=aurora.env, python=sys.executable))["launcher"]
    assert check.status is Status.ERROR
    assert "mpiexec not found" in check.detail


def test_stale_world_size_is_an_error(aurora: PbsJob) -> None:
    env = {**aurora.env, "WORLD_SIZE": "7", "RANK": "3"}
    job = detect(env, hostname="x4514c6s0b0n0", context=aurora.context)
    checks = by_name(run_checks(job, make(job, env), env=env, python=sys.executable))
    assert checks["env WORLD_SIZE"].status is Status.ERROR
    assert "24 ranks" in checks["env WORLD_SIZE"].detail
    assert checks["env RANK"].status is Status.WARN


def test_master_addr_outside_the_plan_warns(aurora: PbsJob) -> None:
    env = {**aurora.env, "MASTER_ADDR": "elsewhere"}
    job = detect(env, hostname="x4514c6s0b0n0", context=aurora.context)
    checks = by_name(run_checks(job, make(job, env), env=env, python=sys.executable))
    assert checks["env MASTER_ADDR"].status is Status.WARN


def test_python_on_path_that_is_not_this_interpreter_warns(tmp_path: Path) -> None:
    other = tmp_path / "bin"
    other.mkdir()
    fake = other / "python3"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    env = {"PATH": str(other)}
    job = detect(env)
    check = by_name(run_checks(job, make(job, env), env=env, python=sys.executable))["python"]
    assert check.status is Status.WARN
    assert str(fake) in check.detail


def test_gpu_machine_with_no_accelerators_found_warns() -> None:
    env = {"PATH": venv_path(), "NGPU_PER_HOST": "0", "EZPZ_MACHINE": "polaris"}
    job = detect(env)
    check = by_name(run_checks(job, make(job, env), env=env, python=sys.executable))["accelerators"]
    assert check.status is Status.WARN
