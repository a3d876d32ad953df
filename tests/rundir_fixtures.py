"""Run directories as ``ezpz-tui --run`` leaves them, for the console's tests.

Each builder simulates one run of a reference-workload-like job on a frozen
clock (``now``) and writes what the session would have written: ``plan.json``,
``combined.log`` (labelled lines in arrival order, launcher lines unlabelled),
``ranks/rank-<N>.log`` and ``ranks/launcher.log`` (labels stripped),
``owner.json``, ``events.jsonl`` and, once the run is over, ``summary.json``.
Every value is a function of the arguments (seeded ``random.Random``), so
snapshots are the same on every machine; only ``running_run`` and ``gone_run``
name this host, as they must for their owner to read as alive or dead
(``running_run(host=...)`` names another one, alive by its heartbeat).

Every rank prints the same banner and the same two NCCL warnings (what the
console collapses), then its own ``step=K loss=... dt=...`` lines. The
simulation is a list of arrivals ``(t, rank, stream, text)``; the files are
rendered from it in one pass, each written with one ``os.write``: 20,000 ranks
take 0.5 s on tmpfs, plus what the disk needs to create 20,000 files (0.7-3 s on
an ext4 VM disk), so tests that build one share it (a module-scoped fixture).
"""

from __future__ import annotations

import json
import math
import os
import random
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import psutil

from ezpz_core.run.events import LAUNCHER
from ezpz_core.run.store import new_run_dir

NOW = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC: the default frozen clock
HEARTBEAT_S = 2.0

FINISHED = "finished"
FAILED = "failed"
RUNNING = "running"
GONE = "gone"

OPENMPI = "openmpi"
SRUN = "srun"

PLAN_HOST = "x1000c0s0b0n0"  # where the finished runs' session ran
SESSION_PID = 424_242  # the finished runs' session (long gone; summary.json says so)
LAUNCHER_PID = 424_250
SLURM_JOB_ID = "4242424"
PPN_MANY = 12  # ranks per host of many_ranks_run (an Aurora node's twelve tiles)
COMMAND = ("python3", "-m", "ezpz_core.workload")

NCCL_WARNINGS = (
    "NCCL WARN NET/Plugin: Could not find: libnccl-net.so. Using internal network plugin.",
    "NCCL WARN NET/IB : No device found.",
)
TRACEBACK = (
    "Traceback (most recent call last):",
    '  File "/home/user/project/train.py", line 88, in <module>',
    "    main()",
    '  File "/home/user/project/train.py", line 71, in main',
    "    batch = next(loader)",
    "ValueError: bad batch",
)
OOM = "torch.OutOfMemoryError: XPU out of memory. Tried to allocate 2.00 GiB"
# where a rank's first error starts (what the store's first-error scan finds)
ERROR_STARTS = frozenset({TRACEBACK[0], OOM})

Arrival = tuple[float, int, str, str]  # (t, rank or LAUNCHER, stream, text)


def banner(world_size: int, backend: str = "gloo") -> str:
    """The line every rank prints first, identically."""
    return f"[ezpz] torch.distributed initialised: backend={backend} world_size={world_size}"


@dataclass(frozen=True)
class RunFixture:
    """A run directory written by a builder, and what a test needs to know of it.

    ``lines_per_rank`` is what a healthy rank wrote (its file's line count);
    ``rank_lines`` has every rank's count, ``launcher_lines`` the launcher lane's."""

    path: Path
    ranks: int
    lines_per_rank: int
    status: str  # finished | failed | running | gone
    now: float = NOW
    fmt: str = OPENMPI
    rank_lines: tuple[int, ...] = ()
    launcher_lines: int = 0
    silent_rank: int | None = None


@dataclass
class _Run:
    """One simulated run: its plan, what it printed and when, how it ended."""

    status: str
    fmt: str
    world: int
    hosts: tuple[str, ...]
    ppn: int
    argv: tuple[str, ...]
    start: float  # the session's start
    arrivals: list[Arrival]  # in arrival order
    # (t, rank, code): the exits that were told (set by _finish)
    exits: list[tuple[float, int, int]] = field(default_factory=list)
    end: float | None = None  # None: not over (running, or the session died)
    code: int | None = None
    lines_per_rank: int = 0
    job_id: str | None = None
    owner_host: str = PLAN_HOST
    owner_pid: int = SESSION_PID
    owner_start: float | None = None  # None: the session's start
    owner_mtime: float = 0.0  # the last heartbeat
    progress_until: float | None = None  # a running run's last progress event
    notices: list[tuple[float, str, str]] = field(default_factory=list)  # (t, level, text)
    silent_rank: int | None = None


