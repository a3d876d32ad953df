"""Which rank am I: ``rankenv.rank_from_env`` and ``slurm_tasks_on_node``.

Each vector is the environment a launcher really gives one rank: torchrun workers,
Open MPI 5 ``mpirun`` (PMIx variables alongside), MPICH Hydra, PALS ``mpiexec`` on
Aurora, PMIx alone, and Slurm ``srun`` (emulated as plain variables, including
``SLURM_STEP_TASKS_PER_NODE``). Also torchrun started once per node by ``mpiexec``
or ``srun``, stale torch variables left in a shell, and the two ezpz defects that
must not come back: ``SLURM_LOCAL_ID`` (Slurm never sets it) and a local world size
taken from accelerators per node instead of the ranks actually placed on it.
The simple one-launcher cases live in ``test_rankio.py``.
"""

from __future__ import annotations

import pytest

from ezpz_core.rankenv import RankEnv, rank_from_env, slurm_tasks_on_node

AURORA_JOBID = "8414055.aurora-pbs-0001.hostmgmt.cm.aurora.alcf.anl.gov"
AURORA_NODEFILE = f"/var/spool/pbs/aux/{AURORA_JOBID}"

# torchrun --nnodes 2 --nproc-per-node 4: the worker with local rank 3 on node 1.
TORCHRUN_WORKER = {
    "RANK": "7",
    "LOCAL_RANK": "3",
    "WORLD_SIZE": "8",
    "LOCAL_WORLD_SIZE": "4",
    "GROUP_RANK": "1",
    "GROUP_WORLD_SIZE": "2",
    "ROLE_RANK": "7",
    "ROLE_WORLD_SIZE": "8",
    "ROLE_NAME": "default",
    "MASTER_ADDR": "x4102c5s2b0n0.hsn.cm.aurora.alcf.anl.gov",
    "MASTER_PORT": "29500",
    "TORCHELASTIC_RUN_ID": "8414055",
    "TORCHELASTIC_RESTART_COUNT": "0",
    "TORCHELASTIC_MAX_RESTARTS": "0",
    "TORCHELASTIC_USE_AGENT_STORE": "False",
    "TORCH_NCCL_ASYNC_ERROR_HANDLING": "1",
    "OMP_NUM_THREADS": "1",
}

# mpirun -np 12 --map-by ppr:6:node (Open MPI 5.0): rank 7, second on node 1.
OPENMPI5 = {
    "OMPI_COMM_WORLD_RANK": "7",
    "OMPI_COMM_WORLD_LOCAL_RANK": "1",
    "OMPI_COMM_WORLD_NODE_RANK": "1",
    "OMPI_COMM_WORLD_SIZE": "12",
    "OMPI_COMM_WORLD_LOCAL_SIZE": "6",
    "OMPI_UNIVERSE_SIZE": "12",
    "OMPI_COMMAND": "python",
    "PMIX_RANK": "7",
    "PMIX_NAMESPACE": "prterun-sophia-gpu-07-31702@1",
    "PMIX_HOSTNAME": "sophia-gpu-08",
    "PMIX_SERVER_URI41": "prterun-sophia-gpu-07-31702@0.0;tcp4://10.1.0.7:35591",
    "PMIX_SECURITY_MODE": "native",
}

# MPICH Hydra mpiexec -n 12 -ppn 6: rank 9, fourth on node 1.
MPICH_HYDRA = {
    "PMI_RANK": "9",
    "PMI_SIZE": "12",
    "PMI_FD": "6",
    "MPI_LOCALRANKID": "3",
    "MPI_LOCALNRANKS": "6",
}

# PALS mpiexec -n 24 --ppn 12 on Aurora: rank 13, second on node 1.
PALS_AURORA = {
    "PALS_RANKID": "13",
    "PALS_LOCAL_RANKID": "1",
    "PALS_NODEID": "1",
    "PALS_DEPTH": "8",
    "PALS_APID": "f1e9d3a2-6c1b-4d4e-9a57-4b8f0f2a1c3d",
    "PMI_RANK": "13",
    "PMI_SIZE": "24",
    "PMI_LOCAL_RANK": "1",
    "PMI_LOCAL_SIZE": "12",
    "PMI_UNIVERSE_SIZE": "24",
    "PBS_JOBID": AURORA_JOBID,
    "PBS_NODEFILE": AURORA_NODEFILE,
    "NGPU_PER_HOST": "12",
}

