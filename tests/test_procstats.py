"""Per-rank resource sampling (``procstats``, ``gpustats``) on real processes and files.

A real process tree (a Python parent with two busy children and one sleeping one)
is read from ``/proc`` both ways the sampler can find children (the kernel's
``task/<tid>/children`` files where it has them, else a scan of every
``/proc/<pid>/stat``). The sampler thread writes a real stats file. GPUs cannot
exist here: ``nvidia-smi`` and ``xpu-smi`` are EMULATED by small scripts on
``PATH`` that print what the real tools print (their documented formats), and
NVML is tested only as "library missing -> the probe falls through". Waits poll
a condition with a deadline; nothing asserts on timing.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ezpz_core import gpustats, procstats
from ezpz_core.gpustats import (
    GpuReading,
    ToolSource,
    intel_device,
    nvidia_device,
    open_nvml,
    parse_nvidia_smi,
    parse_xpu_smi,
    probe_gpu,
)
from ezpz_core.procstats import (
    DEFAULT_INTERVAL_S,
    ProcStat,
    ProcTree,
    Sampler,
    StatsConfig,
    cpu_percent,
    descendants,
    interval_from_env,
    parse_stat,
    read_resident,
    read_stat,
    read_stats,
    stats_config,
    tree_usage,
)
from ezpz_core.rankio import _Pump

ABSENT_NVML = "libnvidia-ml-absent-here.so.1"  # forces the probe past NVML
RECORD_KEYS = {"t", "rank", "host", "pid", "cpu", "rss", "threads", "procs"}
GPU_KEYS = {"gpu", "gpu_mem", "gpu_src", "gpu_dev"}
MIB = 1024 * 1024

# The tree: a parent, two children busy for BUSY_S, one child sleeping; the parent
# waits for all of them.
BUSY_S = 1.0
TREE = f"""
import subprocess, sys
busy = "import time\\nend = time.monotonic() + {BUSY_S}\\nwhile time.monotonic() < end: pass"
kids = [subprocess.Popen([sys.executable, "-c", busy]) for _ in range(2)]
kids.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep({BUSY_S} + 0.5)"]))
for kid in kids:
    kid.wait()
"""


def wait_until(predicate: Callable[[], object], what: str, timeout: float = 15.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def tree() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", TREE])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def strategies() -> list[object]:
    has = procstats.has_children_files()
    return [
        pytest.param(False, id="scan-proc"),
        pytest.param(
            True,
            id="children-files",
            marks=pytest.mark.skipif(not has, reason="kernel without /proc/<pid>/task/*/children"),
        ),
    ]


# -- the process tree ---------------------------------------------------------------


@pytest.mark.parametrize("children_files", strategies())
def test_a_real_tree_is_found_with_its_cpu_memory_and_threads(
    tree: subprocess.Popen[bytes], children_files: bool
) -> None:
    reader = ProcTree(tree.pid, children_files=children_files)
    first = wait_until(
        lambda: (u := reader.usage()) is not None and u.procs >= 4 and u, "the 4-process tree"
    )
    t0 = time.monotonic()
    # The busy children are done (reaped or zombies: not counted as processes).
    last = wait_until(lambda: (u := reader.usage()) is not None and u.procs <= 2 and u, "busy end")
    seconds = time.monotonic() - t0
    assert first.procs >= 3
    assert first.rss > 0
    assert first.threads >= 3
    assert cpu_percent(last.ticks - first.ticks, seconds) > 50
    assert tree.wait(timeout=15) == 0
    assert reader.usage() is None  # the command is gone: sampling stops


MANY_CHILDREN = 800  # their pids fill more than one 4 KiB read of a children file
FORKER = f"""
import os, sys
r, w = os.pipe()
for _ in range({MANY_CHILDREN}):
    if os.fork() == 0:
        os.close(w)
        os.read(r, 1)  # until the parent goes
        os._exit(0)
print("ready", flush=True)
sys.stdin.read()
os.close(w)
for _ in range({MANY_CHILDREN}):
    os.wait()