# -- what a rank prints ---------------------------------------------------------


def _step_line(step: int, rng: random.Random) -> str:
    loss = 2.302585 * math.exp(-0.08 * step) + rng.uniform(-0.02, 0.02)
    dt = 0.012 + rng.random() * 0.004
    return f"step={step} loss={loss:.6f} dt={dt:.6f}"


def _rank_program(
    world: int, lines: int, rng: random.Random, step_s: float = 1.0, backend: str = "gloo"
) -> list[tuple[float, str, str]]:
    """A healthy rank's ``lines`` lines as ``(seconds after launch, stream, text)``:
    the banner, the NCCL warnings (when there is room for them), then steps."""
    if lines < 2:
        raise ValueError(f"lines_per_rank={lines}: a rank prints at least a banner and a step")
    jitter = rng.random() * 0.8  # per rank: a rank's own lines stay in order
    out = [(1.0 + jitter, "stdout", banner(world, backend))]
    warnings = NCCL_WARNINGS if lines >= 6 else ()
    out += [(1.5 + jitter + 0.01 * i, "stderr", w) for i, w in enumerate(warnings)]
    steps = lines - 1 - len(warnings)
    out += [(2.0 + jitter + k * step_s, "stdout", _step_line(k + 1, rng)) for k in range(steps)]
    return out


def _arrivals(
    base: float, programs: Iterable[tuple[int, list[tuple[float, str, str]]]]
) -> list[Arrival]:
    """Every rank's lines merged in arrival order (ties: rank order)."""
    arrivals = [
        (round(base + dt, 3), rank, stream, text)
        for rank, program in programs
        for dt, stream, text in program
    ]
    arrivals.sort(key=itemgetter(0))  # stable: a rank's own lines keep their order
    return arrivals


def _host_names(count: int) -> tuple[str, ...]:
    """Aurora-shaped names: x<rack>c<chassis>s<slot>b0n0, 64 to a rack."""
    return tuple(f"x{1000 + i // 64}c{i // 8 % 8}s{i % 8}b0n0" for i in range(count))


def _openmpi_argv(world: int) -> tuple[str, ...]:
    return ("mpirun", "-np", str(world), "--tag-output", *COMMAND)


def _srun_argv(nhosts: int, world: int) -> tuple[str, ...]:
    return ("srun", "--label", "--verbose", f"-N{nhosts}", f"-n{world}", *COMMAND)


# -- the builders -----------------------------------------------------------------