# A PMIx launcher that sets nothing else (prterun without the Open MPI personality).
PMIX_ONLY = {
    "PMIX_RANK": "5",
    "PMIX_NAMESPACE": "prterun-node01-4242@1",
    "PMIX_HOSTNAME": "node02",
    "PMIX_SERVER_URI41": "prterun-node01-4242@0.0;tcp4://10.0.0.1:41001",
}

# srun -N 4 -n 7 inside a 4-node allocation of 4 tasks each: rank 6 is alone on node 3.
SLURM_SRUN = {
    "SLURM_JOB_ID": "2718281",
    "SLURM_JOB_NODELIST": "nid[001000-001003]",
    "SLURM_NNODES": "4",
    "SLURM_TASKS_PER_NODE": "4(x4)",
    "SLURM_STEP_ID": "0",
    "SLURM_STEP_NODELIST": "nid[001000-001003]",
    "SLURM_STEP_NUM_NODES": "4",
    "SLURM_STEP_NUM_TASKS": "7",
    "SLURM_STEP_TASKS_PER_NODE": "2(x3),1",
    "SLURM_PROCID": "6",
    "SLURM_LOCALID": "0",
    "SLURM_NODEID": "3",
    "SLURM_NTASKS": "7",
    "SLURMD_NODENAME": "nid001003",
}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(TORCHRUN_WORKER, RankEnv(7, 3, 8, 4, "torchrun"), id="torchrun-worker"),
        pytest.param(OPENMPI5, RankEnv(7, 1, 12, 6, "openmpi"), id="openmpi5-with-pmix"),
        pytest.param(MPICH_HYDRA, RankEnv(9, 3, 12, 6, "mpich"), id="mpich-hydra"),
        pytest.param(PALS_AURORA, RankEnv(13, 1, 24, 12, "pals"), id="pals-aurora"),
        pytest.param(PMIX_ONLY, RankEnv(5, None, None, None, "pmix"), id="pmix-only"),
        pytest.param(SLURM_SRUN, RankEnv(6, 0, 7, 1, "slurm"), id="srun-last-node"),
        pytest.param(
            {
                **SLURM_SRUN,
                "SLURM_PROCID": "3",
                "SLURM_LOCALID": "1",
                "SLURM_NODEID": "1",
                "SLURMD_NODENAME": "nid001001",
            },
            RankEnv(3, 1, 7, 2, "slurm"),
            id="srun-middle-node",
        ),
    ],
)
def test_rank_env_as_each_launcher_presents_it(env: dict[str, str], expected: RankEnv) -> None:
    assert rank_from_env(env) == expected


@pytest.mark.parametrize(
    ("env", "local_rank"),
    [
        pytest.param({**SLURM_SRUN, "SLURM_LOCALID": "0"}, 0, id="localid-only"),
        pytest.param({**SLURM_SRUN, "SLURM_LOCALID": "0", "SLURM_LOCAL_ID": "5"}, 0, id="both"),
        pytest.param(
            {k: v for k, v in SLURM_SRUN.items() if k != "SLURM_LOCALID"} | {"SLURM_LOCAL_ID": "5"},
            None,
            id="local-id-only",
        ),
    ],
)
def test_slurm_local_rank_is_read_from_slurm_localid_never_slurm_local_id(
    env: dict[str, str], local_rank: int | None
) -> None:
    assert rank_from_env(env).local_rank == local_rank


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({**MPICH_HYDRA, "NGPU_PER_HOST": "12"}, id="hydra-localnranks"),
        pytest.param({**OPENMPI5, "NGPU_PER_HOST": "12"}, id="openmpi-local-size"),
        pytest.param({**PALS_AURORA, "PMI_LOCAL_SIZE": "6"}, id="pals-pmi-local-size"),
        pytest.param(
            {
                **SLURM_SRUN,
                "SLURM_NTASKS": "12",
                "SLURM_STEP_NUM_TASKS": "12",
                "SLURM_TASKS_PER_NODE": "12(x4)",
                "SLURM_STEP_TASKS_PER_NODE": "6(x2)",
                "SLURM_NODEID": "1",
                "SLURM_PROCID": "7",
                "SLURM_LOCALID": "1",
                "SLURM_GPUS_ON_NODE": "12",
            },
            id="srun-step-tasks-per-node",
        ),
    ],
)
def test_local_world_size_is_the_ranks_on_the_node_not_the_accelerators(
    env: dict[str, str],
) -> None:
    """``--ppn 6`` on a 12-tile node: 6 ranks share the node, whatever it holds."""
    assert rank_from_env(env).local_world_size == 6