"""


@pytest.mark.parametrize("children_files", strategies())
def test_a_root_with_hundreds_of_children_has_them_all_counted(children_files: bool) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", FORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout.readline() == b"ready\n"
        usage = ProcTree(proc.pid, children_files=children_files).usage()
        assert usage is not None and usage.procs == MANY_CHILDREN + 1
    finally:
        proc.stdin.close()  # the parent closes the pipe: every child exits
        assert proc.wait(timeout=30) == 0


def test_the_tree_holds_the_root_and_its_descendants_only(tree: subprocess.Popen[bytes]) -> None:
    reader = ProcTree(tree.pid, children_files=False)
    members = wait_until(lambda: len(m := reader.members()) >= 4 and m, "the tree")
    assert tree.pid in members
    assert os.getpid() not in members  # our own process is the root's parent, outside
    assert all(
        stat.ppid == tree.pid for pid, stat in members.items() if pid != tree.pid
    )  # the three children


def test_rss_is_the_resident_column_of_statm_in_bytes(sleeper: subprocess.Popen[bytes]) -> None:
    statm = Path(f"/proc/{sleeper.pid}/statm")
    reader = ProcTree(sleeper.pid, children_files=False)

    def settled() -> tuple[int, int] | None:  # asleep, and its memory no longer moving
        before = int(statm.read_text().split()[1])
        usage = reader.usage()
        after = int(statm.read_text().split()[1])
        return (usage.rss, after) if usage is not None and before == after else None

    rss, resident = wait_until(settled, "the sleeper's memory to settle")
    assert rss == resident * procstats.PAGE_SIZE
    assert read_resident(sleeper.pid) == resident


def test_a_process_gone_between_listing_and_reading_is_skipped(
    sleeper: subprocess.Popen[bytes],
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    assert gone.wait(timeout=15) == 0  # reaped: its pid is listed by us, not by /proc
    found = read_stats([sleeper.pid, gone.pid, sleeper.pid])
    assert list(found) == [sleeper.pid]
    assert read_stat(gone.pid) is None
    assert ProcTree(gone.pid, children_files=False).usage() is None


def test_a_zombie_root_means_the_command_has_exited() -> None:
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        wait_until(
            lambda: (s := read_stat(zombie.pid)) is not None and s.state == "Z", "the zombie"
        )
        assert ProcTree(zombie.pid, children_files=False).usage() is None
    finally:
        zombie.wait()


def test_parse_stat_counts_fields_after_a_command_name_with_spaces_and_parens() -> None:
    fields = "S 41 41 41 0 -1 4194560 100 0 0 0 150 25 7 3 20 0 6 0 9876 1000 321"
    stat = parse_stat(42, f"42 (a (b) c) {fields} 0 0 0\n".encode())
    assert stat == ProcStat(
        pid=42, ppid=41, state="S", ticks=175, child_ticks=10, threads=6, start=9876
    )


@pytest.mark.parametrize(
    ("parents", "tree"),
    [
        pytest.param({10: 1, 11: 10, 12: 10, 13: 11, 20: 1}, [10, 11, 12, 13], id="nested"),
        pytest.param({10: 1}, [10], id="alone"),
        pytest.param({}, [10], id="root-not-listed"),
        pytest.param({10: 1, 30: 31, 31: 30}, [10], id="a-cycle-elsewhere"),
    ],
)
def test_descendants_walk_the_parent_map(parents: dict[int, int], tree: list[int]) -> None:
    assert sorted(descendants(10, parents)) == tree


def test_tree_usage_counts_zombies_cpu_but_not_as_processes() -> None:
    live = ProcStat(1, 0, "S", ticks=100, child_ticks=50, threads=4, start=1)
    zombie = ProcStat(2, 1, "Z", ticks=30, child_ticks=0, threads=1, start=2)
    usage = tree_usage([live, zombie], {1: 10})
    assert (usage.ticks, usage.procs, usage.threads) == (180, 1, 4)
    assert usage.rss == 10 * procstats.PAGE_SIZE


@pytest.mark.parametrize(
    ("ticks", "seconds", "clk_tck", "expected"),
    [(200, 1.0, 100, 200.0), (50, 2.0, 100, 25.0), (-5, 1.0, 100, 0.0), (10, 0.0, 100, 0.0)],
)
def test_cpu_percent_is_of_one_core_and_never_negative(
    ticks: int, seconds: float, clk_tck: int, expected: float
) -> None:
    assert cpu_percent(ticks, seconds, clk_tck) == pytest.approx(expected)


# -- configuration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        (None, DEFAULT_INTERVAL_S),
        ("", DEFAULT_INTERVAL_S),
        ("abc", DEFAULT_INTERVAL_S),
        ("0", DEFAULT_INTERVAL_S),
        ("-1", DEFAULT_INTERVAL_S),
        ("nan", DEFAULT_INTERVAL_S),
        ("inf", DEFAULT_INTERVAL_S),
        ("2s", DEFAULT_INTERVAL_S),
        (" 0.5 ", 0.5),
        ("10", 10.0),
    ],
)
def test_a_bad_interval_falls_back_to_the_default(raw: str | None, seconds: float) -> None:
    env = {} if raw is None else {"EZPZ_STATS_S": raw}
    assert interval_from_env(env) == seconds


def test_sampling_needs_a_run_dir_and_is_off_with_ezpz_stats_0() -> None:
    assert stats_config({}, 0) is None
    assert stats_config({"EZPZ_RUN_DIR": "/r", "EZPZ_STATS": "0"}, 0) is None
    config = stats_config({"EZPZ_RUN_DIR": "/r", "EZPZ_STATS_S": "0.5"}, 3, host="n1")
    assert config == StatsConfig("/r/stats/rank-3.jsonl", 0.5, 3, "n1")
    assert stats_config({"EZPZ_RUN_DIR": "/r"}, 0).host == os.uname().nodename


# -- which device --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "count", "device"),
    [
        ({"CUDA_VISIBLE_DEVICES": "2,3"}, 4, "2"),
        ({"CUDA_VISIBLE_DEVICES": " 1 "}, 4, "1"),
        ({"CUDA_VISIBLE_DEVICES": "GPU-3c2e1f00,GPU-aa"}, 4, "GPU-3c2e1f00"),
        ({"CUDA_VISIBLE_DEVICES": "MIG-5d1b"}, 1, "MIG-5d1b"),
        ({"CUDA_VISIBLE_DEVICES": ""}, 4, None),
        ({"CUDA_VISIBLE_DEVICES": "-1"}, 4, None),
        ({"CUDA_VISIBLE_DEVICES": "7"}, 4, None),
        ({"LOCAL_RANK": "5"}, 4, "1"),
        ({"OMPI_COMM_WORLD_LOCAL_RANK": "3"}, 2, "1"),
        ({"PMI_LOCAL_RANK": "2"}, 4, "2"),
        ({"MPI_LOCALRANKID": "6"}, 4, "2"),
        ({"SLURM_LOCALID": "1"}, 4, "1"),
        ({}, 4, "0"),
        ({}, 0, None),
    ],
)
def test_the_nvidia_device_is_the_first_visible_one_else_the_local_rank(
    env: dict[str, str], count: int, device: str | None
) -> None:
    assert nvidia_device(env, count) == device


@pytest.mark.parametrize(
    ("env", "device"),
    [
        ({"ZE_AFFINITY_MASK": "3.1,4.0"}, "3"),
        ({"ZE_AFFINITY_MASK": "2"}, "2"),
        ({"PALS_LOCAL_RANKID": "4"}, "4"),
        ({"ZE_AFFINITY_MASK": "", "LOCAL_RANK": "1"}, "1"),
        ({}, "0"),
    ],
)
def test_the_intel_device_is_the_affinity_mask_else_the_local_rank(
    env: dict[str, str], device: str
) -> None:
    assert intel_device(env) == device


# -- GPU tools (emulated: no GPU here) --------------------------------------------------

# What ``nvidia-smi --query-gpu=index,uuid,utilization.gpu,memory.used
# --format=csv,noheader,nounits`` prints on a 2-GPU node (memory in MiB).
NVIDIA_SMI_OUT = (
    "0, GPU-3c2e8f5a-1b2c-4d5e-8f9a-0b1c2d3e4f5a, 87, 40123\n"
    "1, GPU-9d0e1f2a-3b4c-5d6e-7f8a-9b0c1d2e3f4a, 12, 512\n"
)
# ``xpu-smi stats -d 1 -j`` (xpumanager 1.2 and later: memory used in MiB).
XPU_SMI_OUT = {
    "device_id": 1,
    "device_level": [
        {"metrics_type": "XPUM_STATS_POWER", "value": 44.69},
        {"metrics_type": "XPUM_STATS_GPU_CORE_TEMPERATURE", "value": 53.0},
        {"metrics_type": "XPUM_STATS_MEMORY_USED", "value": 229.1875},
        {"metrics_type": "XPUM_STATS_MEMORY_UTILIZATION", "value": 1.87},
        {"metrics_type": "XPUM_STATS_GPU_UTILIZATION", "value": 64.5},
    ],
}
# An older xpu-smi (2022): bytes, and utilisation only per tile.
XPU_SMI_OLD_OUT = {
    "device_id": 0,
    "device_level": [{"metrics_type": "XPUM_STATS_MEMORY_USED", "value": 8501719040}],
    "tile_level": [
        {"tile_id": 0, "data_list": [{"metrics_type": "XPUM_STATS_GPU_UTILIZATION", "value": 100}]},
        {"tile_id": 1, "data_list": [{"metrics_type": "XPUM_STATS_GPU_UTILIZATION", "value": 50}]},
    ],
}


def fake_tool(
    bin_dir: Path, name: str, expect_args: str, output: str, *, fail_after: int = -1
) -> Path:
    """An EMULATED GPU tool: prints ``output`` when called with exactly
    ``expect_args`` (else exits 2, as a wrong query would), and logs each call in
    ``<name>.calls``; with ``fail_after`` >= 0 it exits 1 from that call on."""
    bin_dir.mkdir(exist_ok=True)
    calls = bin_dir / f"{name}.calls"
    (bin_dir / f"{name}.out").write_text(output)
    tool = bin_dir / name
    tool.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            echo "$*" >> {calls}
            [ "$*" = "{expect_args}" ] || exit 2
            n=$(wc -l < {calls})
            [ {fail_after} -ge 0 ] && [ "$n" -gt {fail_after} ] && exit 1
            cat {bin_dir / f"{name}.out"}
            """
        )
    )
    tool.chmod(0o755)
    return calls