def finished_run(
    root: Path, ranks: int = 2, lines_per_rank: int = 12, fmt: str = OPENMPI, now: float = NOW
) -> RunFixture:
    """A run that ended well ten minutes before ``now``: every rank exited 0.
    ``fmt`` "srun" spreads the ranks over hosts, 12 to a host, as a Slurm job."""
    _label(fmt, ranks)  # an unknown format fails here, before anything is written
    rng = random.Random(18_001)
    programs = [(r, _rank_program(ranks, lines_per_rank, rng)) for r in range(ranks)]
    hosts = (PLAN_HOST,) if fmt == OPENMPI else _host_names(-(-ranks // PPN_MANY))
    ppn = ranks if fmt == OPENMPI else PPN_MANY
    launcher: list[tuple[float, str, str]] = [
        (0.2, "stderr", _launcher_greeting(fmt, hosts, ranks))
    ]
    return _finish(
        root,
        _Run(
            status=FINISHED,
            fmt=fmt,
            world=ranks,
            hosts=hosts,
            ppn=ppn,
            argv=_openmpi_argv(ranks) if fmt == OPENMPI else _srun_argv(len(hosts), ranks),
            start=0.0,
            arrivals=_arrivals(0.0, [(LAUNCHER, launcher), *programs]),
            code=0,
            lines_per_rank=lines_per_rank,
            job_id=None if fmt == OPENMPI else SLURM_JOB_ID,
        ),
        now - 600.0,
        {r: 0 for r in range(ranks)},
        now,
    )


def failed_run(root: Path, now: float = NOW) -> RunFixture:
    """Two Open MPI ranks; rank 1 raises ``ValueError: bad batch`` after four steps
    and exits 3, prterun names it and stops rank 0 (whose code nobody reports)."""
    rng = random.Random(18_002)
    rank0 = _rank_program(2, 12, rng)
    rank1 = _rank_program(2, 7, rng)  # banner, warnings, four steps...
    died = rank1[-1][0] + 0.2
    rank1 += [(died + 0.001 * i, "stderr", text) for i, text in enumerate(TRACEBACK)]
    rank0 = [line for line in rank0 if line[0] < died + 0.5]  # stopped by prterun
    prterun = [
        "-" * 74,
        "prterun detected that one or more processes exited with non-zero status,",
        "thus causing the job to be terminated. The first process to do so was:",
        "",
        f"   Process name: [prterun-{PLAN_HOST}-18655@1,1]",
        "   Exit code:    3",
        "-" * 74,
    ]
    launcher = [(died + 0.8 + 0.001 * i, "stderr", text) for i, text in enumerate(prterun)]
    run = _Run(
        status=FAILED,
        fmt=OPENMPI,
        world=2,
        hosts=(PLAN_HOST,),
        ppn=2,
        argv=_openmpi_argv(2),
        start=0.0,
        arrivals=_arrivals(0.0, [(LAUNCHER, launcher), (0, rank0), (1, rank1)]),
        code=3,
        lines_per_rank=len(rank0),
    )
    run.notices.append((died + 0.9, "error", "rank 1 exited with code 3"))
    return _finish(root, run, now - 1800.0, {1: 3}, now)


def many_ranks_run(
    root: Path, ranks: int = 20_000, lines_per_rank: int = 3, now: float = NOW
) -> RunFixture:
    """A big Slurm job (``srun --label``), 12 ranks per host: two ranks run out
    of memory and exit 1, one is killed; srun says so on its stderr."""
    if ranks < 4:
        raise ValueError(f"ranks={ranks}: many_ranks_run needs at least 4 (three of them fail)")
    rng = random.Random(18_003)
    nhosts = -(-ranks // PPN_MANY)
    hosts = _host_names(nhosts)
    failing = sorted({ranks // 3, ranks // 2 + 1} - {ranks - 2})
    killed = ranks - 2
    programs = []
    exits: dict[int, int] = {}
    for r in range(ranks):
        program = _rank_program(ranks, lines_per_rank, rng, backend="xccl")
        if r in failing:
            program[-1] = (program[-1][0], "stderr", OOM)
            exits[r] = 1
        elif r == killed:
            program.pop()
            exits[r] = -9
        else:
            exits[r] = 0
        programs.append((r, program))
    last = max(program[-1][0] for _, program in programs)
    launcher = [
        (0.1, "stderr", "srun: defined options"),
        (0.101, "stderr", f"srun: nodes               : {nhosts}"),
        (0.102, "stderr", f"srun: ntasks              : {ranks}"),
    ]
    for i, rank in enumerate(sorted(r for r, code in exits.items() if code)):
        host = hosts[rank // PPN_MANY]
        tail = "Killed" if exits[rank] < 0 else f"Exited with exit code {exits[rank]}"
        launcher.append(
            (last + 0.3 + 0.001 * i, "stderr", f"srun: error: {host}: task {rank}: {tail}")
        )
    run = _Run(
        status=FAILED,
        fmt=SRUN,
        world=ranks,
        hosts=hosts,
        ppn=PPN_MANY,
        argv=_srun_argv(nhosts, ranks),
        start=0.0,
        arrivals=_arrivals(0.0, [(LAUNCHER, launcher), *programs]),
        code=1,
        lines_per_rank=lines_per_rank,
        job_id=SLURM_JOB_ID,
    )
    run.notices.append((last + 0.5, "warning", f"{len(failing) + 1} ranks failed"))
    return _finish(root, run, now - 3600.0, exits, now)


def running_run(
    root: Path,
    silent_rank: int | None = 1,
    ranks: int = 4,
    lines_per_rank: int = 40,
    now: float = NOW,
    host: str | None = None,
    pid: int | None = None,
) -> RunFixture:
    """A run still going at ``now``, owned by this very process (so it reads as
    alive): every rank printed within the last 1.5 s but ``silent_rank``, which
    stopped after its second step (a minute before, with the default 40 lines).

    ``host`` (and ``pid``) name an owner on another host instead, alive by its
    heartbeat (``owner.json``'s mtime, half a second before ``now``): what
    snapshots use, as it reads the same on every machine and in every process."""
    if silent_rank is not None and not 0 <= silent_rank < ranks:
        raise ValueError(f"silent_rank={silent_rank}: no such rank in {ranks}")
    if lines_per_rank < 8:
        raise ValueError(f"lines_per_rank={lines_per_rank}: a running run needs at least 8")
    rng = random.Random(18_004)
    programs = [(r, _rank_program(ranks, lines_per_rank, rng, step_s=2.0)) for r in range(ranks)]
    if silent_rank is not None:
        program = programs[silent_rank][1]
        steps = [i for i, line in enumerate(program) if line[2].startswith("step=")]
        del program[steps[1] + 1 :]  # what came before its second step, and that step
    last = max(lines[-1][0] for _, lines in programs)
    start = round(now - (last + 0.7), 3)
    launcher = [(0.2, "stderr", _launcher_greeting(OPENMPI, (PLAN_HOST,), ranks))]
    run = _Run(
        status=RUNNING,
        fmt=OPENMPI,
        world=ranks,
        hosts=(PLAN_HOST,),
        ppn=ranks,
        argv=_openmpi_argv(ranks),
        start=start,
        arrivals=_arrivals(start + 0.02, [(LAUNCHER, launcher), *programs]),
        lines_per_rank=lines_per_rank,
        owner_host=socket.gethostname() if host is None else host,
        owner_pid=(os.getpid() if host is None else SESSION_PID) if pid is None else pid,
        owner_start=psutil.Process().create_time() if host is None else None,
        owner_mtime=now - 0.5,
        progress_until=now,
        silent_rank=silent_rank,
    )
    return _write(root, run, now)


def gone_run(root: Path, now: float = NOW) -> RunFixture:
    """A run whose session died two hours ago without a summary: its owner, on
    this host, is a pid that does not exist, and its heartbeat is old."""
    rng = random.Random(18_005)
    lines = 8
    programs = [(r, _rank_program(2, lines, rng)) for r in range(2)]
    start = round(now - 7200.0, 3)
    last = max(program[-1][0] for _, program in programs)
    run = _Run(
        status=GONE,
        fmt=OPENMPI,
        world=2,
        hosts=(PLAN_HOST,),
        ppn=2,
        argv=_openmpi_argv(2),
        start=start,
        arrivals=_arrivals(start + 0.02, programs),
        lines_per_rank=lines,
        owner_host=socket.gethostname(),
        owner_pid=dead_pid(),
        owner_mtime=start + last + 1.0,
        progress_until=start + last + 1.0,
    )
    return _write(root, run, now)


def dead_pid() -> int:
    """A pid no process has: the largest a 64-bit Linux can give, or below."""
    pid = 4_194_303
    while psutil.pid_exists(pid):
        pid -= 1
    return pid


def _launcher_greeting(fmt: str, hosts: tuple[str, ...], ranks: int) -> str:
    if fmt == OPENMPI:
        return f"Warning: Permanently added '{hosts[0]}' (ED25519) to the list of known hosts."
    return f"srun: ntasks              : {ranks}"


def _finish(root: Path, run: _Run, end: float, exits: dict[int, int], now: float) -> RunFixture:
    """Place an ended run so that it ends at ``end``: the launcher exits 0.5 s
    after the last line, the session 0.1 s after that."""
    last = run.arrivals[-1][0]
    shift = end - (last + 0.6)
    run.arrivals = [(round(t + shift, 3), r, s, x) for t, r, s, x in run.arrivals]
    run.notices = [(round(t + shift, 3), level, text) for t, level, text in run.notices]
    run.start = round(shift - 0.02, 3)
    run.end = round(end, 3)
    last_of: dict[int, float] = {}
    for t, rank, _, _ in run.arrivals:
        last_of[rank] = t
    run.exits = [
        (round(min(last_of.get(rank, run.end), run.end - 0.5) + 0.2, 3), rank, code)
        for rank, code in sorted(exits.items())
    ]
    run.owner_mtime = run.end
    return _write(root, run, now)


# -- writing the files ------------------------------------------------------------


def _label(fmt: str, world: int) -> Callable[[int, str], str]:
    """``label(rank, stream) -> str`` in the launcher's spelling."""
    if fmt == OPENMPI:
        return lambda rank, stream: f"[1,{rank}]<{stream}>: "
    if fmt == SRUN:
        width = len(str(world - 1))
        return lambda rank, stream: f"{rank:>{width}}: "
    raise ValueError(f"fmt={fmt!r}: the fixtures know openmpi and srun labels")


def _write_bytes(path: Path | str, data: bytes, dir_fd: int | None = None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dir_fd)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _run_dir(root: Path, start: float, job_id: str | None) -> Path:
    """The session's own naming, in UTC so the name is the same in every time zone."""
    return new_run_dir(root, job_id, start, utc=True)


def _write(root: Path, run: _Run, now: float) -> RunFixture:
    path = _run_dir(root, run.start, run.job_id)
    (path / "ranks").mkdir()
    label = _label(run.fmt, run.world)
    attempt_start = round(run.start + 0.02, 3)

    combined: list[str] = []
    per_rank: dict[int, list[str]] = {}
    stats: dict[int, dict[str, Any]] = {}
    first_error: dict[str, Any] | None = None
    progress: list[dict[str, Any]] = []
    size = lines = 0
    second: int | None = None
    for t, rank, stream, text in run.arrivals:
        if second is not None and t >= second + 1:  # a second of lines has passed
            progress.append(_progress(float(second + 1), size, lines))
        second = math.floor(t)
        line = (text if rank == LAUNCHER else label(rank, stream) + text) + "\n"
        combined.append(line)
        size += len(line.encode())
        lines += 1
        own = per_rank.setdefault(rank, [])
        own.append(text + "\n")
        if first_error is None and rank != LAUNCHER and text in ERROR_STARTS:
            first_error = {"rank": rank, "line": len(own), "text": text}
    attempt_end = round(run.end - 0.1, 3) if run.end is not None else None
    progress_end = attempt_end if attempt_end is not None else run.progress_until
    if second is not None and progress_end is not None:
        progress.append(_progress(progress_end, size, lines))

    _write_bytes(path / "combined.log", "".join(combined).encode())
    codes = {rank: code for _, rank, code in run.exits}
    ranks_fd = os.open(path / "ranks", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for rank, texts in sorted(per_rank.items()):
            block = "".join(texts).encode()
            name = "launcher.log" if rank == LAUNCHER else f"rank-{rank}.log"
            _write_bytes(name, block, ranks_fd)  # relative to the folder: no path walk
            stats[rank] = {
                "lines": len(texts),
                "bytes": len(block),
                "last_line": texts[-1][:-1][:500],
                "exit_code": codes.get(rank),
            }
    finally:
        os.close(ranks_fd)

    plan = _plan_json(run, path)
    _write_json(path / "plan.json", plan)
    owner = {
        "host": run.owner_host,
        "pid": run.owner_pid,
        "start": run.owner_start if run.owner_start is not None else run.start,
        "argv": ["ezpz-tui", "--run", "--np", str(run.world), "--", *COMMAND],
        "heartbeat_s": HEARTBEAT_S,
    }
    _write_json(path / "owner.json", owner)
    os.utime(path / "owner.json", (run.owner_mtime, run.owner_mtime))

    events: list[dict[str, Any]] = [
        {
            "event": "started",
            "t": run.start,
            "pid": run.owner_pid,
            "host": run.owner_host,
            "run_dir": str(path),
            "argv": list(run.argv),
            "world_size": run.world,
            "ranks_expected": run.world,
        },
        {
            "event": "attempt",
            "t": attempt_start,
            "attempt": 1,
            "pid": LAUNCHER_PID,
            "argv": list(run.argv),
            "directory": str(path),
        },
        {
            "event": "notice",
            "t": round(attempt_start + 0.5, 3),
            "level": "info",
            "text": "metrics from log step lines of rank 0",
        },
        *progress,
        *(
            {"event": "notice", "t": t, "level": level, "text": text}
            for t, level, text in run.notices
        ),
        *(
            {"event": "rank_exit", "t": t, "attempt": 1, "rank": rank, "code": code}
            for t, rank, code in run.exits
        ),
    ]
    if run.end is not None:
        events.append({"event": "finished", "t": run.end, "code": run.code, "reason": ""})
    events.sort(key=itemgetter("t"))  # stable: same-time events keep the order above
    _write_bytes(path / "events.jsonl", "".join(json.dumps(e) + "\n" for e in events).encode())

    if run.end is not None:
        # indented as the store writes it, but compact past 1,024 ranks: the
        # indenting encoder is pure Python and alone takes a second for 20,000
        indent = 2 if run.world <= 1024 else None
        summary = _summary(run, path, attempt_start, stats, first_error)
        _write_json(path / "summary.json", summary, indent)
        for name in ("summary.json", "combined.log", "events.jsonl"):
            os.utime(path / name, (run.end, run.end))
    return RunFixture(
        path=path,
        ranks=run.world,
        lines_per_rank=run.lines_per_rank,
        status=run.status,
        now=now,
        fmt=run.fmt,
        rank_lines=tuple(stats[r]["lines"] if r in stats else 0 for r in range(run.world)),
        launcher_lines=stats[LAUNCHER]["lines"] if LAUNCHER in stats else 0,
        silent_rank=run.silent_rank,
    )


def _progress(t: float, size: int, lines: int) -> dict[str, Any]:
    return {"event": "progress", "t": round(t, 3), "attempt": 1, "bytes": size, "lines": lines}


def _write_json(path: Path, data: dict[str, Any], indent: int | None = 2) -> None:
    _write_bytes(path, (json.dumps(data, indent=indent) + "\n").encode())


def _plan_json(run: _Run, path: Path) -> dict[str, Any]:
    """What ``LaunchPlan.to_json()`` writes (keys in its order), with ``run_dir``."""
    slurm = run.fmt == SRUN
    return {
        "scheduler": "slurm" if slurm else "local",
        "scheduler_source": "SLURM_JOB_ID" if slurm else "no scheduler found",
        "in_job": slurm,
        "machine": "generic",
        "machine_source": "no hostname rule matched",
        "job_id": run.job_id,
        "hostname": run.hosts[0],
        "hostfile": None,
        "hosts": list(run.hosts),
        "nhosts": len(run.hosts),
        "ngpu_per_host": PPN_MANY if slurm else 0,
        "accelerator": "xpu" if slurm else None,
        "ngpu_source": "xpu-smi" if slurm else "none found (CPU)",
        "warnings": [],
        "ppn": run.ppn,
        "world_size": run.world,
        "launcher": "srun" if slurm else "mpirun",
        "launcher_found": True,
        "launcher_flavour": run.fmt,
        "launch_style": run.fmt,
        "rank_io": "label",
        "cpu_bind": None,
        "cpu_bind_source": None,
        "command": list(COMMAND),
        "argv": list(run.argv),
        "run_dir": str(path),
    }


def _summary(
    run: _Run,
    path: Path,
    attempt_start: float,
    stats: dict[int, dict[str, Any]],
    first_error: dict[str, Any] | None,
) -> dict[str, Any]:
    """``summary.json`` in the shape ``Session._summary`` writes (one attempt)."""
    assert run.end is not None and run.code is not None
    ranks = {("launcher" if r == LAUNCHER else str(r)): s for r, s in sorted(stats.items())}
    attempt_end = round(run.end - 0.1, 3)
    attempt = {
        "attempt": 1,
        "directory": str(path),
        "exit_code": run.code,
        "reason": "",
        "start": attempt_start,
        "end": attempt_end,
        "duration_s": round(attempt_end - attempt_start, 3),
        "ranks": ranks,
        "first_error": first_error,
    }
    return {
        "exit_code": run.code,
        "reason": "",
        "start": run.start,
        "end": run.end,
        "duration_s": round(run.end - run.start, 3),
        "run_dir": str(path),
        "argv": list(run.argv),
        "ranks": ranks,
        "failed_ranks": {
            rank: info["exit_code"]
            for rank, info in ranks.items()
            if rank != "launcher" and info["exit_code"] not in (None, 0)
        },
        "first_error": first_error,
        "hidden_lines": {},
        "metrics_source": None,
        "metrics": {},
        "attempts": [attempt],
    }