# One torchrun per node: the MPI/Slurm launcher's rank is the node index.
PER_NODE_OPENMPI = {
    "OMPI_COMM_WORLD_RANK": "1",
    "OMPI_COMM_WORLD_LOCAL_RANK": "0",
    "OMPI_COMM_WORLD_SIZE": "2",
    "OMPI_COMM_WORLD_LOCAL_SIZE": "1",
    "PMIX_RANK": "1",
    "PMIX_NAMESPACE": "prterun-node01-4242@1",
}
PER_NODE_PALS = {
    "PALS_RANKID": "1",
    "PALS_LOCAL_RANKID": "0",
    "PMI_RANK": "1",
    "PMI_SIZE": "2",
    "PMI_LOCAL_RANK": "0",
    "PMI_LOCAL_SIZE": "1",
}
PER_NODE_SLURM = {
    "SLURM_JOB_ID": "2718281",
    "SLURM_PROCID": "1",
    "SLURM_LOCALID": "0",
    "SLURM_NTASKS": "2",
    "SLURM_NODEID": "1",
    "SLURM_STEP_TASKS_PER_NODE": "1(x2)",
}


@pytest.mark.parametrize(
    "outer",
    [
        pytest.param(PER_NODE_OPENMPI, id="mpirun"),
        pytest.param(PER_NODE_PALS, id="pals-mpiexec"),
        pytest.param(PER_NODE_SLURM, id="srun"),
    ],
)
def test_torchrun_worker_under_a_per_node_launcher_uses_torchruns_ranks(
    outer: dict[str, str],
) -> None:
    assert rank_from_env({**outer, **TORCHRUN_WORKER}) == RankEnv(7, 3, 8, 4, "torchrun")


def test_torchrun_marker_restart_count_alone_also_makes_torchrun_win() -> None:
    worker = {k: v for k, v in TORCHRUN_WORKER.items() if k != "TORCHELASTIC_RUN_ID"}
    assert rank_from_env({**PER_NODE_PALS, **worker}) == RankEnv(7, 3, 8, 4, "torchrun")


STALE_SHELL = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1"}


@pytest.mark.parametrize(
    ("launcher", "expected"),
    [
        pytest.param(OPENMPI5, RankEnv(7, 1, 12, 6, "openmpi"), id="openmpi"),
        pytest.param(MPICH_HYDRA, RankEnv(9, 3, 12, 6, "mpich"), id="mpich-hydra"),
        pytest.param(PALS_AURORA, RankEnv(13, 1, 24, 12, "pals"), id="pals"),
    ],
)
def test_stale_torch_variables_in_the_shell_lose_to_the_mpi_launcher(
    launcher: dict[str, str], expected: RankEnv
) -> None:
    """No ``TORCHELASTIC_*``: the ``RANK`` family is left over, not torchrun's."""
    assert rank_from_env({**STALE_SHELL, **launcher}) == expected


@pytest.mark.parametrize(
    ("spec", "node", "tasks"),
    [
        pytest.param("4", 0, 4, id="one-node"),
        pytest.param("4", 1, None, id="one-node-beyond"),
        pytest.param("2(x3),1", 0, 2, id="repeat-first"),
        pytest.param("2(x3),1", 1, 2, id="repeat-second"),
        pytest.param("2(x3),1", 2, 2, id="repeat-last"),
        pytest.param("2(x3),1", 3, 1, id="after-repeat"),
        pytest.param("2(x3),1", 4, None, id="beyond-list"),
        pytest.param("1,3(x2),2", 2, 3, id="repeat-in-middle"),
        pytest.param("1,3(x2),2", 3, 2, id="after-middle-repeat"),
        pytest.param("12(x128)", 127, 12, id="large-repeat"),
        pytest.param("", 0, None, id="empty"),
        pytest.param("four", 0, None, id="word"),
        pytest.param("2(x3", 0, None, id="unclosed"),
        pytest.param("2x3", 0, None, id="no-parens"),
        pytest.param("(x3)", 0, None, id="no-count"),
        pytest.param("2,,1", 1, None, id="empty-part"),
        pytest.param("-2", 0, None, id="negative"),
    ],
)
def test_slurm_tasks_on_node(spec: str, node: int, tasks: int | None) -> None:
    assert slurm_tasks_on_node(spec, node) == tasks


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param("bad", None, id="garbage-spec"),
        pytest.param("2(x3),1", 2, id="step-spec"),
    ],
)
def test_slurm_local_world_size_from_the_step_spec_or_none(spec: str, expected: int | None) -> None:
    env = {**SLURM_SRUN, "SLURM_STEP_TASKS_PER_NODE": spec, "SLURM_NODEID": "0"}
    env["SLURM_PROCID"], env["SLURM_LOCALID"] = "1", "1"
    assert rank_from_env(env).local_world_size == expected