def calls_of(calls: Path) -> int:
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def tool_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    return {"PATH": f"{bin_dir}{os.pathsep}{os.defpath}", **extra}


NVIDIA_ARGS = " ".join(gpustats.NVIDIA_SMI_QUERY)


def test_nvml_missing_falls_through_to_nothing_without_tools(tmp_path: Path) -> None:
    """NVML is tested only this way here: the library is not there."""
    env = {"PATH": str(tmp_path)}
    assert open_nvml(env, ABSENT_NVML) is None
    assert probe_gpu(env, nvml_library=ABSENT_NVML) is None


def test_nvml_is_skipped_on_a_machine_without_it(tmp_path: Path) -> None:
    import ctypes

    try:
        ctypes.CDLL(gpustats.NVML_LIBRARY)
    except OSError:
        assert open_nvml({"PATH": str(tmp_path)}) is None
    else:
        pytest.skip("this machine has NVML: the no-NVML path is covered by the absent name")


@pytest.mark.parametrize(
    ("env", "dev", "util", "mem_mib"),
    [
        ({"LOCAL_RANK": "1"}, "1", 12.0, 512),
        ({"LOCAL_RANK": "3"}, "1", 12.0, 512),  # modulo the two GPUs listed
        ({}, "0", 87.0, 40123),
        ({"CUDA_VISIBLE_DEVICES": "GPU-9d0e1f2a"}, "GPU-9d0e1f2a", 12.0, 512),  # a prefix
        ({"CUDA_VISIBLE_DEVICES": "0,1", "LOCAL_RANK": "1"}, "0", 87.0, 40123),
    ],
)
def test_emulated_nvidia_smi_reading_of_the_ranks_device(
    tmp_path: Path, env: dict[str, str], dev: str, util: float, mem_mib: int
) -> None:
    fake_tool(tmp_path, "nvidia-smi", NVIDIA_ARGS, NVIDIA_SMI_OUT)
    source = probe_gpu(tool_env(tmp_path, **env), nvml_library=ABSENT_NVML)
    assert source is not None
    assert source.read() == GpuReading("nvidia-smi", dev, util, mem_mib * MIB)


