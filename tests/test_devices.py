"""Accelerators per host: the order of sources, the vendor-tool parsers, and real
probing of the tools as programs.

There is no GPU here. Vendor tools are emulated exactly as they present themselves:
executable ``nvidia-smi`` / ``xpu-smi`` / ``rocm-smi`` shell scripts in a tmp bin
directory on PATH that check their arguments and print output in the real programs'
exact layout (``nvidia-smi -L`` on A100 nodes with and without MIG, ``xpu-smi
discovery``'s boxed table on an Aurora node with six Intel Data Center GPU Max 1550,
``rocm-smi --showid`` on a Frontier node with eight MI250X GCDs; UUIDs, bus addresses
and GUIDs are made up); failure is a script that prints nvidia-smi's no-driver message
and exits non-zero, a hang is a script whose child ``sleep 30`` holds stdout open.
Slurm's GPU hints are the variables Slurm sets in a job. Where only the order of
sources is under test, a recorded-answer ``run_tool`` stands in for the probes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from ezpz_core.devices import (
    count_accelerators,
    parse_nvidia_smi_list,
    parse_rocm_smi,
    parse_xpu_smi_discovery,
)
from ezpz_core.errors import UsageError
from ezpz_core.kinds import SchedulerKind
from ezpz_core.machines import GENERIC, machine_by_name
from ezpz_core.tools import make_tool_runner
from tests.fakes import detect, make_pbs_job, no_tools

REPO = Path(__file__).resolve().parent.parent

# ---- recorded outputs -------------------------------------------------------

NVIDIA_SMI_4_A100 = """\
GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-8f6f4a0e-1b2c-5d3e-9f4a-6b7c8d9e0f1a)
GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-2a3b4c5d-6e7f-8091-a2b3-c4d5e6f70819)
GPU 2: NVIDIA A100-SXM4-40GB (UUID: GPU-9e8d7c6b-5a49-3827-1605-f4e3d2c1b0a9)
GPU 3: NVIDIA A100-SXM4-40GB (UUID: GPU-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0)
"""

NVIDIA_SMI_MIG = """\
GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-8f6f4a0e-1b2c-5d3e-9f4a-6b7c8d9e0f1a)
  MIG 3g.20gb     Device  0: (UUID: MIG-5c8e2a1b-7d4f-5e9a-b3c6-1f2e3d4c5b6a)
  MIG 2g.10gb     Device  1: (UUID: MIG-a1b2c3d4-e5f6-5a7b-8c9d-0e1f2a3b4c5d)
  MIG 1g.5gb      Device  2: (UUID: MIG-11223344-5566-5778-899a-abbccddeeff0)
GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-2a3b4c5d-6e7f-8091-a2b3-c4d5e6f70819)
  MIG 7g.40gb     Device  0: (UUID: MIG-ffeeddcc-bbaa-5998-8776-655443322110)
