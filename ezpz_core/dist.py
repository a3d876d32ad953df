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

import math
import os
import socket
import sys
import warnings
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from ezpz_core.backends import choose_device, probe_accelerators
from ezpz_core.errors import DistSetupError
from ezpz_core.rankenv import Ranks, mpi_facts, rank_from_env, resolve_ranks
from ezpz_core.rendezvous import job_nodes, mpi4py_available, mpi_broadcast, resolve_rendezvous

__all__ = ["DistInfo", "DistSetupError", "cleanup", "setup_torch"]

DEFAULT_TIMEOUT_S = 3600.0
EXPORTED = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


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
    has_mpi4py = mpi4py_available()
    mpi = mpi_facts() if found.source == "none" and has_mpi4py else None
    ranks = resolve_ranks(found, mpi, job_nodes(environ))
    seconds = timeout_from(environ, timeout_s)
    bcast = mpi_broadcast if ranks.world_size > 1 and has_mpi4py else None
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
    try:
        store = dist.TCPStore(
            addr, port, ranks.world_size, is_master=ranks.rank == 0, timeout=timeout
        )
    except (RuntimeError, OSError) as exc:  # port taken, host unreachable, timed out
        raise DistSetupError(
            f"rank {ranks.rank}: cannot {'open' if ranks.rank == 0 else 'reach'} the "
            f"rendezvous at {addr}:{port} ({how}): {exc}. Check that rank 0's host is "
            "reachable, or set MASTER_ADDR and a free MASTER_PORT."
        ) from None
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
