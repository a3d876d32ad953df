"""``torch.distributed`` set-up (``ezpz_core.dist``) and the workload's pure helpers.

The pure rules are test vectors over plain data: rank completion, job node count,
rendezvous address (mpi4py's broadcast stands in as a plain function), machine
high-speed-network domains, job-id ports, device/backend choice (``Accelerators``
values stand for what a torch build offers) and the timeout. PBS is emulated as it
presents itself to a rank, a ``PBS_NODEFILE`` on disk with one line per slot;
Slurm by its environment variables. ``setup_torch`` and ``cleanup`` run for real,
one gloo rank on this CPU-only torch, in a fresh ``python -c`` with a clean
environment; that cleanup frees the group (no thread of it left, exit 0) is checked
with a DDP model on one rank and on two Open MPI ranks. The workload helpers
(``format_std``, ``step_line``, ``aggregates``, ``parse_args``) are checked against
the ezpz console format and plain statistics.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from ezpz_core.backends import Accelerators, choose_device
from ezpz_core.dist import EXPORTED, DistSetupError, cleanup, timeout_from
from ezpz_core.rankenv import RankEnv, Ranks, resolve_ranks
from ezpz_core.rendezvous import job_nodes, job_port, rendezvous_host, resolve_rendezvous
from ezpz_core.workload import Wandb, aggregates, format_std, parse_args, step_line

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AURORA_JOBID = "8414055.aurora-pbs-0001.hostmgmt.cm.aurora.alcf.anl.gov"
AURORA_HOSTS = (
    "x4514c6s0b0n0.hsn.cm.aurora.alcf.anl.gov",
    "x4514c6s1b0n0.hsn.cm.aurora.alcf.anl.gov",
)
AURORA_HSN = ".hsn.cm.aurora.alcf.anl.gov"
CPU_BUILD = Accelerators(backends=frozenset({"gloo"}), torch_version="2.13.0+cpu")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """No scheduler, launcher, rank or rendezvous variable: PATH and HOME only."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": os.environ.get("HOME", "/root")}
    env.update(extra or {})
    return env


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def result_of(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, proc.stdout[-3000:]
    return json.loads(lines[0][len("RESULT ") :])


def pbs_nodefile(tmp: Path, hosts: list[str], jobid: str = AURORA_JOBID) -> str:
    """A PBS nodefile as PBS writes it: one line per slot, so hosts repeat."""
    aux = tmp / "var/spool/pbs/aux"
    aux.mkdir(parents=True, exist_ok=True)
    path = aux / jobid
    path.write_text("".join(f"{h}\n" for h in hosts))
    return str(path)


# -- resolve_ranks ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("found", "mpi", "nodes", "expected"),
    [
        pytest.param(
            RankEnv(7, 1, 12, 6, "openmpi"),
            (0, 1, 1),
            4,
            Ranks(7, 1, 12, 6, "openmpi"),
            id="launcher-facts-kept-over-mpi-and-nodes",
        ),
        pytest.param(
            RankEnv(0, None, None, None, "none"),
            (5, 8, 4),
            None,
            Ranks(5, 1, 8, 4, "mpi4py"),
            id="mpi4py-when-no-launcher-variable",
        ),
        pytest.param(
            RankEnv(0, None, None, None, "none"),
            None,
            None,
            Ranks(0, 0, 1, 1, "none"),
            id="nothing-is-one-rank",
        ),
        pytest.param(
            RankEnv(13, 1, 24, None, "pals"),
            None,
            2,
            Ranks(13, 1, 24, 12, "pals"),
            id="local-size-from-nodes-24-on-2",
        ),
        pytest.param(
            RankEnv(9, None, 12, None, "pals"),
            None,
            2,
            Ranks(9, 3, 12, 6, "pals"),
            id="ppn6-on-aurora-is-6-not-12-tiles",
        ),
        pytest.param(
            RankEnv(6, None, 7, None, "slurm"),
            None,
            2,
            Ranks(6, 2, 7, 4, "slurm"),
            id="uneven-rounds-up",
        ),
        pytest.param(
            RankEnv(5, None, 8, None, "mpich"),
            None,
            None,
            Ranks(5, 5, 8, 8, "mpich"),
            id="unknown-nodes-is-world-size",
        ),
        pytest.param(
            RankEnv(5, 3, 8, None, "mpich"),
            None,
            2,
            Ranks(5, 3, 8, 4, "mpich"),
            id="local-rank-given-is-kept",
        ),
        pytest.param(
            RankEnv(14, None, 16, 4, "torchrun"),
            None,
            2,
            Ranks(14, 2, 16, 4, "torchrun"),
            id="local-rank-derived-from-local-size",
        ),
    ],
)
def test_resolve_ranks(
    found: RankEnv, mpi: tuple[int, int, int] | None, nodes: int | None, expected: Ranks
) -> None:
    assert resolve_ranks(found, mpi, nodes) == expected