def test_nvidia_smi_not_available_values_are_left_out() -> None:
    text = "0, GPU-3c2e8f5a, [N/A], 40123\n"
    assert parse_nvidia_smi(text, {}) == GpuReading("nvidia-smi", "0", None, 40123 * MIB)
    assert parse_nvidia_smi("", {}) is None
    assert parse_nvidia_smi(NVIDIA_SMI_OUT, {"CUDA_VISIBLE_DEVICES": "GPU-ffff"}) is None


def test_emulated_nvidia_smi_runs_every_fifth_sample_and_repeats_its_values(
    tmp_path: Path,
) -> None:
    calls = fake_tool(tmp_path, "nvidia-smi", NVIDIA_ARGS, NVIDIA_SMI_OUT)
    source = probe_gpu(tool_env(tmp_path), nvml_library=ABSENT_NVML)
    assert source is not None
    readings = [source.read() for _ in range(10)]  # the probe's run counts as the first
    assert calls_of(calls) == 3  # probe (read 0), read 5, read 10
    assert set(readings) == {GpuReading("nvidia-smi", "0", 87.0, 40123 * MIB)}


def test_a_gpu_tool_that_starts_failing_is_dropped_for_the_rest_of_the_run(
    tmp_path: Path,
) -> None:
    calls = fake_tool(tmp_path, "nvidia-smi", NVIDIA_ARGS, NVIDIA_SMI_OUT, fail_after=1)
    source = probe_gpu(tool_env(tmp_path), nvml_library=ABSENT_NVML)
    assert source is not None
    readings = [source.read() for _ in range(12)]
    assert readings[:4] == [readings[0]] * 4 and readings[0] is not None
    assert readings[4:] == [None] * 8
    assert calls_of(calls) == 2  # never run again after it failed


