"""``torch.distributed`` set-up for any launcher: ``setup_torch()`` and ``cleanup()``.

Used by our reference workload and by users' own training scripts::

    from ezpz_core.dist import setup_torch, cleanup
    info = setup_torch()            # rank, world size, device, backend...
    model = DDP(model.to(info.device))
    ...
    cleanup()

Rank facts come from whichever launcher started the process (``rankenv``), else
mpi4py, else one rank. The rendezvous address is ``MASTER_ADDR``/``MASTER_PORT``
when set; otherwise rank 0's host (with the machine table's high-speed-network
domain) and a free port, broadcast with mpi4py; without mpi4py, the first host of
the job and a port derived from the job id. Everything up to ``init_process_group``
is split into pure functions over plain data, so each rule is a test vector.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import sys
import warnings
import zlib
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from ezpz_core.machines import match_machine
from ezpz_core.rankenv import RankEnv, rank_from_env

DEFAULT_TIMEOUT_S = 3600.0
PORT_BASE, PORT_SPAN = 20000, 10000  # job-id ports: below Linux's ephemeral range
EXPORTED = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class DistSetupError(RuntimeError):
    """Distributed set-up cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Ranks:
    rank: int
    local_rank: int
    world_size: int
    local_world_size: int
    source: str  # launcher whose variables told us, "mpi4py" or "none"


@dataclass(frozen=True)
class DistInfo:
    """What ``setup_torch`` set up; ``device`` is ready for ``tensor.to(...)``."""

    rank: int
    local_rank: int
    world_size: int
    local_world_size: int
    device: str  # "cuda:0", "xpu:1", "mps", "cpu"
    device_type: str
    backend: str
    master_addr: str
    master_port: int
    rank_source: str
    rendezvous_source: str  # "env", "mpi4py", "job-id", "local"
    warnings: tuple[str, ...] = field(default=())


# -- ranks ----------------------------------------------------------------------