@pytest.mark.parametrize(
    "found",
    [
        pytest.param(RankEnv(5, None, None, None, "pmix"), id="pmix-only-rank-5"),
        pytest.param(RankEnv(3, None, None, None, "torchrun"), id="stale-rank-3-alone"),
    ],
)
def test_resolve_ranks_never_puts_the_rank_outside_the_world(found: RankEnv) -> None:
    """A rank with no world size must not become "rank 5 of 1" (torch would fail
    later, obscurely): either a world that holds the rank, or a DistSetupError."""
    try:
        ranks = resolve_ranks(found, None, None)
    except DistSetupError:
        return
    assert 0 <= ranks.rank < ranks.world_size, ranks
    assert 0 <= ranks.local_rank < ranks.local_world_size, ranks


# -- job_nodes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "nodes"),
    [
        pytest.param([AURORA_HOSTS[0]] * 4 + [AURORA_HOSTS[1]] * 4, 2, id="mpiprocs-4-repeats"),
        pytest.param(list(AURORA_HOSTS), 2, id="one-line-per-host"),
        pytest.param([AURORA_HOSTS[0]], 1, id="single-node"),
        pytest.param([f"x4514c6s{i}b0n0" for i in range(8)] * 2, 8, id="eight-nodes-twice"),
        pytest.param([], None, id="empty-file"),
    ],
)
def test_job_nodes_from_the_pbs_nodefile(
    tmp_path: Path, lines: list[str], nodes: int | None
) -> None:
    env = {"PBS_JOBID": AURORA_JOBID, "PBS_NODEFILE": pbs_nodefile(tmp_path, lines)}
    assert job_nodes(env) == nodes


def test_job_nodes_with_a_missing_pbs_nodefile_is_unknown(tmp_path: Path) -> None:
    env = {"PBS_JOBID": AURORA_JOBID, "PBS_NODEFILE": str(tmp_path / "gone")}
    assert job_nodes(env) is None


@pytest.mark.parametrize(
    ("env", "nodes"),
    [
        pytest.param({"SLURM_JOB_ID": "2718281", "SLURM_NNODES": "4"}, 4, id="nnodes"),
        pytest.param(
            {"SLURM_JOB_ID": "2718281", "SLURM_JOB_NUM_NODES": "8", "SLURM_NNODES": "8"},
            8,
            id="job-num-nodes",
        ),
        pytest.param({"SLURM_NNODES": "4"}, None, id="no-job-id-is-stale"),
        pytest.param({"SLURM_JOB_ID": "2718281", "SLURM_NNODES": "four"}, None, id="garbage"),
        pytest.param({"SLURM_JOB_ID": "2718281"}, None, id="no-count"),
        pytest.param({}, None, id="no-scheduler"),
    ],
)
def test_job_nodes_from_slurm_only_inside_a_job(env: dict[str, str], nodes: int | None) -> None:
    assert job_nodes(env) == nodes


# -- resolve_rendezvous -----------------------------------------------------------


def ranks_of(rank: int, world: int, local_size: int, source: str = "pals") -> Ranks:
    return Ranks(rank, rank % local_size, world, local_size, source)


def one_world(size: int) -> Callable[[tuple[str, int] | None], tuple[int, object]]:
    """mpi4py working: rank 0 calls first and every later rank receives its value."""
    offered: list[tuple[str, int]] = []

    def broadcast(value: tuple[str, int] | None) -> tuple[int, object]:
        if value is not None:
            offered.append(value)
        return size, offered[0] if offered else None

    return broadcast


def never_called(value: object) -> tuple[int, object]:
    raise AssertionError(f"broadcast must not be used here (got {value!r})")


def ports_from(start: int) -> Callable[[], int]:
    counter = itertools.count(start)
    return lambda: next(counter)


@pytest.mark.parametrize("broadcast", [None, never_called], ids=["no-mpi4py", "mpi4py"])
def test_master_addr_and_port_from_the_environment_win(broadcast: object) -> None:
    env = {"MASTER_ADDR": "10.1.2.3", "MASTER_PORT": "29400"}
    got = resolve_rendezvous(env, ranks_of(5, 8, 4), "x4102c5s2b0n0", broadcast, ports_from(1))
    assert got == ("10.1.2.3", 29400, "env")


@pytest.mark.parametrize("port", ["29500x", "abc", "-1", "29 500", "70000"])
def test_a_master_port_that_is_not_a_port_is_an_error_naming_it(port: str) -> None:
    env = {"MASTER_ADDR": "10.1.2.3", "MASTER_PORT": port}
    with pytest.raises(DistSetupError) as err:
        resolve_rendezvous(env, ranks_of(0, 2, 2), "laptop", None, ports_from(1))
    assert "MASTER_PORT" in str(err.value)
    assert port in str(err.value)


