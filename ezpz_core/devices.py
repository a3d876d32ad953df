"""Accelerators per host, without importing torch.

Order (first answer wins): ``NGPU_PER_HOST``; Slurm's hints inside a Slurm job;
``nvidia-smi -L``, ``xpu-smi discovery``, ``rocm-smi --showid`` (each given a few
seconds; a missing tool is not an error); the machine table; else 0 (CPU).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ezpz_core.errors import UsageError
from ezpz_core.machines import Machine
from ezpz_core.tools import ToolRunner

# Intel GPUs whose tiles each appear as a device in FLAT mode (the default).
_XPU_TILES = {"max 1550": 2, "max 1450": 2}


@dataclass(frozen=True)
class Accelerators:
    """How many accelerators one host has, of which kind, and who said so."""

    count: int
    kind: str  # "cuda", "xpu", "rocm" or "" for none/unknown
    source: str


def parse_nvidia_smi_list(text: str) -> int:
    """GPUs in ``nvidia-smi -L`` output (MIG instances indented below are not GPUs)."""
    return sum(1 for line in text.splitlines() if re.match(r"GPU \d+:", line))


def parse_xpu_smi_discovery(text: str, flat: bool = True) -> int:
    """Devices in ``xpu-smi discovery`` output; in FLAT mode each tile is a device."""
    count = 0
    for line in text.splitlines():
        match = re.match(r"\|\s*\d+\s*\|\s*Device Name:\s*(.*?)\s*\|?\s*$", line)
        if match:
            name = match.group(1).lower()
            tiles = next((n for key, n in _XPU_TILES.items() if key in name), 1)
            count += tiles if flat else 1
    return count


def parse_rocm_smi(text: str) -> int:
    """Distinct ``GPU[N]`` indices in ``rocm-smi --showid`` output."""
    return len(set(re.findall(r"^GPU\[(\d+)\]", text, flags=re.MULTILINE)))


def _env_count(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    # SLURM_GPUS_PER_NODE may read "4", "a100:4" or "gpu:a100:4".
    value = raw.rsplit(":", 1)[-1] if name == "SLURM_GPUS_PER_NODE" else raw
    if not value.isdigit():
        raise UsageError(f"{name}={raw!r} is not a whole number of accelerators per host")
    return int(value)


def count_accelerators(
    env: Mapping[str, str],
    machine: Machine,
    run_tool: ToolRunner,
    in_slurm_job: bool = False,
) -> Accelerators:
    """Accelerators per host from the first source that answers (see module doc)."""
    count = _env_count(env, "NGPU_PER_HOST")
    if count is not None:
        return Accelerators(count, machine.accelerator if count else "", "NGPU_PER_HOST")
    if in_slurm_job:
        for name in ("SLURM_GPUS_ON_NODE", "SLURM_GPUS_PER_NODE"):
            count = _env_count(env, name)
            if count is not None:
                return Accelerators(count, (machine.accelerator or "cuda") if count else "", name)
    flat = env.get("ZE_FLAT_DEVICE_HIERARCHY", "FLAT").upper() != "COMPOSITE"
    probes = (
        (("nvidia-smi", "-L"), parse_nvidia_smi_list, "cuda"),
        (("xpu-smi", "discovery"), lambda text: parse_xpu_smi_discovery(text, flat), "xpu"),
        (("rocm-smi", "--showid"), parse_rocm_smi, "rocm"),
    )
    for argv, parse, kind in probes:
        text = run_tool(argv)
        if text is not None:
            found = parse(text)
            if found > 0:
                return Accelerators(found, kind, " ".join(argv))
    if machine.accelerators_per_host:
        return Accelerators(
            machine.accelerators_per_host, machine.accelerator, f"machine table ({machine.name})"
        )
    return Accelerators(0, "", "none found (CPU)")