def resolve_ranks(
    found: RankEnv, mpi: tuple[int, int, int] | None = None, nodes: int | None = None
) -> Ranks:
    """Complete the launcher's facts: ``mpi`` is (rank, size, ranks on this node)
    from mpi4py, asked for only when no launcher variable gives the rank; ``nodes``
    is the job's node count, for launchers that do not say how many ranks share a
    node (then ranks are assumed spread evenly; one node when unknown)."""
    if found.source == "none" and mpi is not None:
        rank, size, local_size = mpi
        return Ranks(rank, rank % max(local_size, 1), size, local_size, "mpi4py")
    world = found.world_size or 1
    if found.rank >= world:
        raise DistSetupError(
            f"rank {found.rank} (from {found.source}) but the world size is "
            f"{found.world_size or 'not set'}: set WORLD_SIZE (or launch with a launcher "
            "that sets both), or unset a stale RANK in your shell"
        )
    local_size = found.local_world_size
    if local_size is None:
        local_size = -(-world // nodes) if nodes else world
    local_rank = found.local_rank
    if local_rank is None:
        local_rank = found.rank % max(local_size, 1)
    return Ranks(found.rank, local_rank, world, local_size, found.source)


def job_nodes(env: Mapping[str, str]) -> int | None:
    """How many nodes the job has: PBS's nodefile, or ``SLURM_NNODES`` in Slurm."""
    nodefile = env.get("PBS_NODEFILE")
    if nodefile:
        try:
            with open(nodefile) as handle:
                hosts = {line.split("#")[0].strip() for line in handle} - {""}
            return len(hosts) or None
        except OSError:
            return None
    nnodes = env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES") or ""
    if env.get("SLURM_JOB_ID") and nnodes.isdigit():
        return int(nnodes)
    return None


def mpi_facts() -> tuple[int, int, int] | None:
    """(rank, size, ranks on this node) from mpi4py, or None when it is not installed."""
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    comm = MPI.COMM_WORLD
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return comm.Get_rank(), comm.Get_size(), node.Get_size()
    finally:
        node.Free()


# -- rendezvous -----------------------------------------------------------------


def rendezvous_host(hostname: str, env: Mapping[str, str]) -> str:
    """``hostname`` as other nodes must dial it: the machine table's high-speed
    network domain (Aurora, Polaris, Sirius, Sophia) on the short name."""
    machine = match_machine(hostname, env)
    if machine.rendezvous_domain:
        return hostname.split(".")[0] + machine.rendezvous_domain
    return hostname


def job_port(job_id: str) -> int:
    """A port every rank computes alike from the job id, when none can broadcast one."""
    return PORT_BASE + zlib.crc32(job_id.encode()) % PORT_SPAN


def job_id(env: Mapping[str, str]) -> str:
    for name in ("PBS_JOBID", "SLURM_JOB_ID", "EZPZ_RUN_ID", "TORCHELASTIC_RUN_ID"):
        if env.get(name):
            return env[name]
    return ""


def first_job_host(env: Mapping[str, str]) -> str | None:
    """The first host of the job (rank 0's, for block placement) without MPI."""
    nodefile = env.get("PBS_NODEFILE")
    if nodefile:
        try:
            with open(nodefile) as handle:
                for line in handle:
                    host = line.split("#")[0].split()
                    if host:
                        return host[0]
        except OSError:
            pass
    nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST")
    if nodelist:
        from ezpz_core.errors import EzpzError
        from ezpz_core.hostfile import expand_nodelist

        try:
            hosts = list(expand_nodelist(nodelist, "SLURM_JOB_NODELIST"))
        except EzpzError as exc:
            raise DistSetupError(
                f"cannot read the job's node list to find rank 0's host: {exc}. "
                "Set MASTER_ADDR and MASTER_PORT, or install mpi4py."
            ) from None
        if hosts:
            return hosts[0]
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


Broadcast = Callable[[tuple[str, int] | None], tuple[int, tuple[str, int] | None]]


def resolve_rendezvous(
    env: Mapping[str, str],
    ranks: Ranks,
    hostname: str,
    broadcast: Broadcast | None,
    pick_port: Callable[[], int] = free_port,
) -> tuple[str, int, str]:
    """(address, port, how) for ``init_process_group``.

    ``broadcast(value)`` sends rank 0's value to every rank and returns
    (the communicator's size, the value received); None when mpi4py is absent.
    """
    addr, port = env.get("MASTER_ADDR", "").strip(), env.get("MASTER_PORT", "").strip()
    if addr and port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise DistSetupError(
                f"MASTER_PORT={port!r} is not a port number (1-65535); unset it or fix it"
            )
        return addr, int(port), "env"
    if ranks.world_size == 1:
        return "127.0.0.1", pick_port(), "local"
    if broadcast is not None:
        mine = (rendezvous_host(hostname, env), pick_port()) if ranks.rank == 0 else None
        size, value = broadcast(mine)
        if size != ranks.world_size:
            raise DistSetupError(mismatch_message(ranks, size))
        if value is None or not value[0] or value[0] == "None":
            raise DistSetupError(
                f"rank {ranks.rank}: the launcher started {ranks.world_size} ranks and "
                f"mpi4py sees a world of {size}, but rank 0's rendezvous address did not "
                f"arrive (got {value!r}): mpi4py may not match the launcher's MPI. "
                f"Fix: {MISMATCH_REMEDY}"
            )
        return value[0], value[1], "mpi4py"
    host = first_job_host(env)
    if host is None and ranks.local_world_size >= ranks.world_size:
        host = "127.0.0.1"  # every rank is on this node
    if host is None:
        raise DistSetupError(
            f"rank {ranks.rank}: cannot tell which host rank 0 is on: MASTER_ADDR is "
            "not set, mpi4py is not installed, and the job has no host list. Set "
            "MASTER_ADDR and MASTER_PORT, or install mpi4py (pip install mpi4py)."
        )
    ident = job_id(env)
    if not ident:
        raise DistSetupError(
            f"rank {ranks.rank}: MASTER_PORT is not set and there is no job id to "
            "derive one from (and no mpi4py to share one). Set MASTER_PORT."
        )
    return rendezvous_host(host, env), job_port(ident), "job-id"


def mismatch_message(ranks: Ranks, mpi_size: int) -> str:
    return (
        f"rank {ranks.rank}: the launcher started {ranks.world_size} ranks, but mpi4py "
        f"sees a world of {mpi_size}: mpi4py is built against a different MPI than the "
        "launcher (for example an Open MPI mpi4py under MPICH/PALS mpiexec), so rank 0 "
        f"cannot share the rendezvous address. Fix: {MISMATCH_REMEDY}"
    )


MISMATCH_REMEDY = (
    "use the mpiexec that matches mpi4py's MPI (python -c 'from mpi4py import MPI; "
    "print(MPI.Get_library_version())'), or set MASTER_ADDR and MASTER_PORT."
)


def mpi_broadcast(value: tuple[str, int] | None) -> tuple[int, tuple[str, int] | None]:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    return comm.Get_size(), comm.bcast(value, root=0)


def mpi4py_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


# -- device and backend ---------------------------------------------------------


@dataclass(frozen=True)
class Accelerators:
    """What this torch build and node offer (probed once, passed in for tests)."""

    cuda: int = 0
    xpu: int = 0
    mps: bool = False
    backends: frozenset[str] = frozenset({"gloo"})  # usable distributed backends
    torch_version: str = ""


def choose_device(env: Mapping[str, str], acc: Accelerators) -> tuple[str, str, list[str]]:
    """(device type, backend, warnings): CUDA -> nccl, XPU -> xccl (ccl on older
    torch), MPS or CPU -> gloo; ``TORCH_DEVICE`` and ``TORCH_BACKEND`` override.
    A backend this build cannot use falls back to gloo with a warning."""
    notes: list[str] = []
    forced = env.get("TORCH_DEVICE", "").strip().lower()
    if forced:
        kind = forced.split(":")[0]
        counts = {"cuda": acc.cuda, "xpu": acc.xpu, "mps": int(acc.mps), "cpu": 1}
        if kind not in counts:
            notes.append(f"TORCH_DEVICE={forced!r} is not cuda, xpu, mps or cpu; using cpu")
            kind = "cpu"
        elif not counts[kind]:
            notes.append(f"TORCH_DEVICE={forced!r}, but this node/torch has none; using cpu")
            kind = "cpu"
    elif acc.cuda:
        kind = "cuda"
    elif acc.xpu:
        kind = "xpu"
    elif acc.mps:
        kind = "mps"
    else:
        kind = "cpu"
    default = {"cuda": "nccl", "xpu": "xccl" if "xccl" in acc.backends else "ccl"}.get(kind, "gloo")
    backend = env.get("TORCH_BACKEND", "").strip().lower() or default
    if backend not in acc.backends:
        why = {
            "nccl": "this torch build has no NCCL (a CPU or ROCm-less build?)",
            "xccl": "this torch build has no XCCL (torch >= 2.8 with XPU needed)",
            "ccl": "oneccl_bindings_for_pytorch is not installed",
        }.get(backend, "this torch build does not offer it")
        notes.append(
            f"backend {backend!r} is not available: {why}; falling back to gloo. "
            f"Check TORCH_BACKEND, the torch build ({acc.torch_version or 'unknown'}) "
            "and the loaded modules."
        )
        backend = "gloo"
    return kind, backend, notes


def probe_accelerators() -> Accelerators:
    import torch
    import torch.distributed as dist

    backends = {"gloo"} if dist.is_gloo_available() else set()
    if dist.is_nccl_available():
        backends.add("nccl")
    if getattr(dist, "is_xccl_available", lambda: False)():
        backends.add("xccl")
    if dist.is_mpi_available():
        backends.add("mpi")
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available() and "xccl" not in backends:
        # registers the "ccl" backend on torch < 2.8
        with contextlib.suppress(ImportError):
            import oneccl_bindings_for_pytorch  # noqa: F401
    if "oneccl_bindings_for_pytorch" in sys.modules:
        backends.add("ccl")
    mps = getattr(torch.backends, "mps", None)
    return Accelerators(
        cuda=torch.cuda.device_count() if torch.cuda.is_available() else 0,
        xpu=xpu.device_count() if xpu is not None and xpu.is_available() else 0,
        mps=bool(mps is not None and mps.is_available()),
        backends=frozenset(backends),
        torch_version=str(torch.__version__),
    )


def export_env(env: MutableMapping[str, str], info: DistInfo) -> None:
    """The torch variables, so user code and libraries that read them agree."""
    env["RANK"] = str(info.rank)
    env["WORLD_SIZE"] = str(info.world_size)
    env["LOCAL_RANK"] = str(info.local_rank)
    env["LOCAL_WORLD_SIZE"] = str(info.local_world_size)
    env["MASTER_ADDR"] = info.master_addr
    env["MASTER_PORT"] = str(info.master_port)


def timeout_from(env: Mapping[str, str], timeout_s: float | None) -> float:
    if timeout_s is not None:
        return float(timeout_s)
    text = env.get("EZPZ_DIST_TIMEOUT", "").strip()
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise DistSetupError(
            f"EZPZ_DIST_TIMEOUT={text!r} is not a positive number of seconds; fix or unset it"
        )
    return seconds


# -- the edge: torch itself -------------------------------------------------------


def setup_torch(
    backend: str | None = None,
    device: str | None = None,
    timeout_s: float | None = None,
    env: MutableMapping[str, str] | None = None,
) -> DistInfo:
    """Initialise ``torch.distributed`` for this rank and return what was set up.

    ``backend``/``device`` override ``TORCH_BACKEND``/``TORCH_DEVICE``; the timeout
    (default 3600 s, or ``EZPZ_DIST_TIMEOUT``) bounds rendezvous and collectives.
    Raises ``DistSetupError`` with a remedy when the ranks cannot meet.
    """
    import torch
    import torch.distributed as dist

    environ = os.environ if env is None else env
    overrides = dict(environ)
    if backend:
        overrides["TORCH_BACKEND"] = backend
    if device:
        overrides["TORCH_DEVICE"] = device
    found = rank_from_env(environ)
    mpi = mpi_facts() if found.source == "none" and mpi4py_available() else None
    ranks = resolve_ranks(found, mpi, job_nodes(environ))
    seconds = timeout_from(environ, timeout_s)
    bcast = mpi_broadcast if ranks.world_size > 1 and mpi4py_available() else None
    addr, port, how = resolve_rendezvous(environ, ranks, socket.gethostname(), bcast)
    kind, chosen, notes = choose_device(overrides, probe_accelerators())
    dev = kind
    if kind == "cuda":
        index = ranks.local_rank % max(torch.cuda.device_count(), 1)
        torch.cuda.set_device(index)
        dev = f"cuda:{index}"
    elif kind == "xpu":
        index = ranks.local_rank % max(torch.xpu.device_count(), 1)
        torch.xpu.set_device(index)
        dev = f"xpu:{index}"
    info = DistInfo(
        rank=ranks.rank,
        local_rank=ranks.local_rank,
        world_size=ranks.world_size,
        local_world_size=ranks.local_world_size,
        device=dev,
        device_type=kind,
        backend=chosen,
        master_addr=addr,
        master_port=port,
        rank_source=ranks.source,
        rendezvous_source=how,
    )
    export_env(environ, info)
    if environ is not os.environ:
        export_env(os.environ, info)
    timeout = timedelta(seconds=seconds)
    store = dist.TCPStore(addr, port, ranks.world_size, is_master=ranks.rank == 0, timeout=timeout)
    try:
        _init(dist, chosen, store, ranks, timeout)
    except Exception as exc:
        if chosen == "gloo":
            raise
        notes.append(
            f"init_process_group with backend {chosen!r} failed ({exc}); falling back "
            "to gloo. Check the backend's libraries and TORCH_BACKEND."
        )
        chosen = "gloo"
        _init(dist, chosen, store, ranks, timeout)
    info = replace(info, backend=chosen, warnings=tuple(notes))
    for note in notes:
        if ranks.rank == 0:
            warnings.warn(note, RuntimeWarning, stacklevel=2)
    return info


def _init(dist: Any, backend: str, store: Any, ranks: Ranks, timeout: timedelta) -> None:
    dist.init_process_group(
        backend=backend,
        store=dist.PrefixStore(f"ezpz/{backend}", store),
        rank=ranks.rank,
        world_size=ranks.world_size,
        timeout=timeout,
    )


def cleanup() -> None:
    """Destroy the process group; harmless twice, without one, or without torch.
    Never raises: a finished run must not fail in its last line."""
    dist = sys.modules.get("torch.distributed")
    if dist is None:
        return
    try:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    except Exception as exc:
        warnings.warn(f"cleanup: destroying the process group failed: {exc}", stacklevel=2)