@pytest.mark.parametrize(
    "env",
    [pytest.param({}, id="nothing"), pytest.param({"MASTER_ADDR": "10.1.2.3"}, id="addr-only")],
)
def test_one_rank_meets_itself_on_localhost(env: dict[str, str]) -> None:
    got = resolve_rendezvous(env, ranks_of(0, 1, 1), "laptop", never_called, ports_from(41000))
    assert got == ("127.0.0.1", 41000, "local")


@pytest.mark.parametrize(
    ("hosts", "address"),
    [
        pytest.param(
            ["x4102c5s2b0n0", "x4102c5s3b0n0"],
            "x4102c5s2b0n0.hsn.cm.aurora.alcf.anl.gov",
            id="aurora",
        ),
        pytest.param(
            ["x3001c0s13b0n0", "x3001c0s19b0n0"],
            "x3001c0s13b0n0.hsn.cm.polaris.alcf.anl.gov",
            id="polaris",
        ),
        pytest.param(["node01", "node02"], "node01", id="generic"),
    ],
)
def test_mpi4py_broadcasts_rank_zeros_host_and_port_to_every_rank(
    hosts: list[str], address: str
) -> None:
    broadcast = one_world(8)
    got = [
        resolve_rendezvous({}, ranks_of(r, 8, 4), hosts[r // 4], broadcast, ports_from(29500 + r))
        for r in range(8)
    ]
    assert got == [(address, 29500, "mpi4py")] * 8


def own_world(value: tuple[str, int] | None) -> tuple[int, object]:
    """mpi4py built for another MPI: every rank is alone in its COMM_WORLD."""
    return 1, value


@pytest.mark.parametrize(
    ("rank", "broadcast", "mpi_size"),
    [
        pytest.param(0, own_world, 1, id="rank0-sees-world-of-1"),
        pytest.param(1, own_world, 1, id="rank1-gets-none-in-world-of-1"),
        pytest.param(1, lambda value: (2, None), 2, id="right-size-but-none"),
        pytest.param(1, lambda value: (2, ("None", 29500)), 2, id="the-string-None"),
    ],
)
def test_mpi4py_that_cannot_reach_the_other_ranks_fails_with_diagnosis_and_remedy(
    rank: int, broadcast: Callable[..., tuple[int, object]], mpi_size: int
) -> None:
    with pytest.raises(DistSetupError) as err:
        resolve_rendezvous({}, ranks_of(rank, 2, 1), "x4102c5s2b0n0", broadcast, ports_from(1))
    message = str(err.value)
    assert "started 2 ranks" in message
    assert f"world of {mpi_size}" in message
    assert "mpiexec" in message
    assert "MASTER_ADDR" in message and "MASTER_PORT" in message


def test_without_mpi4py_every_rank_derives_rank_zeros_pbs_host_and_port(tmp_path: Path) -> None:
    lines = [AURORA_HOSTS[0]] * 12 + [AURORA_HOSTS[1]] * 12
    env = {"PBS_JOBID": AURORA_JOBID, "PBS_NODEFILE": pbs_nodefile(tmp_path, lines)}
    got = {
        resolve_rendezvous(
            env, ranks_of(r, 24, 12), AURORA_HOSTS[r // 12].split(".")[0], None, ports_from(r)
        )
        for r in range(24)
    }
    assert got == {(AURORA_HOSTS[0], job_port(AURORA_JOBID), "job-id")}


@pytest.mark.parametrize(
    ("env", "host"),
    [
        pytest.param(
            {"SLURM_JOB_ID": "2718281", "SLURM_JOB_NODELIST": "nid[0012-0013]"},
            "nid0012",
            id="job-nodelist",
        ),
        pytest.param(
            {
                "SLURM_JOB_ID": "2718281",
                "SLURM_JOB_NODELIST": "nid[0012-0015]",
                "SLURM_STEP_NODELIST": "nid[0014-0015]",
            },
            "nid0014",
            id="step-nodelist-first",
        ),
        pytest.param(
            {"SLURM_JOB_ID": "2718281", "SLURM_JOB_NODELIST": "gpu-a[7,3],gpu-b1"},
            "gpu-a7",
            id="list-order-kept",
        ),
    ],
)
def test_without_mpi4py_every_rank_derives_rank_zeros_slurm_host_and_port(
    env: dict[str, str], host: str
) -> None:
    got = {
        resolve_rendezvous(env, ranks_of(r, 8, 4), f"n{r}", None, ports_from(r)) for r in range(8)
    }
    assert got == {(host, job_port("2718281"), "job-id")}


def test_without_mpi4py_or_host_list_ranks_all_on_this_node_meet_on_localhost() -> None:
    env = {"EZPZ_RUN_ID": "run-20250101-120000"}
    got = {
        resolve_rendezvous(env, ranks_of(r, 4, 4), "laptop", None, ports_from(r)) for r in range(4)
    }
    assert got == {("127.0.0.1", job_port("run-20250101-120000"), "job-id")}


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"EZPZ_RUN_ID": "run-1"}, id="no-host-list"),
        pytest.param({"SLURM_JOB_ID": "2718281", "SLURM_JOB_NODELIST": "nid[0012-"}, id="garbage"),
    ],
)
def test_without_mpi4py_or_host_list_across_nodes_is_an_error_with_the_remedy(
    env: dict[str, str],
) -> None:
    with pytest.raises(DistSetupError) as err:
        resolve_rendezvous(env, ranks_of(5, 8, 4), "node02", None, ports_from(1))
    message = str(err.value)
    assert "MASTER_ADDR" in message and "MASTER_PORT" in message
    assert "mpi4py" in message


