"""Which device and ``torch.distributed`` backend a rank uses.

``choose_device`` is a pure rule over what the node and the torch build offer
(``Accelerators``, probed once by ``probe_accelerators``) and the
``TORCH_DEVICE``/``TORCH_BACKEND`` overrides.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass


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