"""

NVIDIA_SMI_NO_DEVICES = "No devices were found\n"

NVIDIA_SMI_NO_DRIVER = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running.\n"
)

_XPU_RULE = "+" + "-" * 11 + "+" + "-" * 86 + "+"


def _xpu_device(index: int, name: str, bdf: str) -> str:
    def row(left: str, right: str) -> str:
        return f"| {left:<9} | {right:<84} |"

    return "\n".join(
        [
            row(str(index), f"Device Name: {name}"),
            row("", "Vendor Name: Intel(R) Corporation"),
            row("", f"SOC UUID: 00000000-0000-0000-{index:04x}-000000000000"),
            row("", f"PCI BDF Address: {bdf}"),
            row("", f"DRM Device: /dev/dri/card{index}"),
            row("", "Function Type: physical"),
            _XPU_RULE,
        ]
    )


def xpu_smi_discovery(name: str, n: int) -> str:
    """``xpu-smi discovery`` as printed on an Aurora compute node."""
    bdfs = ["0000:18:00.0", "0000:42:00.0", "0000:6c:00.0", "0001:18:00.0", "0001:42:00.0"]
    bdfs.append("0001:6c:00.0")
    head = [
        _XPU_RULE,
        f"| {'Device ID':<9} | {'Device Information':<84} |",
        _XPU_RULE,
    ]
    body = [_xpu_device(i, name, bdfs[i % len(bdfs)]) for i in range(n)]
    return "\n".join(head + body) + "\n"


XPU_SMI_6_MAX1550 = xpu_smi_discovery("Intel(R) Data Center GPU Max 1550", 6)
XPU_SMI_4_MAX1100 = xpu_smi_discovery("Intel(R) Data Center GPU Max 1100", 4)


def rocm_smi_showid(n: int) -> str:
    """``rocm-smi --showid`` on a Frontier node: several lines per GCD."""
    lines = [
        "",
        "",
        " ROCm System Management Interface ".center(90, "="),
        " ID ".center(90, "="),
    ]
    for i in range(n):
        lines += [
            f"GPU[{i}]\t\t: Device Name: \t\tAldebaran/MI200 [Instinct MI250X / MI250]",
            f"GPU[{i}]\t\t: Device ID: \t\t0x740c",
            f"GPU[{i}]\t\t: Device Rev: \t\t0x01",
            f"GPU[{i}]\t\t: Subsystem ID: \t0x0b0c",
            f"GPU[{i}]\t\t: GUID: \t\t{11111 + i}",
        ]
    lines += [
        "=" * 90,
        " End of ROCm SMI Log ".center(90, "="),
        "",
    ]
    return "\n".join(lines)


ROCM_SMI_8_GCD = rocm_smi_showid(8)


def recorded(answers: Mapping[str, str | None]):
    """A run_tool with recorded answers keyed by program name; records the calls."""
    calls: list[tuple[str, ...]] = []

    def run(argv: Sequence[str]) -> str | None:
        calls.append(tuple(argv))
        return answers.get(argv[0])

    run.calls = calls  # type: ignore[attr-defined]
    return run


# ---- fake programs on PATH --------------------------------------------------


def fake_tool(bindir: Path, name: str, expect_args: str, output: str, rc: int = 0) -> Path:
    """An executable ``name`` that checks its arguments like the real tool would,
    prints ``output`` (kept in a data file next to it) and exits ``rc``."""
    bindir.mkdir(parents=True, exist_ok=True)
    data = bindir / f".{name}.out"
    data.write_text(output)
    script = bindir / name
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$*" != "{expect_args}" ]; then echo "bad arguments: $*" >&2; exit 2; fi\n'
        f'cat "{data}"\n'
        f"exit {rc}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def hanging_tool(bindir: Path, name: str, pidfile: Path) -> Path:
    """An executable ``name`` that hangs: its child ``sleep 30`` keeps stdout open.

    The child's pid is written to ``pidfile`` so the test can end it afterwards.
    """
    bindir.mkdir(parents=True, exist_ok=True)
    script = bindir / name
    script.write_text(f'#!/bin/sh\nsleep 30 &\necho $! > "{pidfile}"\nwait\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


@pytest.fixture
def kill_pidfiles():
    """Ends the ``sleep`` children that hanging tools recorded (only those)."""
    pidfiles: list[Path] = []
    yield pidfiles
    for pidfile in pidfiles:
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# ---- parsers ----------------------------------------------------------------


def test_parse_nvidia_smi_four_a100() -> None:
    assert parse_nvidia_smi_list(NVIDIA_SMI_4_A100) == 4


def test_parse_nvidia_smi_mig_instances_are_not_gpus() -> None:
    assert parse_nvidia_smi_list(NVIDIA_SMI_MIG) == 2


@pytest.mark.parametrize("text", ["", NVIDIA_SMI_NO_DEVICES, NVIDIA_SMI_NO_DRIVER])
def test_parse_nvidia_smi_nothing(text: str) -> None:
    assert parse_nvidia_smi_list(text) == 0


def test_parse_xpu_smi_max1550_flat_counts_tiles() -> None:
    assert parse_xpu_smi_discovery(XPU_SMI_6_MAX1550) == 12
    assert parse_xpu_smi_discovery(XPU_SMI_6_MAX1550, flat=True) == 12


def test_parse_xpu_smi_max1550_composite_counts_cards() -> None:
    assert parse_xpu_smi_discovery(XPU_SMI_6_MAX1550, flat=False) == 6


@pytest.mark.parametrize("flat", [True, False])
def test_parse_xpu_smi_single_tile_card(flat: bool) -> None:
    assert parse_xpu_smi_discovery(XPU_SMI_4_MAX1100, flat=flat) == 4


def test_parse_xpu_smi_nothing() -> None:
    assert parse_xpu_smi_discovery("No device discovered\n") == 0


def test_parse_rocm_smi_counts_distinct_gpus() -> None:
    assert parse_rocm_smi(ROCM_SMI_8_GCD) == 8


def test_parse_rocm_smi_one_line_per_gpu() -> None:
    text = "GPU[0]\t\t: Device ID: 0x740c\nGPU[1]\t\t: Device ID: 0x740c\n"
    assert parse_rocm_smi(text) == 2


def test_parse_rocm_smi_nothing() -> None:
    assert parse_rocm_smi("") == 0


# ---- order of sources --------------------------------------------------------

ALL_TOOLS = {
    "nvidia-smi": NVIDIA_SMI_4_A100,
    "xpu-smi": XPU_SMI_6_MAX1550,
    "rocm-smi": ROCM_SMI_8_GCD,
}


@pytest.mark.parametrize(("value", "count"), [("12", 12), ("4", 4), (" 8 ", 8)])
def test_ngpu_per_host_wins(value: str, count: int) -> None:
    run = recorded(ALL_TOOLS)
    env = {"NGPU_PER_HOST": value, "SLURM_GPUS_ON_NODE": "2"}
    found = count_accelerators(env, machine_by_name("aurora"), run, in_slurm_job=True)
    assert found.count == count
    assert found.kind == "xpu"
    assert found.source == "NGPU_PER_HOST"
    assert run.calls == []  # no tool was run


def test_ngpu_per_host_zero_means_cpu() -> None:
    found = count_accelerators({"NGPU_PER_HOST": "0"}, machine_by_name("polaris"), no_tools)
    assert found.count == 0
    assert found.kind == ""
    assert found.source == "NGPU_PER_HOST"


@pytest.mark.parametrize("value", ["four", "-1", "2.5", "4x"])
def test_ngpu_per_host_not_a_number_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError) as info:
        count_accelerators({"NGPU_PER_HOST": value}, GENERIC, no_tools)
    assert "NGPU_PER_HOST" in str(info.value)
    assert repr(value) in str(info.value)


def test_empty_ngpu_per_host_is_unset() -> None:
    found = count_accelerators({"NGPU_PER_HOST": ""}, GENERIC, recorded(ALL_TOOLS))
    assert found.source == "nvidia-smi -L"


@pytest.mark.parametrize(
    ("env", "count", "source"),
    [
        ({"SLURM_GPUS_ON_NODE": "4"}, 4, "SLURM_GPUS_ON_NODE"),
        ({"SLURM_GPUS_ON_NODE": "4", "SLURM_GPUS_PER_NODE": "8"}, 4, "SLURM_GPUS_ON_NODE"),
        ({"SLURM_GPUS_PER_NODE": "4"}, 4, "SLURM_GPUS_PER_NODE"),
        ({"SLURM_GPUS_PER_NODE": "a100:4"}, 4, "SLURM_GPUS_PER_NODE"),
        ({"SLURM_GPUS_PER_NODE": "gpu:a100:4"}, 4, "SLURM_GPUS_PER_NODE"),
    ],
)
def test_slurm_hints_inside_a_slurm_job(env: dict[str, str], count: int, source: str) -> None:
    run = recorded({"nvidia-smi": NVIDIA_SMI_MIG})  # would say 2
    found = count_accelerators(env, machine_by_name("perlmutter"), run, in_slurm_job=True)
    assert (found.count, found.kind, found.source) == (count, "cuda", source)
    assert run.calls == []


def test_slurm_gpus_on_node_zero_is_an_answer() -> None:
    """A CPU-only step on a GPU cluster: Slurm says 0, the tools are not asked."""
    run = recorded(ALL_TOOLS)
    env = {"SLURM_GPUS_ON_NODE": "0"}
    found = count_accelerators(env, machine_by_name("perlmutter"), run, in_slurm_job=True)
    assert (found.count, found.source) == (0, "SLURM_GPUS_ON_NODE")
    assert run.calls == []


def test_slurm_hint_not_a_number_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="SLURM_GPUS_ON_NODE"):
        count_accelerators({"SLURM_GPUS_ON_NODE": "four"}, GENERIC, no_tools, in_slurm_job=True)


@pytest.mark.parametrize("name", ["SLURM_GPUS_ON_NODE", "SLURM_GPUS_PER_NODE"])
def test_slurm_hints_are_ignored_outside_a_slurm_job(name: str) -> None:
    found = count_accelerators({name: "4"}, machine_by_name("aurora"), no_tools)
    assert found.count == 12
    assert found.source == "machine table (aurora)"


def test_slurm_hints_ignored_in_a_pbs_job(tmp_path: Path) -> None:
    """AUR2 without NGPU_PER_HOST but with Slurm variables left in the shell."""
    job = make_pbs_job(tmp_path, extra_env={"SLURM_GPUS_ON_NODE": "4", "SLURM_NNODES": "1"})
    found = detect(job.env, hostname="x4514c6s0b0n0", context=job.context)
    assert found.scheduler is SchedulerKind.PBS
    assert found.accelerators.count == 12
    assert found.accelerators.source == "machine table (aurora)"


def test_slurm_hints_used_by_detect_job_in_a_slurm_job() -> None:
    env = {
        "PATH": os.defpath,
        "SLURM_JOB_ID": "1234",
        "SLURM_JOB_NODELIST": "nid[001234-001235]",
        "SLURM_GPUS_ON_NODE": "2",
    }
    found = detect(env, hostname="nid001234")
    assert found.accelerators.count == 2
    assert found.accelerators.source == "SLURM_GPUS_ON_NODE"


def test_slurm_hints_ignored_by_detect_job_on_a_login_node(tmp_path: Path) -> None:
    """Slurm scheduler (sbatch on PATH) but no job: the hints describe no job."""
    bindir = tmp_path / "bin"
    fake_tool(bindir, "sbatch", "", "")
    env = {"PATH": str(bindir), "SLURM_GPUS_PER_NODE": "gpu:a100:4"}
    found = detect(env, hostname="cluster-login1")
    assert found.scheduler is SchedulerKind.SLURM
    assert not found.in_job
    assert found.accelerators.count == 0
    assert "CPU" in found.accelerators.source


@pytest.mark.parametrize(
    ("answers", "count", "kind", "source"),
    [
        (ALL_TOOLS, 4, "cuda", "nvidia-smi -L"),
        (
            {"xpu-smi": XPU_SMI_6_MAX1550, "rocm-smi": ROCM_SMI_8_GCD},
            12,
            "xpu",
            "xpu-smi discovery",
        ),
        ({"rocm-smi": ROCM_SMI_8_GCD}, 8, "rocm", "rocm-smi --showid"),
        (
            {"nvidia-smi": NVIDIA_SMI_NO_DEVICES, "rocm-smi": ROCM_SMI_8_GCD},
            8,
            "rocm",
            "rocm-smi --showid",
        ),
    ],
)
def test_tools_in_order(answers: dict[str, str], count: int, kind: str, source: str) -> None:
    found = count_accelerators({}, GENERIC, recorded(answers))
    assert (found.count, found.kind, found.source) == (count, kind, source)


def test_tools_are_asked_with_their_listing_arguments() -> None:
    run = recorded({})
    count_accelerators({}, GENERIC, run)
    assert run.calls == [("nvidia-smi", "-L"), ("xpu-smi", "discovery"), ("rocm-smi", "--showid")]


@pytest.mark.parametrize(("mode", "count"), [("FLAT", 12), ("COMPOSITE", 6), ("composite", 6)])
def test_xpu_hierarchy_mode(mode: str, count: int) -> None:
    env = {"ZE_FLAT_DEVICE_HIERARCHY": mode}
    found = count_accelerators(
        env, machine_by_name("aurora"), recorded(ALL_TOOLS | {"nvidia-smi": None})
    )
    assert found.count == count
    assert found.kind == "xpu"


def test_tools_beat_the_machine_table() -> None:
    """A Polaris node whose nvidia-smi shows 2 GPUs (the rest MIG'd away or down)."""
    found = count_accelerators(
        {}, machine_by_name("polaris"), recorded({"nvidia-smi": NVIDIA_SMI_MIG})
    )
    assert (found.count, found.source) == (2, "nvidia-smi -L")


@pytest.mark.parametrize(
    ("machine", "count", "kind"),
    [("aurora", 12, "xpu"), ("polaris", 4, "cuda"), ("frontier", 8, "rocm")],
)
def test_machine_table_default(machine: str, count: int, kind: str) -> None:
    found = count_accelerators({}, machine_by_name(machine), no_tools)
    assert (found.count, found.kind) == (count, kind)
    assert found.source == f"machine table ({machine})"


def test_nothing_found_is_cpu() -> None:
    found = count_accelerators({}, GENERIC, no_tools)
    assert found.count == 0
    assert found.kind == ""
    assert "CPU" in found.source


# ---- real probing of programs on PATH ---------------------------------------


def test_runner_runs_fake_nvidia_smi_on_path(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    fake_tool(bindir, "nvidia-smi", "-L", NVIDIA_SMI_4_A100)
    run = make_tool_runner({"PATH": str(bindir)})
    assert run(("nvidia-smi", "-L")) == NVIDIA_SMI_4_A100
    found = count_accelerators({}, GENERIC, run)
    assert (found.count, found.kind, found.source) == (4, "cuda", "nvidia-smi -L")


def test_runner_passes_arguments(tmp_path: Path) -> None:
    """The fake refuses any arguments but ``-L`` (exit 2), so a wrong argv is None."""
    bindir = tmp_path / "bin"
    fake_tool(bindir, "nvidia-smi", "-L", NVIDIA_SMI_4_A100)
    run = make_tool_runner({"PATH": str(bindir)})
    assert run(("nvidia-smi", "--list-gpus-wrong")) is None


def test_runner_missing_tool_is_none(tmp_path: Path) -> None:
    bindir = tmp_path / "empty-bin"
    bindir.mkdir()
    run = make_tool_runner({"PATH": str(bindir)})
    assert run(("nvidia-smi", "-L")) is None
    found = count_accelerators({}, GENERIC, run)
    assert found.count == 0
    assert "CPU" in found.source


def test_runner_non_executable_file_is_missing(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    script = fake_tool(bindir, "nvidia-smi", "-L", NVIDIA_SMI_4_A100)
    script.chmod(0o644)
    run = make_tool_runner({"PATH": str(bindir)})
    assert run(("nvidia-smi", "-L")) is None


def test_runner_failing_tool_is_skipped(tmp_path: Path) -> None:
    """nvidia-smi installed without a driver exits 9; xpu-smi answers next."""
    bindir = tmp_path / "bin"
    fake_tool(bindir, "nvidia-smi", "-L", NVIDIA_SMI_NO_DRIVER, rc=9)
    fake_tool(bindir, "xpu-smi", "discovery", XPU_SMI_6_MAX1550)
    run = make_tool_runner({"PATH": str(bindir)})
    assert run(("nvidia-smi", "-L")) is None
    found = count_accelerators({}, GENERIC, run)
    assert (found.count, found.kind, found.source) == (12, "xpu", "xpu-smi discovery")


def test_runner_tool_with_no_devices_is_skipped(tmp_path: Path) -> None:
    """nvidia-smi on a host without NVIDIA GPUs; rocm-smi answers."""
    bindir = tmp_path / "bin"
    fake_tool(bindir, "nvidia-smi", "-L", NVIDIA_SMI_NO_DEVICES, rc=6)
    fake_tool(bindir, "rocm-smi", "--showid", ROCM_SMI_8_GCD)
    found = count_accelerators({}, GENERIC, make_tool_runner({"PATH": str(bindir)}))
    assert (found.count, found.kind, found.source) == (8, "rocm", "rocm-smi --showid")


def test_runner_composite_mode_through_real_xpu_smi(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    fake_tool(bindir, "xpu-smi", "discovery", XPU_SMI_6_MAX1550)
    env = {"PATH": str(bindir), "ZE_FLAT_DEVICE_HIERARCHY": "COMPOSITE"}
    found = count_accelerators(env, machine_by_name("aurora"), make_tool_runner(env))
    assert (found.count, found.source) == (6, "xpu-smi discovery")


def test_runner_hanging_tool_is_cut_off(tmp_path: Path, kill_pidfiles: list[Path]) -> None:
    """A hung nvidia-smi (its child ``sleep 30`` holds stdout) must not hang detection.

    This is a hang guard with a generous bound, not a speed benchmark.
    """
    bindir = tmp_path / "bin"
    pidfile = tmp_path / "sleep.pid"
    kill_pidfiles.append(pidfile)
    hanging_tool(bindir, "nvidia-smi", pidfile)
    fake_tool(bindir, "rocm-smi", "--showid", ROCM_SMI_8_GCD)
    run = make_tool_runner({"PATH": str(bindir)}, timeout=0.5)
    start = time.monotonic()
    assert run(("nvidia-smi", "-L")) is None
    assert time.monotonic() - start < 10
    found = count_accelerators({}, GENERIC, run)
    assert time.monotonic() - start < 10
    assert (found.count, found.source) == (8, "rocm-smi --showid")


def test_detect_job_probes_tools_on_the_job_path(tmp_path: Path) -> None:
    """detect_job's own runner (no run_tool given) finds nvidia-smi on env['PATH']."""
    bindir = tmp_path / "bin"
    fake_tool(bindir, "nvidia-smi", "-L", NVIDIA_SMI_4_A100)
    job = make_pbs_job(
        tmp_path,
        jobid="123456.polaris-pbs-01",
        hosts=("x3005c0s13b0n0.hsn.cm.polaris.alcf.anl.gov",),
        extra_env={"PATH": str(bindir)},
    )
    found = detect(job.env, hostname="x3005c0s13b0n0", context=job.context, run_tool=None)
    assert found.machine.name == "polaris"
    assert (found.accelerators.count, found.accelerators.source) == (4, "nvidia-smi -L")


# ---- no torch ---------------------------------------------------------------

_NO_TORCH_PROBE = """
import json, sys

attempts = []

class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            attempts.append(name)
        return None

sys.meta_path.insert(0, Spy())
from ezpz_core.job import detect_job
job = detect_job()
print(json.dumps({
    "attempts": attempts,
    "loaded": sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")),
    "scheduler": str(job.scheduler),
    "nhosts": job.allocation.nhosts,
    "accelerators": job.accelerators.count,
}))
"""


def test_detect_job_never_imports_torch(tmp_path: Path) -> None:
    """In a fresh interpreter inside an emulated AUR2 job (no NGPU_PER_HOST, so every
    probe runs), detect_job neither imports torch nor even tries to: a meta-path
    spy records every attempt, so a guarded ``try: import torch`` counts too."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    job = make_pbs_job(tmp_path, extra_env={"PATH": str(bindir)})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PBS_", "SLURM_", "EZPZ_"))}
    env.pop("NGPU_PER_HOST", None)
    env.update(job.env)
    done = subprocess.run(
        [sys.executable, "-c", _NO_TORCH_PROBE],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["scheduler"] == "pbs"
    assert report["nhosts"] == 2
    assert report["attempts"] == []
    assert report["loaded"] == []