@pytest.mark.parametrize("local", [False, True], ids=["pbs-nodefile-no-jobid", "all-local"])
def test_without_mpi4py_or_a_job_id_there_is_no_port_to_agree_on(
    tmp_path: Path, local: bool
) -> None:
    env = {} if local else {"PBS_NODEFILE": pbs_nodefile(tmp_path, list(AURORA_HOSTS))}
    with pytest.raises(DistSetupError) as err:
        resolve_rendezvous(env, ranks_of(1, 4, 4 if local else 2), "laptop", None, ports_from(1))
    assert "MASTER_PORT" in str(err.value)


# -- rendezvous_host and job_port ---------------------------------------------------


@pytest.mark.parametrize(
    ("hostname", "address"),
    [
        pytest.param("x4102c5s2b0n0", "x4102c5s2b0n0.hsn.cm.aurora.alcf.anl.gov", id="aurora"),
        pytest.param(
            "x4102c5s2b0n0.hsn.cm.aurora.alcf.anl.gov",
            "x4102c5s2b0n0.hsn.cm.aurora.alcf.anl.gov",
            id="aurora-fqdn",
        ),
        pytest.param(
            "x4102c5s2b0n0.aurora.alcf.anl.gov",
            "x4102c5s2b0n0.hsn.cm.aurora.alcf.anl.gov",
            id="aurora-other-fqdn-cut-first",
        ),
        pytest.param("x3001c0s13b0n0", "x3001c0s13b0n0.hsn.cm.polaris.alcf.anl.gov", id="polaris"),
        pytest.param(
            "x3001c0s13b0n0.hsn.cm.polaris.alcf.anl.gov",
            "x3001c0s13b0n0.hsn.cm.polaris.alcf.anl.gov",
            id="polaris-fqdn",
        ),
        pytest.param("sophia-gpu-07", "sophia-gpu-07.lab.alcf.anl.gov", id="sophia"),
        pytest.param(
            "sophia-gpu-07.lab.alcf.anl.gov", "sophia-gpu-07.lab.alcf.anl.gov", id="sophia-fqdn"
        ),
        pytest.param("x1921c0s0b0n0", "x1921c0s0b0n0", id="sunspot-has-no-domain"),
        pytest.param("nid001234", "nid001234", id="perlmutter-has-no-domain"),
        pytest.param("laptop", "laptop", id="generic"),
        pytest.param("node17.cluster.example.org", "node17.cluster.example.org", id="generic-fqdn"),
    ],
)
def test_rendezvous_host(hostname: str, address: str) -> None:
    assert rendezvous_host(hostname, {}) == address


def test_job_port_is_the_same_on_every_call() -> None:
    assert job_port(AURORA_JOBID) == job_port(AURORA_JOBID)
    assert job_port("2718281") == job_port("2718281")


def test_job_ports_fall_below_the_ephemeral_range_and_mostly_differ() -> None:
    ids = [f"{8414055 + i}.aurora-pbs-0001.hostmgmt.cm.aurora.alcf.anl.gov" for i in range(500)]
    ids += [str(2718281 + i) for i in range(500)]
    ports = [job_port(i) for i in ids]
    assert all(20000 <= p < 30000 for p in ports)
    assert len(set(ports)) > 900


# -- choose_device ------------------------------------------------------------------


CUDA4 = Accelerators(cuda=4, backends=frozenset({"gloo", "nccl"}), torch_version="2.13.0+cu128")
XPU_XCCL = Accelerators(xpu=12, backends=frozenset({"gloo", "xccl"}), torch_version="2.8.0+xpu")
XPU_CCL = Accelerators(xpu=12, backends=frozenset({"gloo", "ccl"}), torch_version="2.5.1+xpu")
XPU_BARE = Accelerators(xpu=12, backends=frozenset({"gloo"}), torch_version="2.5.1+xpu")
MPS = Accelerators(mps=True, torch_version="2.13.0")