def test_a_gpu_tool_that_fails_at_the_probe_falls_through(tmp_path: Path) -> None:
    fake_tool(tmp_path, "nvidia-smi", NVIDIA_ARGS, NVIDIA_SMI_OUT, fail_after=0)
    assert probe_gpu(tool_env(tmp_path), nvml_library=ABSENT_NVML) is None
    fake_tool(tmp_path, "xpu-smi", "stats -d 0 -j", json.dumps(XPU_SMI_OLD_OUT))
    source = probe_gpu(tool_env(tmp_path), nvml_library=ABSENT_NVML)
    assert source is not None and source.read().src == "xpu-smi"


def test_a_gpu_tool_that_hangs_is_dropped_after_its_timeout(tmp_path: Path) -> None:
    tool = tmp_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\nexec sleep 30\n")
    tool.chmod(0o755)
    source = ToolSource([str(tool)], lambda text: parse_nvidia_smi(text, {}), timeout=0.3)
    assert source.read() is None
    assert source.dropped
    assert source.read() is None and source.runs == 1


def test_emulated_xpu_smi_reads_the_affinity_masks_device(tmp_path: Path) -> None:
    calls = fake_tool(tmp_path, "xpu-smi", "stats -d 1 -j", json.dumps(XPU_SMI_OUT, indent=4))
    env = tool_env(tmp_path, ZE_AFFINITY_MASK="1.0", PALS_LOCAL_RANKID="5")
    source = probe_gpu(env, nvml_library=ABSENT_NVML)
    assert source is not None
    assert source.read() == GpuReading("xpu-smi", "1", 64.5, int(229.1875 * MIB))
    assert calls_of(calls) == 1


def test_xpu_smi_in_bytes_with_per_tile_utilisation() -> None:
    reading = parse_xpu_smi(json.dumps(XPU_SMI_OLD_OUT), "0")
    assert reading == GpuReading("xpu-smi", "0", 75.0, 8501719040)
    assert parse_xpu_smi("not json", "0") is None
    assert parse_xpu_smi(json.dumps({"device_level": []}), "0") is None


# -- the sampler thread ----------------------------------------------------------------


