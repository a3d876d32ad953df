"""Dumping the live Python stacks of a run's ranks on this host with py-spy.

The ranks are found by the job's marker (``EZPZ_RUN_ID`` in their environment,
recorded in the run's ``started`` event): that finds them whatever started them
(mpirun's daemons, srun's slurmstepd, torchrun's agent). Of the processes with
the marker, a rank is a Python process with a rank variable of its own, and the
topmost of those with that rank (a DataLoader worker inherits its rank's
variables; the rank wrapper and the launcher are no ranks).

Where py-spy is missing or refused, a rank that registered Python's
faulthandler (``setup_torch()`` does; ``fallback.py``) is asked instead, and
the stack says which source it came from.

Every rank is dumped in parallel (one py-spy per rank, each ~16 ms on a torch
rank), each under a timeout; a blocking dump that fails is tried once more with
``--nonblocking``. py-spy has left targets stopped (its issues 390, 587): after
each dump the rank's state is read and a stopped rank is continued, and said.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ezpz_core.hang.fallback import ask
from ezpz_core.hang.stacks import RankStack, parse_faulthandler, parse_pyspy_json
from ezpz_core.rankenv import rank_from_env

DUMP_TIMEOUT_S = 10.0  # one py-spy dump; a torch rank takes ~16 ms, --native ~0.5 s
MAX_PARALLEL = 32  # py-spy processes at once on one host
PY_SPY_MISSING = "py-spy is not installed here (pip install 'ezpz-tui[doctor]', or py-spy itself)"


@dataclass(frozen=True)
class RankProcess:
    rank: int
    pid: int
    source: str  # the launcher variables that named the rank (ompi, pmi, slurm, torchrun...)


def find_py_spy(env: Mapping[str, str]) -> str | None:
    """py-spy on PATH, else beside this interpreter (a venv not on PATH)."""
    found = shutil.which("py-spy", path=env.get("PATH", ""))
    if found:
        return found
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def _environ(pid: int) -> dict[str, str] | None:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:  # gone, or another user's
        return None
    out: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return out


def _ppid_and_python(pid: int) -> tuple[int, bool, list[str]] | None:
    """Parent pid, whether the process runs Python, and its command line's words."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return None
    ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
    words = [w.decode("utf-8", "replace") for w in cmdline if w]
    return ppid, exe.startswith("python"), words


def rank_processes(marker: str, me: int | None = None) -> list[RankProcess]:
    """The ranks of the job marked ``marker`` that run on this host, by rank."""

    me = os.getpid() if me is None else me
    found: dict[int, dict[int, tuple[int, str]]] = {}  # rank -> pid -> (ppid, source)
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        pid = int(name)
        env = _environ(pid)
        if env is None or env.get("EZPZ_RUN_ID") != marker:
            continue
        facts = _ppid_and_python(pid)
        if facts is None:
            continue
        ppid, python, words = facts
        if not python or _is_wrapper(words):
            continue
        ranks = rank_from_env(env)
        if ranks.source == "none":
            continue  # a launcher written in Python (torchrun's agent), not a rank
        found.setdefault(ranks.rank, {})[pid] = (ppid, ranks.source)
    out = []
    for rank, pids in sorted(found.items()):
        top = [pid for pid, (ppid, _) in pids.items() if ppid not in pids]
        pid = min(top or pids)
        out.append(RankProcess(rank, pid, pids[pid][1]))
    return out


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.rindex(")") + 2 :].split()[0]


RunCommand = Callable[[Sequence[str], float], "subprocess.CompletedProcess[str]"]


def _run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)


def dump_rank(
    proc: RankProcess,
    py_spy: str | None,
    silent_s: float | None = None,
    timeout: float = DUMP_TIMEOUT_S,
    run: RunCommand = _run,
    run_dir: Path | None = None,
) -> RankStack:
    """One rank's stacks; never raises (a failure is the stack's ``error``).
    py-spy first; where it is missing or fails, the rank's faulthandler."""
    stack = _pyspy(proc, py_spy, silent_s, timeout, run) if py_spy else None
    if stack is not None and stack.source == "py-spy":
        return stack
    why = stack.error if stack is not None else PY_SPY_MISSING
    text = ask(run_dir, proc.rank, proc.pid) if run_dir is not None else None
    if text is not None:
        threads = parse_faulthandler(text)
        if threads:
            host = socket.gethostname()
            note = f"from faulthandler: {why}"
            return RankStack(proc.rank, "faulthandler", threads, host, proc.pid, note, silent_s)
    why += "; and the rank has no faulthandler to ask (setup_torch() registers one)"
    return RankStack(proc.rank, "none", (), socket.gethostname(), proc.pid, why, silent_s)