@pytest.mark.parametrize(
    ("env", "acc", "kind", "backend", "words"),
    [
        pytest.param({}, CUDA4, "cuda", "nccl", [], id="cuda-nccl"),
        pytest.param({}, XPU_XCCL, "xpu", "xccl", [], id="xpu-xccl"),
        pytest.param({}, XPU_CCL, "xpu", "ccl", [], id="xpu-ccl-without-xccl"),
        pytest.param({}, XPU_BARE, "xpu", "gloo", ["'ccl'", "oneccl", "gloo"], id="xpu-no-ccl"),
        pytest.param({}, MPS, "mps", "gloo", [], id="mps-gloo"),
        pytest.param({}, CPU_BUILD, "cpu", "gloo", [], id="cpu-gloo"),
        pytest.param({"TORCH_DEVICE": "cpu"}, CUDA4, "cpu", "gloo", [], id="force-cpu"),
        pytest.param({"TORCH_DEVICE": "CUDA:1"}, CUDA4, "cuda", "nccl", [], id="force-cuda-idx"),
        pytest.param({"TORCH_BACKEND": "gloo"}, CUDA4, "cuda", "gloo", [], id="force-gloo"),
        pytest.param(
            {"TORCH_DEVICE": "cuda"}, CPU_BUILD, "cpu", "gloo", ["'cuda'", "none"], id="no-gpus"
        ),
        pytest.param(
            {"TORCH_BACKEND": "nccl"},
            CPU_BUILD,
            "cpu",
            "gloo",
            ["'nccl'", "no NCCL", "gloo", "TORCH_BACKEND", "2.13.0+cpu"],
            id="nccl-on-cpu-build",
        ),
        pytest.param(
            {"TORCH_DEVICE": "tpu"}, CUDA4, "cpu", "gloo", ["'tpu'", "cpu"], id="unknown-device"
        ),
    ],
)
def test_choose_device(
    env: dict[str, str], acc: Accelerators, kind: str, backend: str, words: list[str]
) -> None:
    got_kind, got_backend, notes = choose_device(env, acc)
    assert (got_kind, got_backend) == (kind, backend)
    if not words:
        assert notes == []
    else:
        assert len(notes) == 1, notes
        for word in words:
            assert word in notes[0]


# -- timeout_from -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "arg", "seconds"),
    [
        pytest.param({}, None, 3600.0, id="default"),
        pytest.param({"EZPZ_DIST_TIMEOUT": "  "}, None, 3600.0, id="blank-is-default"),
        pytest.param({"EZPZ_DIST_TIMEOUT": "600"}, None, 600.0, id="env"),
        pytest.param({"EZPZ_DIST_TIMEOUT": "1.5"}, None, 1.5, id="env-fraction"),
        pytest.param({}, 120, 120.0, id="arg"),
        pytest.param({"EZPZ_DIST_TIMEOUT": "600"}, 30.0, 30.0, id="arg-beats-env"),
        pytest.param({"EZPZ_DIST_TIMEOUT": "garbage"}, 30.0, 30.0, id="arg-beats-bad-env"),
    ],
)
def test_timeout_from(env: dict[str, str], arg: float | None, seconds: float) -> None:
    assert timeout_from(env, arg) == seconds


