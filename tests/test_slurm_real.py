"""Inside real Slurm allocations: a single-node Slurm 22.05 (Debian's slurm-wlm),
started by ``tests/slurm/cluster.sh start``, found by its ``slurm.conf``.

Without that cluster the tests skip and say why; with ``EZPZ_REQUIRE_SLURM=1`` a
missing cluster fails them instead. Every ``salloc`` and ``ezpz-tui`` exit code
is checked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ezpz_core.hostfile import expand_nodelist

pytestmark = pytest.mark.timeout(300)

CONF = Path(os.environ.get("EZPZ_SLURM_DIR", "/tmp/ezpz-slurm")) / "slurm.conf"
EZPZ_TUI = Path(sys.executable).parent / "ezpz-tui"


def _cluster_problem() -> str | None:
    if shutil.which("salloc") is None:
        return "salloc is not installed (tests/slurm/cluster.sh start installs Slurm, as root)"
    if not CONF.exists():
        return f"no cluster: {CONF} is missing (run tests/slurm/cluster.sh start, as root)"
    env = {**os.environ, "SLURM_CONF": str(CONF)}
    answer = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%T"], env=env, capture_output=True, text=True, timeout=20
    )
    if answer.returncode != 0 or "idle" not in answer.stdout.split():
        return f"the cluster of {CONF} has no idle node: {answer.stderr.strip() or answer.stdout}"
    return None


@pytest.fixture(scope="module")
def slurm_env() -> dict[str, str]:
    problem = _cluster_problem()
    if problem is not None:
        if os.environ.get("EZPZ_REQUIRE_SLURM") == "1":
            pytest.fail(f"EZPZ_REQUIRE_SLURM=1 but {problem}")
        pytest.skip(problem)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "EZPZ_"))}
    env.update(SLURM_CONF=str(CONF), PATH=f"{EZPZ_TUI.parent}{os.pathsep}{env.get('PATH', '')}")
    return env


def salloc(
    env: dict[str, str], argv: list[str], cwd: Path, ntasks: int = 2
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["salloc", "-N1", f"-n{ntasks}", "--time=5", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=280,
    )


def test_dry_run_in_salloc_n2_plans_two_srun_tasks(slurm_env: dict[str, str], tmp_path: Path):
    done = salloc(slurm_env, [str(EZPZ_TUI), "--dry-run", "--json", "--", "true"], tmp_path)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["argv"][:5] == ["srun", "--label", "--verbose", "-N1", "-n2"]
    assert plan["world_size"] == 2


def test_run_in_salloc_n2_trains_the_reference_workload_on_two_ranks(
    slurm_env: dict[str, str], tmp_path: Path
) -> None:
    outdir = tmp_path / "runs"
    done = salloc(slurm_env, [str(EZPZ_TUI), "--run", "--quiet", "--outdir", str(outdir)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = outdir.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["exit_code"] == 0
    assert json.loads((run / "plan.json").read_text())["argv"][:5] == [
        "srun", "--label", "--verbose", "-N1", "-n2",
    ]  # fmt: skip
    for rank in (0, 1):
        assert (run / "ranks" / f"rank-{rank}.log").stat().st_size > 0
    assert summary["metrics"]["loss"]["count"] > 0  # it trained


def test_check_in_the_allocation_lists_the_node(slurm_env: dict[str, str], tmp_path: Path):
    done = salloc(slurm_env, [str(EZPZ_TUI), "--check", "--json"], tmp_path)
    assert done.returncode in (0, 1), done.stderr
    facts = json.loads(done.stdout)
    node = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%N"], env=slurm_env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert node and node[0] in json.dumps(facts)


@pytest.mark.parametrize(
    "form", ["nid[001-003,007]", "a[1-2]-b[01-02]", "x[1-3]", "node1,node2", "c[08-11]"]
)
def test_host_lists_expand_as_scontrol_expands_them(slurm_env: dict[str, str], form: str):
    """The forms Slurm 22.05 itself accepts (it refuses a suffix after a bracket,
    which python-hostlist and we read too)."""
    shown = subprocess.run(
        ["scontrol", "show", "hostnames", form],
        env=slurm_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert list(expand_nodelist(form, "test")) == shown