def sample_lines(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    text = path.read_text()
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def start(sampler: Sampler) -> threading.Thread:
    thread = threading.Thread(target=sampler.run, daemon=True)
    thread.start()
    return thread


def test_the_sampler_appends_one_json_line_per_sample(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    (tmp_path / "run").mkdir()
    config = StatsConfig(str(tmp_path / "run" / "stats" / "rank-3.jsonl"), 0.05, 3, "n1")
    said: list[str] = []
    no_gpu = functools.partial(probe_gpu, nvml_library=ABSENT_NVML)
    sampler = Sampler(config, sleeper.pid, time.monotonic(), said.append, {"PATH": ""}, no_gpu)
    thread = start(sampler)
    path = Path(config.path)
    rows = wait_until(lambda: len(r := sample_lines(path)) >= 3 and r, "three samples")
    sampler.stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert said == []
    for row in rows:
        assert set(row) == RECORD_KEYS
        assert (row["rank"], row["host"], row["pid"], row["procs"]) == (3, "n1", sleeper.pid, 1)
        assert row["rss"] > 0 and row["threads"] >= 1 and 0 <= row["cpu"] < 100
    assert [r["t"] for r in rows] == sorted(r["t"] for r in rows)


def test_the_sampler_adds_the_gpu_of_an_emulated_nvidia_smi(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    fake_tool(tmp_path / "bin", "nvidia-smi", NVIDIA_ARGS, NVIDIA_SMI_OUT)
    config = StatsConfig(str(tmp_path / "stats" / "rank-1.jsonl"), 0.05, 1, "n1")
    probe = functools.partial(probe_gpu, nvml_library=ABSENT_NVML)
    env = tool_env(tmp_path / "bin", LOCAL_RANK="1")
    sampler = Sampler(config, sleeper.pid, time.monotonic(), print, env, probe)
    thread = start(sampler)
    rows = wait_until(lambda: len(r := sample_lines(Path(config.path))) >= 2 and r, "samples")
    sampler.stop.set()
    thread.join(timeout=5)
    assert set(rows[0]) == RECORD_KEYS | GPU_KEYS
    assert (rows[0]["gpu"], rows[0]["gpu_mem"]) == (12.0, 512 * MIB)
    assert (rows[0]["gpu_src"], rows[0]["gpu_dev"]) == ("nvidia-smi", "1")


def test_a_stats_path_that_cannot_be_created_is_said_once_and_sampling_stops(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    (tmp_path / "stats").write_text("a file where the directory should be")
    config = StatsConfig(str(tmp_path / "stats" / "rank-0.jsonl"), 0.05, 0, "n1")
    said: list[str] = []
    sampler = Sampler(config, sleeper.pid, time.monotonic(), said.append, {})
    thread = start(sampler)
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(said) == 1
    assert said[0].startswith("ezpz rankio: no resource stats: ")
    assert str(tmp_path / "stats") in said[0]


def test_a_run_dir_missing_on_this_host_is_said_once_and_not_made(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    run_dir = tmp_path / "not-shared-here"
    config = StatsConfig(str(run_dir / "stats" / "rank-0.jsonl"), 0.05, 0, "n1")
    said: list[str] = []
    thread = start(Sampler(config, sleeper.pid, time.monotonic(), said.append, {}))
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert said == [f"ezpz rankio: no resource stats: {run_dir}: no such directory on this host"]
    assert not run_dir.exists()


def test_the_sampler_stops_by_itself_when_the_command_exits(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    config = StatsConfig(str(tmp_path / "rank-0.jsonl"), 0.05, 0, "n1")
    sampler = Sampler(config, proc.pid, time.monotonic(), print, {"PATH": ""})
    thread = start(sampler)
    assert proc.wait(timeout=15) == 0
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert sample_lines(Path(config.path))  # it sampled while the command ran


# -- the wrapper ------------------------------------------------------------------------


def wrapper(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EZPZ_", "OMPI_", "PMI"))}
    return subprocess.run(
        [sys.executable, "-m", "ezpz_core.rankio", "--", *command],
        env={**base, **env},
        capture_output=True,
        timeout=60,
        check=False,
    )


CHATTY = [
    sys.executable,
    "-c",
    "import sys, time\nfor i in range(5):\n"
    "    print(f'line {i}', flush=True); print(f'err {i}', file=sys.stderr, flush=True)\n"
    "    time.sleep(0.1)\n",
]


def test_the_wrapper_output_is_the_same_with_and_without_sampling(tmp_path: Path) -> None:
    off = wrapper(CHATTY, {"EZPZ_RUN_DIR": str(tmp_path), "EZPZ_STATS": "0"})
    on = wrapper(CHATTY, {"EZPZ_RUN_DIR": str(tmp_path), "EZPZ_STATS_S": "0.1"})
    assert (off.returncode, on.returncode) == (0, 0)
    assert (on.stdout, on.stderr) == (off.stdout, off.stderr)
    rows = sample_lines(tmp_path / "stats" / "rank-0.jsonl")
    assert len(rows) >= 2
    assert {r["rank"] for r in rows} == {0}


def test_ezpz_stats_0_writes_nothing(tmp_path: Path) -> None:
    result = wrapper(CHATTY, {"EZPZ_RUN_DIR": str(tmp_path), "EZPZ_STATS": "0"})
    assert result.returncode == 0
    assert not (tmp_path / "stats").exists()


def test_the_wrapper_says_once_on_stderr_that_it_cannot_write_stats(tmp_path: Path) -> None:
    (tmp_path / "stats").write_text("not a directory")
    result = wrapper(CHATTY, {"EZPZ_RUN_DIR": str(tmp_path), "OMPI_COMM_WORLD_RANK": "4"})
    assert result.returncode == 0
    lines = result.stderr.decode().splitlines()
    notes = [s for s in lines if "no resource stats" in s]
    assert len(notes) == 1
    assert notes[0].startswith("@ezpz:4:e|ezpz rankio: no resource stats: ")
    assert [s for s in lines if s not in notes] == [f"@ezpz:4:e|err {i}" for i in range(5)]
    assert result.stdout.decode().splitlines()[-1] == "@ezpz:4:x|0"


def test_the_wrapper_exits_without_waiting_for_a_sampler_stuck_in_a_gpu_tool(
    tmp_path: Path,
) -> None:
    """An EMULATED nvidia-smi that hangs: the command ends while the sampler waits
    on the tool, and the wrapper exits with the command, the tool still running."""
    if open_nvml({}) is not None:
        pytest.skip("NVML is here: the probe would not run nvidia-smi")
    bin_dir, pid_file = tmp_path / "bin", tmp_path / "smi.pid"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 30\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    wait_for_tool = (
        "import os, time\nend = time.monotonic() + 20\n"
        f"while not os.path.exists({str(pid_file)!r}) and time.monotonic() < end:\n"
        "    time.sleep(0.02)\n"
    )
    env = {"EZPZ_RUN_DIR": str(tmp_path), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = wrapper([sys.executable, "-c", wait_for_tool], env)
    assert result.returncode == 0
    assert result.stdout == b"@ezpz:0:x|0\n"
    tool = int(wait_until(lambda: pid_file.read_text().strip(), "the tool's pid"))
    try:
        os.kill(tool, 0)  # still there: the wrapper did not wait for it
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(tool, signal.SIGKILL)


def test_our_note_waits_for_the_end_of_a_line_the_command_left_open() -> None:
    """The stderr pump sends the sampler's note between whole lines only: a note in
    the middle of a line sent as pieces would end up glued to the command's text."""
    src_r, src_w = os.pipe()
    out_r, out_w = os.pipe()
    pump = _Pump(2, src_r, out_w, "e")
    thread = threading.Thread(target=pump.run, daemon=True)
    thread.start()
    got = b""

    def read_until(marker: bytes) -> bytes:
        nonlocal got
        while marker not in got:
            got += os.read(out_r, 65536)
        return got

    os.write(src_w, b"loading")
    read_until(b"@ezpz:2:E|loading\n")  # held past HOLD_S: sent as a piece
    pump.note("ezpz rankio: no resource stats: why")
    os.write(src_w, b" done\nnext\n")
    os.close(src_w)
    thread.join(timeout=10)
    os.close(out_w)
    while chunk := os.read(out_r, 65536):
        got += chunk
    os.close(out_r)
    assert got.decode().splitlines() == [
        "@ezpz:2:E|loading",
        "@ezpz:2:e| done",
        "@ezpz:2:e|next",
        "@ezpz:2:e|ezpz rankio: no resource stats: why",
    ]
