"""A rank's GPU figures (utilisation, memory used), for the rank wrapper's sampler.

Which device is the rank's: ``CUDA_VISIBLE_DEVICES``' first entry (index or UUID),
else the local rank modulo the device count; Intel: ``ZE_AFFINITY_MASK``, else the
local rank. Where from, probed once: NVML through ``ctypes`` (cheap, every
sample), else ``nvidia-smi``, else ``xpu-smi`` (a subprocess costs ~50 ms of CPU,
so a tool runs every ``TOOL_EVERY``-th sample and its last figures repeat in
between). A source that fails or times out is dropped for the rest of the run.
Stdlib only; ``ctypes``, ``json`` and ``subprocess`` are imported when used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ezpz_core.rankenv import rank_from_env

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs the wrapper milliseconds on every rank: not at run time
    from typing import Any

TOOL_EVERY = 5  # a GPU tool (a subprocess, ~50 ms of CPU) runs every 5th sample
TOOL_TIMEOUT_S = 2.0  # a tool slower than this is dropped for the rest of the run
MIB = 1024 * 1024
NVML_LIBRARY = "libnvidia-ml.so.1"
NVIDIA_SMI_QUERY = (
    "--query-gpu=index,uuid,utilization.gpu,memory.used",
    "--format=csv,noheader,nounits",
)
# xpu-smi has printed XPUM_STATS_MEMORY_USED in bytes (2021-22 releases) and in
# MiB (later ones); a device in use holds far more than 16 MiB, and no device
# holds 16 TiB, so a value below this is MiB.
XPU_MIB_BELOW = 1 << 24


# -- GPUs -------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuReading:
    """One device's figures; None where the device does not report one."""

    src: str  # "nvml", "nvidia-smi" or "xpu-smi"
    dev: str  # the index or UUID sampled
    util: float | None  # percent, 0-100
    mem: int | None  # bytes used on the device


class GpuSource:
    """Where a rank's GPU figures come from (NVML, or a tool)."""

    def read(self) -> GpuReading | None:
        """The device's figures now; None once the source has failed (for good)."""
        raise NotImplementedError


def _local_rank(env: Mapping[str, str]) -> int:
    local = rank_from_env(env).local_rank
    return local if local is not None else 0