def _pyspy(
    proc: RankProcess, py_spy: str, silent_s: float | None, timeout: float, run: RunCommand
) -> RankStack:
    host = socket.gethostname()
    errors: list[str] = []
    for extra in ((), ("--nonblocking",)):
        argv = [py_spy, "dump", "--json", *extra, "--pid", str(proc.pid)]
        try:
            done = run(argv, timeout)
        except subprocess.TimeoutExpired:
            errors.append(f"py-spy did not answer in {timeout:g} s")
            continue
        except OSError as exc:
            errors.append(f"py-spy: {exc.strerror or exc}")
            break
        finally:
            if _state(proc.pid) in ("T", "t"):  # py-spy left it stopped: continue it
                os.kill(proc.pid, signal.SIGCONT)
                errors.append("py-spy left the rank stopped; it was continued (SIGCONT)")
        if done.returncode == 0:
            try:
                threads = parse_pyspy_json(done.stdout)
            except ValueError as exc:
                errors.append(f"py-spy printed no stacks: {exc}")
                continue
            note = "; ".join(errors)
            return RankStack(proc.rank, "py-spy", threads, host, proc.pid, note, silent_s)
        errors.append(_pyspy_error(done))
    return RankStack(proc.rank, "none", (), host, proc.pid, "; ".join(errors), silent_s)


def _pyspy_error(done: subprocess.CompletedProcess[str]) -> str:
    text = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()
    message = text[-1] if text else f"exit {done.returncode}"
    if "Permission denied" in message or "Operation not permitted" in message:
        return (
            f"py-spy was refused ({message}): ptrace is not allowed here "
            "(kernel.yama.ptrace_scope, or a container without SYS_PTRACE)"
        )
    return f"py-spy failed: {message}"


def collect(
    procs: Sequence[RankProcess],
    py_spy: str | None,
    silence: Mapping[int, float] | None = None,
    timeout: float = DUMP_TIMEOUT_S,
    run_dir: Path | None = None,
) -> list[RankStack]:
    """Every rank dumped at once (threads: each waits on its own py-spy)."""
    if not procs:
        return []
    silence = silence or {}
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(procs))) as pool:
        futures = [
            pool.submit(dump_rank, p, py_spy, silence.get(p.rank), timeout, _run, run_dir)
            for p in procs
        ]
        return [f.result() for f in futures]


def silence_of(run_dir: Path, now: float | None = None) -> dict[int, float]:
    """Seconds since each rank's log last grew (its own file's modification time)."""
    now = time.time() if now is None else now
    out: dict[int, float] = {}
    for log in (run_dir / "ranks").glob("rank-*.log"):
        rank = log.stem.removeprefix("rank-")
        if rank.isdigit():
            try:
                out[int(rank)] = max(0.0, now - log.stat().st_mtime)
            except OSError:
                continue
    return out


def wrapper_processes(marker: str, me: int | None = None) -> list[int]:
    """This host's rank wrappers of the job marked ``marker`` (``--rank-io
    wrapper``): what the hang doctor signals where the launcher forwards nothing."""
    me = os.getpid() if me is None else me
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        env = _environ(int(name))
        if env is None or env.get("EZPZ_RUN_ID") != marker:
            continue
        facts = _ppid_and_python(int(name))
        if facts is not None and facts[1] and _is_wrapper(facts[2]):
            found.append(int(name))
    return found


def _is_wrapper(words: list[str]) -> bool:
    """``python -m ezpz_core.rankio ...`` itself, not a process that merely names
    it in its arguments (torchrun's agent does, and SIGUSR1 would kill it)."""
    return words[1:3] == ["-m", "ezpz_core.rankio"]