@pytest.mark.parametrize("text", ["abc", "10s", "1h", "nan", "inf", "-5", "0"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_an_error(text: str) -> None:
    with pytest.raises(DistSetupError) as err:
        timeout_from({"EZPZ_DIST_TIMEOUT": text}, None)
    assert "EZPZ_DIST_TIMEOUT" in str(err.value)
    assert text in str(err.value)


# -- cleanup and setup_torch, for real ------------------------------------------------


def test_cleanup_without_torch_imported_is_harmless_and_imports_nothing() -> None:
    code = """
        import sys
        from ezpz_core.dist import cleanup
        cleanup()
        cleanup()
        print("RESULT", __import__("json").dumps("torch" in sys.modules))
    """
    proc = run_python(code, clean_env())
    assert result_of(proc) is False
    assert proc.stderr == ""


def test_cleanup_twice_without_a_process_group_does_not_raise() -> None:
    cleanup()
    cleanup()


SETUP_SCRIPT = """
    import dataclasses, json, os, warnings
    import torch.distributed as dist
    from ezpz_core.dist import EXPORTED, cleanup, setup_torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = setup_torch()
    out = {
        "info": dataclasses.asdict(info),
        "environ": {name: os.environ.get(name) for name in EXPORTED},
        "initialized": dist.is_initialized(),
        "group_backend": str(dist.get_backend()),
        "warned": [str(w.message) for w in caught],
    }
    cleanup()
    out["after_cleanup"] = dist.is_initialized()
    cleanup()
    out["after_second_cleanup"] = dist.is_initialized()
    print("RESULT", json.dumps(out))
"""


@pytest.fixture(scope="module")
def one_rank() -> dict:
    """setup_torch() run once, for real, as a lone process with a clean environment."""
    return result_of(run_python(SETUP_SCRIPT, clean_env()))


@pytest.fixture(scope="module")
def one_rank_nccl() -> dict:
    """The same, asking for nccl on this CPU-only torch build."""
    return result_of(run_python(SETUP_SCRIPT, clean_env({"TORCH_BACKEND": "nccl"})))


def test_setup_torch_one_rank_is_gloo_on_cpu_meeting_on_localhost(one_rank: dict) -> None:
    info = one_rank["info"]
    assert (info["rank"], info["world_size"], info["local_rank"], info["local_world_size"]) == (
        0,
        1,
        0,
        1,
    )
    assert (info["backend"], info["device"], info["device_type"]) == ("gloo", "cpu", "cpu")
    assert (info["master_addr"], info["rendezvous_source"]) == ("127.0.0.1", "local")
    assert 0 < info["master_port"] < 65536
    assert info["warnings"] == []


def test_setup_torch_exports_the_torch_variables(one_rank: dict) -> None:
    info = one_rank["info"]
    assert one_rank["environ"] == {
        "RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_RANK": "0",
        "LOCAL_WORLD_SIZE": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(info["master_port"]),
    }
    assert set(one_rank["environ"]) == set(EXPORTED)


def test_setup_torch_initialises_and_cleanup_uninitialises(one_rank: dict) -> None:
    assert one_rank["initialized"] is True
    assert one_rank["group_backend"] == "gloo"
    assert one_rank["after_cleanup"] is False


def test_cleanup_twice_after_a_real_setup_does_not_raise(one_rank: dict) -> None:
    assert one_rank["after_second_cleanup"] is False


def test_setup_torch_asked_for_nccl_on_a_cpu_build_falls_back_to_gloo(
    one_rank_nccl: dict,
) -> None:
    info = one_rank_nccl["info"]
    assert info["backend"] == one_rank_nccl["group_backend"] == "gloo"
    assert len(info["warnings"]) == 1
    assert "nccl" in info["warnings"][0]
    assert any("nccl" in text for text in one_rank_nccl["warned"])


# -- cleanup frees the process group (the gloo abort at exit) --------------------------
#
# A gloo group's worker threads drop their references to a finished collective after
# the caller has moved on; that release needs the GIL, and during interpreter
# finalisation it aborts the process (SIGABRT, exit 134). cleanup() must therefore
# leave no thread of the group alive by the time Python finalises. "Threads the
# group started" are the native threads that appeared during setup_torch(), read
# from /proc (gloo's two workers, its TCP loop, the store's server).

needs_proc = pytest.mark.skipif(
    not os.path.isdir("/proc/self/task"), reason="counts threads in /proc/self/task"
)

DDP_PRELUDE = """
    import atexit, json, os
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    from ezpz_core.dist import cleanup, setup_torch

    def threads():
        return set(os.listdir("/proc/self/task"))

    def trained_model(steps=5):
        model = DDP(torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(),
                                        torch.nn.Linear(16, 2)))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(steps):
            loss = model(torch.randn(4, 8)).square().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            # the last collective before cleanup, over a tensor with a Python object
            dist.all_reduce(torch.tensor([loss.item()] * 6, dtype=torch.float64))
        return model

    started = set()
    before = threads()
    info = setup_torch()
    started |= threads() - before
"""
ONE_RANK = {"RANK": "0", "WORLD_SIZE": "1"}  # torchrun-style: no mpi4py, no MPI threads


@needs_proc
def test_cleanup_ends_every_thread_the_process_group_started() -> None:
    code = (
        DDP_PRELUDE
        + """
    trained_model()  # the model is gone once this returns
    cleanup()
    print("RESULT", json.dumps({"started": len(started), "left": len(started & threads())}))
    """
    )
    out = result_of(run_python(code, clean_env(ONE_RANK)))
    assert out["started"] >= 3, out  # gloo's workers and its loop at least
    assert out["left"] == 0, out


def test_a_group_still_referenced_at_exit_is_a_warning_that_says_what_to_do() -> None:
    code = (
        DDP_PRELUDE
        + """
    model = trained_model()  # module level: alive until the interpreter finalises
    cleanup()
    """
    )
    proc = run_python(code, clean_env(ONE_RANK))
    # the exit code itself is the race this warns about, so it is not asserted
    assert "1 destroyed process group(s) are still referenced at exit" in proc.stderr
    assert "Delete the model, or build it inside a function that returns" in proc.stderr


def test_a_rank_that_fails_after_cleanup_exits_1_with_its_traceback_and_no_warning() -> None:
    """The uncaught exception's traceback holds the frame with the model; the group
    is still freed at exit, so the failure stays an ordinary exit 1."""
    code = (
        DDP_PRELUDE
        + """
    def main():
        model = trained_model()
        try:
            raise ValueError("the data ran out")
        finally:
            cleanup()
    main()
    """
    )
    proc = run_python(code, clean_env(ONE_RANK))
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "ValueError: the data ran out" in proc.stderr
    assert "still referenced" not in proc.stderr


DDP_JOB = (
    "from mpi4py import MPI  # MPI's own threads start here, before the count\n"
    + textwrap.dedent(DDP_PRELUDE)
    + textwrap.dedent(
        """
    atexit.register(lambda: print("RESULT", json.dumps(
        {"rank": info.rank, "started": len(started), "left": len(started & threads())}
    ), flush=True))
    def main():
        model = trained_model()
        try:
            dist.all_reduce(torch.ones(6, dtype=torch.float64))
        finally:
            cleanup()
    main()
    """
    )
)


@needs_proc
def test_a_ddp_job_on_two_openmpi_ranks_exits_0_every_time(tmp_path: Path) -> None:
    """The usual ``try: ... finally: cleanup()`` with the model still alive in the
    caller's frame: its group is freed at exit, before Python finalises, on every
    rank, and every run exits 0. Before cleanup() freed the group this exited 134 in
    about half the runs, and every thread of the group was still there at exit."""
    job = tmp_path / "job.py"
    job.write_text(DDP_JOB)
    venv_bin = os.path.dirname(sys.executable)
    env = clean_env({"PATH": os.pathsep.join([venv_bin, os.defpath])})
    argv = [os.path.join(venv_bin, "mpirun"), "-np", "2"]
    if os.geteuid() == 0:
        argv.append("--allow-run-as-root")
    argv += [sys.executable, str(job)]
    codes, failures = [], []
    for _ in range(5):
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False
        )
        codes.append(proc.returncode)
        results = [json.loads(x[7:]) for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode != 0 or len(results) != 2:
            failures.append(proc.stderr[-1500:])
            continue
        for result in results:
            assert result["started"] >= 3 and result["left"] == 0, result
    assert codes == [0] * 5, (codes, failures)


# -- workload helpers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("std", "text"),
    [
        (0.016, "0.016"),
        (6.7e-3, "6.7e-3"),
        (3.4e-4, "3.4e-4"),
        (0.12, "0.12"),
        (5.1e-4, "5.1e-4"),
        (0.5, "0.5"),
        (120.0, "120"),
    ],
)
def test_format_std(std: float, text: str) -> None:
    assert format_std(std) == text


@pytest.mark.parametrize(
    ("step", "values", "stds", "line"),
    [
        pytest.param(
            10,
            {"loss": 0.6931, "dt": 0.0123},
            {"loss": 0.012},
            "step=10 loss=0.693100(±0.012) dt=0.012300",
            id="std-on-loss-only",
        ),
        pytest.param(
            3,
            {"accuracy": 0.5, "loss": 1.0, "step": 3.0},
            {},
            "step=3 loss=1.000000 accuracy=0.500000",
            id="no-stds-fixed-order",
        ),
        pytest.param(
            200,
            {"loss": 0.25, "dt": 0.01, "samples_per_s": 51234.56},
            {"loss": 0.0, "dt": math.nan, "samples_per_s": 120.0},
            "step=200 loss=0.250000 dt=0.010000 samples_per_s=51234.6(±120)",
            id="zero-and-nan-std-hidden",
        ),
        pytest.param(
            1,
            {"loss": 2.0, "accuracy": 0.25, "dt": 0.5, "dtf": 0.2, "dtb": 0.3},
            {"dtf": 5.1e-4},
            "step=1 loss=2.000000 accuracy=0.250000 dt=0.500000 dtf=0.200000(±5.1e-4) dtb=0.300000",
            id="small-std-exponent",
        ),
    ],
)
def test_step_line(step: int, values: dict[str, float], stds: dict[str, float], line: str) -> None:
    got = step_line(step, values, stds)
    assert got.split(" ")[0] == f"step={step}"
    assert got == line


def sums_of(per_rank: list[list[float]]) -> tuple[list[float], ...]:
    """What the workload's all_reduce calls give: sum, sum of squared deviations
    from the mean (computed as each rank does, from the reduced sum), min, max."""
    columns = list(zip(*per_rank, strict=True))
    n = len(per_rank)
    return (
        [sum(c) for c in columns],
        [sum((x - sum(c) / n) ** 2 for x in c) for c in columns],
        [min(c) for c in columns],
        [max(c) for c in columns],
    )


@pytest.mark.parametrize(
    "per_rank",
    [
        pytest.param([[0.5, 0.01], [0.7, 0.03], [0.6, 0.02]], id="three-ranks"),
        pytest.param([[1.0, 2.0], [3.0, 4.0]], id="two-ranks"),
        pytest.param([[float(r), 0.1 * r] for r in range(12)], id="twelve-ranks"),
        pytest.param([[0.42, 7.0]], id="one-rank"),
    ],
)
def test_aggregates_are_the_statistics_of_the_per_rank_values(
    per_rank: list[list[float]],
) -> None:
    got = aggregates(["loss", "dt"], *sums_of(per_rank), len(per_rank))
    for i, name in enumerate(["loss", "dt"]):
        column = [row[i] for row in per_rank]
        assert got[f"{name}/mean"] == pytest.approx(statistics.fmean(column))
        assert got[f"{name}/min"] == min(column)
        assert got[f"{name}/max"] == max(column)
        assert got[f"{name}/std"] == pytest.approx(statistics.pstdev(column), abs=1e-9)
    assert set(got) == {f"{n}/{s}" for n in ("loss", "dt") for s in ("mean", "min", "max", "std")}


@pytest.mark.parametrize(
    ("value", "ranks"),
    [
        pytest.param(0.5, 4, id="0.5x4"),
        pytest.param(0.1, 3, id="0.1x3"),
        pytest.param(0.1, 7, id="0.1x7"),
        pytest.param(12345.678, 12, id="12345.678x12"),
        pytest.param(1e8 + 0.1, 3, id="1e8+0.1x3"),
    ],
)
def test_aggregates_std_of_identical_values_is_zero(value: float, ranks: int) -> None:
    """Every rank reports the same value: no spread, so no ``(±...)`` is printed."""
    got = aggregates(["dt"], *sums_of([[value]] * ranks), ranks)
    assert got["dt/std"] == 0.0


def test_aggregates_std_of_large_close_values_is_sensible() -> None:
    per_rank = [[1e8 + 0.1], [1e8 + 0.2]]
    got = aggregates(["samples_per_s"], *sums_of(per_rank), 2)
    assert got["samples_per_s/std"] == pytest.approx(0.05, rel=0.1)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--steps", "0"], "--steps"),
        (["--batch-size", "0"], "--batch-size"),
        (["--hidden", "-3"], "--hidden"),
        (["--log-every", "0"], "--log-every"),
        (["--lr", "0"], "--lr"),
        (["--sleep", "-1"], "--sleep"),
        (["--steps", "ten"], "--steps"),
        (["--step", "5"], "--step"),
    ],
)
def test_parse_args_rejects_bad_values_with_exit_2_and_a_message(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err
    assert flag in err


def test_parse_args_steps_zero_says_at_least_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--steps", "0"])
    assert "--steps must be at least 1" in capsys.readouterr().err


def test_parse_args_help_mentions_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--steps",
        "--batch-size",
        "--hidden",
        "--lr",
        "--log-every",
        "--seed",
        "--sleep",
        "--history",
        "--wandb",
    ):
        assert flag in out