def nvidia_device(env: Mapping[str, str], count: int) -> str | None:
    """The rank's NVIDIA device: the first ``CUDA_VISIBLE_DEVICES`` entry (an
    index or a ``GPU-``/``MIG-`` UUID, maybe a prefix), else the local rank modulo
    the device count. None when no device is visible (``CUDA_VISIBLE_DEVICES``
    empty or ``-1``) or there is none. Indices are NVML's (what ``nvidia-smi``
    shows), which match CUDA's where ``CUDA_DEVICE_ORDER=PCI_BUS_ID``."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        first = visible.split(",")[0].strip()
        if first.isdigit():
            return first if int(first) < count else None
        return first if first.startswith(("GPU-", "MIG-")) else None
    return str(_local_rank(env) % count) if count > 0 else None


def intel_device(env: Mapping[str, str]) -> str:
    """The rank's Intel device: the first ``ZE_AFFINITY_MASK`` entry's device
    (``"3.1"``, tile 1 of device 3, is device 3), else the local rank."""
    first = env.get("ZE_AFFINITY_MASK", "").split(",")[0].split(".")[0].strip()
    return first if first.isdigit() else str(_local_rank(env))


def _number(cell: Any) -> float | None:
    try:
        value = float(cell)
    except (TypeError, ValueError):  # "[N/A]", "[Not Supported]", null
        return None
    return value if value == value else None  # NaN


def parse_nvidia_smi(text: str, env: Mapping[str, str]) -> GpuReading | None:
    """Our device's row of ``nvidia-smi --query-gpu=index,uuid,utilization.gpu,
    memory.used --format=csv,noheader,nounits`` (memory in MiB)."""
    rows = [[c.strip() for c in line.split(",")] for line in text.splitlines()]
    rows = [r for r in rows if len(r) >= 4]
    dev = nvidia_device(env, len(rows))
    if dev is None:
        return None
    for index, uuid, util, mem, *_ in rows:
        if dev == index or (not dev.isdigit() and uuid.startswith(dev)):
            mib = _number(mem)
            return GpuReading(
                "nvidia-smi", dev, _number(util), None if mib is None else int(mib * MIB)
            )
    return None


def _xpu_metrics(entries: Any) -> dict[str, float]:
    found: dict[str, float] = {}
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict):
            value = _number(entry.get("value"))
            if value is not None:
                found[str(entry.get("metrics_type"))] = value
    return found


def parse_xpu_smi(text: str, dev: str) -> GpuReading | None:
    """``xpu-smi stats -d <dev> -j``: ``device_level`` is a list of
    ``{"metrics_type": "XPUM_STATS_...", "value": v}``; tiles' own lists sit under
    ``tile_level[*].data_list``, used (mean utilisation, summed memory) when the
    device level lacks a figure. Memory used is MiB or bytes (``XPU_MIB_BELOW``)."""
    import json

    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    device = _xpu_metrics(data.get("device_level"))
    tiles = [
        _xpu_metrics(tile.get("data_list"))
        for tile in data.get("tile_level") or ()
        if isinstance(tile, dict)
    ]
    util_keys = ("XPUM_STATS_GPU_UTILIZATION", "XPUM_STATS_ENGINE_GROUP_COMPUTE_ALL_UTILIZATION")
    util = next((device[k] for k in util_keys if k in device), None)
    if util is None:
        per_tile = [next((t[k] for k in util_keys if k in t), None) for t in tiles]
        known = [u for u in per_tile if u is not None]
        util = sum(known) / len(known) if known else None
    mem = device.get("XPUM_STATS_MEMORY_USED")
    if mem is None:
        known = [t["XPUM_STATS_MEMORY_USED"] for t in tiles if "XPUM_STATS_MEMORY_USED" in t]
        mem = sum(known) if known else None
    if util is None and mem is None:
        return None
    used = None if mem is None else int(mem * MIB if mem < XPU_MIB_BELOW else mem)
    return GpuReading("xpu-smi", dev, util, used)


class ToolSource(GpuSource):
    """A GPU tool run every ``every``-th read (a subprocess costs ~50 ms of CPU),
    its last reading repeated in between; a run that fails, prints nothing we can
    read or outlasts ``timeout`` drops the tool for the rest of the run."""

    def __init__(
        self,
        argv: Sequence[str],
        parse: Callable[[str], GpuReading | None],
        every: int = TOOL_EVERY,
        timeout: float = TOOL_TIMEOUT_S,
    ) -> None:
        self.argv = list(argv)
        self.parse = parse
        self.every = every
        self.timeout = timeout
        self.reads = 0
        self.runs = 0
        self.last: GpuReading | None = None
        self.dropped = False

    def _run(self) -> GpuReading | None:
        import subprocess

        self.runs += 1
        try:
            done = subprocess.run(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                timeout=self.timeout,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):  # gone, not executable, timed out
            return None
        if done.returncode != 0:
            return None
        return self.parse(done.stdout.decode("utf-8", "replace"))

    def read(self) -> GpuReading | None:
        if self.dropped:
            return None
        if self.reads % self.every == 0:
            self.last = self._run()
            self.dropped = self.last is None
        self.reads += 1
        return self.last


class NvmlSource(GpuSource):
    """NVML through ctypes: two cheap calls per sample, no subprocess."""

    def __init__(self, lib: Any, handle: Any, dev: str) -> None:
        import ctypes

        class Utilization(ctypes.Structure):
            _fields_ = [("gpu", ctypes.c_uint), ("memory", ctypes.c_uint)]

        class Memory(ctypes.Structure):
            _fields_ = [
                ("total", ctypes.c_ulonglong),
                ("free", ctypes.c_ulonglong),
                ("used", ctypes.c_ulonglong),
            ]

        self.lib, self.handle, self.dev = lib, handle, dev
        self._util, self._mem = Utilization(), Memory()  # reused every sample
        self._util_ref, self._mem_ref = ctypes.byref(self._util), ctypes.byref(self._mem)
        self.dropped = False

    def read(self) -> GpuReading | None:
        if self.dropped:
            return None
        util_ok = self.lib.nvmlDeviceGetUtilizationRates(self.handle, self._util_ref) == 0
        mem_ok = self.lib.nvmlDeviceGetMemoryInfo(self.handle, self._mem_ref) == 0
        if not (util_ok or mem_ok):
            self.dropped = True
            return None
        return GpuReading(
            "nvml",
            self.dev,
            float(self._util.gpu) if util_ok else None,
            int(self._mem.used) if mem_ok else None,
        )


def open_nvml(env: Mapping[str, str], library: str = NVML_LIBRARY) -> NvmlSource | None:
    """The rank's device through NVML, or None (no library, no device, an error)."""
    try:
        import ctypes

        lib = ctypes.CDLL(library)
    except OSError:
        return None
    try:
        if lib.nvmlInit_v2() != 0:
            return None
        count = ctypes.c_uint()
        if lib.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0:
            return None
        dev = nvidia_device(env, count.value)
        if dev is None:
            return None
        handle = ctypes.c_void_p()
        if dev.isdigit():
            rc = lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(int(dev)), ctypes.byref(handle))
        else:
            rc = lib.nvmlDeviceGetHandleByUUID(dev.encode(), ctypes.byref(handle))
            if rc != 0:  # CUDA takes a UUID prefix, NVML only the whole UUID
                rc = _nvml_handle_by_prefix(lib, count.value, dev, handle)
        if rc != 0:
            return None
        source = NvmlSource(lib, handle, dev)
        return source if source.read() is not None else None
    except (AttributeError, OSError, ValueError):  # an old library without a symbol
        return None


