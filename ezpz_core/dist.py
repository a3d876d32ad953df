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

``cleanup()`` destroys the process group *for real*: torch's
``destroy_process_group()`` only drops torch's own references, and a gloo group
that something else still holds (a DDP model) keeps its worker threads running
into interpreter finalisation, where one releasing a finished collective's
tensors needs the GIL and aborts the process (see ``cleanup``).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import math
import os
import socket
import sys
import warnings
import weakref
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
# torch modules whose functions take ``group=group.WORLD`` as a default argument,
# evaluated when the module is imported. Imported after init_process_group (DDP's
# constructor imports torch._dynamo, which imports them) they hold the world group
# for the rest of the process, so no cleanup could ever destroy it; imported first,
# the default is None.
BINDS_WORLD_AT_IMPORT = ("torch.distributed.nn.functional",)

# Groups cleanup() destroyed that something else still referenced (a DDP model in
# the caller's frame): we keep the last reference, so the group is freed by us, with
# the GIL released while gloo joins its worker threads, at the latest at exit.
_retired: list[Any] = []
_exit_hook_registered = False


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
    _import_before_init(BINDS_WORLD_AT_IMPORT)
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
    from ezpz_core.hang.fallback import register

    register(environ, ranks.rank)  # the hang doctor's stacks where py-spy cannot attach
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


def _import_before_init(modules: tuple[str, ...]) -> None:
    for name in modules:
        with contextlib.suppress(Exception):  # a build without it binds nothing either
            importlib.import_module(name)


def cleanup() -> None:
    """Destroy every process group and free it, at once or at exit while something
    still holds it; never raises, harmless twice, without a process group, or
    without torch loaded.

    Call it on every rank after the last collective. ``destroy_process_group()``
    alone is not enough: it drops torch's references, but a gloo group lives on
    while anything else holds it, and so do its worker threads. A worker drops its
    references to a finished collective after the caller has moved on, and that
    release needs the GIL (the tensors have Python objects); if the interpreter is
    finalising by then, CPython ends the thread inside a C++ destructor and the
    process aborts (SIGABRT, exit 134) after a successful run. So cleanup keeps a
    reference to each group, destroys them, collects unreachable holders (a DDP
    model in a reference cycle) and then drops its own reference last: the group's
    destructor runs with the GIL released, waits for outstanding collectives and
    joins the worker threads, each finishing its pending release first. A group
    still held elsewhere (a DDP model alive in the caller's frame) is freed the same
    way at interpreter exit, before finalisation; one still held then (a
    module-level model) gets a warning that says what to do.
    """
    dist = sys.modules.get("torch.distributed")
    if dist is None:
        return
    try:
        if dist.is_available() and dist.is_initialized():
            groups = _process_groups(dist)
            dist.destroy_process_group()
            _retired.extend(groups)
            del groups
        if _retired:
            _release_retired(at_exit=False)
    except Exception as exc:
        warnings.warn(f"cleanup: destroying the process group failed: {exc}", stacklevel=2)


def _process_groups(dist: Any) -> list[Any]:
    """Every live group, the default one included (subgroups have workers too)."""
    world = getattr(getattr(dist, "distributed_c10d", None), "_world", None)
    groups = list(getattr(world, "pg_map", None) or ())
    default = dist.group.WORLD
    if default is not None and all(group is not default for group in groups):
        groups.append(default)
    return groups


def _release_retired(*, at_exit: bool) -> None:
    global _exit_hook_registered
    # holders that are already unreachable but sit in a reference cycle go first,
    # while we still own the group: their C++ references (DDP's reducer) must not be
    # the last, because that destructor would join the workers holding the GIL
    gc.collect()
    survivors: list[Any] = []
    while _retired:
        group = _retired.pop()
        ref: weakref.ReferenceType[Any] | None
        try:
            ref = weakref.ref(group)
        except TypeError:  # cannot watch it: just let it go
            ref = None
        del group  # when ours was the last reference, the group is destroyed here
        alive = ref() if ref is not None else None
        if alive is not None:
            survivors.append(alive)
            del alive
    if not survivors:
        return
    if at_exit:
        warnings.warn(
            f"cleanup: {len(survivors)} destroyed process group(s) are still referenced "
            "at exit (for example by a DistributedDataParallel model in a module-level "
            "variable), so their worker threads outlive cleanup() and can abort the "
            "interpreter as it finalises (SIGABRT, exit 134). Delete the model, or build "
            "it inside a function that returns, before the script ends.",
            RuntimeWarning,
            stacklevel=2,
        )
        return
    _retired.extend(survivors)
    if not _exit_hook_registered:
        atexit.register(_release_at_exit)
        _exit_hook_registered = True


def _release_at_exit() -> None:
    """atexit runs before finalisation: the caller's frames are gone, Python is whole."""
    try:
        if _retired:
            # an uncaught exception's traceback, printed already, keeps the frames
            # that hold the model (and so the group) alive into finalisation
            for name in ("last_exc", "last_traceback", "last_value", "last_type"):
                if getattr(sys, name, None) is not None:
                    setattr(sys, name, None)
            _release_retired(at_exit=True)
    except Exception as exc:
        warnings.warn(f"cleanup: freeing the process group at exit failed: {exc}", stacklevel=1)