def test_parse_args_defaults() -> None:
    args = parse_args([])
    assert (args.steps, args.batch_size, args.hidden, args.log_every) == (200, 64, 128, 10)
    assert (args.lr, args.seed, args.sleep, args.history, args.wandb) == (
        0.05,
        0,
        0.0,
        None,
        False,
    )


def test_wandb_disabled_is_a_no_op() -> None:
    tracker = Wandb(False, {"steps": 1}, {"WANDB_PROJECT": "p"})
    assert tracker.run is None
    tracker.log({"loss": 1.0}, step=1)
    tracker.finish()
    assert tracker.run is None


def test_a_rendezvous_port_already_taken_is_a_clear_error_not_a_torch_traceback() -> None:
    """Rank 0 of two cannot open its store on a port another process listens on."""
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = clean_env(
            {
                "RANK": "0",
                "WORLD_SIZE": "2",
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(port),
                "EZPZ_DIST_TIMEOUT": "5",
            }
        )
        proc = run_python(
            """
            from ezpz_core.dist import DistSetupError, setup_torch
            try:
                setup_torch()
            except DistSetupError as exc:
                print("DistSetupError:", exc)
            """,
            env,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"rank 0: cannot open the rendezvous at 127.0.0.1:{port} (env)" in proc.stdout
    assert "set MASTER_ADDR and a free MASTER_PORT" in proc.stdout


def test_an_mpi4py_of_another_mpi_inside_a_slurm_job_meets_at_the_job_s_first_host() -> None:
    """An Open MPI mpi4py under ``srun`` (no PMIx): each rank sees a world of 1, as
    on a real single-node Slurm here; every rank takes the step's first node and the
    job-id port alike instead of failing."""
    env = {"SLURM_JOB_ID": "42", "SLURM_STEP_NODELIST": "nid[003-004]", "SLURM_NNODES": "2"}
    got = {
        resolve_rendezvous(env, ranks_of(r, 4, 2), f"nid00{3 + r // 2}", own_world, ports_from(1))
        for r in range(4)
    }
    assert got == {("nid003", job_port("42"), "job-id")}