def _nvml_handle_by_prefix(lib: Any, count: int, prefix: str, handle: Any) -> int:
    import ctypes

    buf = ctypes.create_string_buffer(96)
    for index in range(count):
        if lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(handle)) != 0:
            continue
        uuid_ok = lib.nvmlDeviceGetUUID(handle, buf, len(buf)) == 0
        if uuid_ok and buf.value.decode(errors="replace").startswith(prefix):
            return 0
    return 1


def which(name: str, env: Mapping[str, str]) -> str | None:
    """``name`` on ``env``'s PATH (``shutil.which`` without importing shutil)."""
    for folder in env.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(folder or ".", name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def probe_gpu(
    env: Mapping[str, str],
    nvml_library: str = NVML_LIBRARY,
    timeout: float = TOOL_TIMEOUT_S,
) -> GpuSource | None:
    """The first source that can read the rank's device: NVML, ``nvidia-smi``,
    ``xpu-smi``; None (no GPU keys) when none can. Once, at the start."""
    nvml = open_nvml(env, nvml_library) if nvml_library else None
    if nvml is not None:
        return nvml
    smi = which("nvidia-smi", env)
    if smi is not None:
        tool = ToolSource(
            [smi, *NVIDIA_SMI_QUERY], lambda text: parse_nvidia_smi(text, env), timeout=timeout
        )
        if tool.read() is not None:
            return tool
    xpu = which("xpu-smi", env)
    if xpu is not None:
        dev = intel_device(env)
        tool = ToolSource(
            [xpu, "stats", "-d", dev, "-j"], lambda text: parse_xpu_smi(text, dev), timeout=timeout
        )
        if tool.read() is not None:
            return tool
    return None
