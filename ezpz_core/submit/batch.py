"""The batch script ``--submit`` writes, and the command that submits it (pure).

The script holds the scheduler's directives, a ``cd`` to the directory the user
submitted from, and one ``ezpz-tui --run --run-dir D`` line: the job is the same
headless run as on a compute node by hand, writing into the run directory the
login node already created (and follows). Every word of that line is quoted with
``shlex``; the directives are written as given, one per line, since the
scheduler (not bash) reads them (the output path is the one word we quote there,
in the scheduler's own way).

Slurm's output goes to ``D/job.out`` from the start. PBS copies a job's output
back only when it ends, unless ``-k`` keeps it; ``-k doe`` with ``-o D/job.out``
writes it straight to its final place while the job runs.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ezpz_core.errors import UsageError
from ezpz_core.kinds import SchedulerKind

SCRIPT = "job.sh"
OUTPUT = "job.out"
_NAME = re.compile(r"[A-Za-z][\w.-]{0,62}")  # portable for both (PBS: starts with a letter)
_TIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")


@dataclass(frozen=True)
class BatchRequest:
    """What the user asked the scheduler for, and the run the job is to be.

    ``run_argv`` is the whole ``ezpz-tui --run ...`` command (flags and the
    user's command); ``scheduler_args`` are directives passed through, one
    directive each (``--gpus-per-node=4``, ``-l filesystems=home:flare``)."""

    scheduler: SchedulerKind
    run_dir: Path
    submit_dir: str
    run_argv: tuple[str, ...]
    nodes: int = 1
    walltime: str | None = None  # normalised HH:MM:SS (see parse_walltime)
    queue: str | None = None
    account: str | None = None
    job_name: str = "ezpz"
    scheduler_args: tuple[str, ...] = field(default=())
    ntasks: int | None = None  # -n of the launch: Slurm gives one task per node otherwise
    tasks_per_node: int | None = None  # --ppn of the launch


def parse_walltime(text: str, flag: str = "--time") -> str:
    """A walltime as ``HH:MM:SS`` (hours past 24 are fine for both schedulers).

    Accepted: ``M`` (minutes, as Slurm reads a bare number), ``H:MM``,
    ``H:MM:SS`` and ``D-H[:MM[:SS]]``. Two fields are hours and minutes, as
    people write walltimes, not Slurm's minutes and seconds."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"{flag} {text!r}: expected HH:MM:SS, H:MM, minutes, or D-HH[:MM[:SS]]")
    days, a, b, c = match.groups()
    if days is None and b is None:
        h, m, s = 0, int(a), 0
    else:
        h, m, s = int(a), int(b or 0), int(c or 0)
        if m >= 60 or s >= 60:
            raise UsageError(f"{flag} {text!r}: minutes and seconds must be below 60")
    total = (int(days or 0) * 24 + h) * 3600 + m * 60 + s
    if total <= 0:
        raise UsageError(f"{flag} {text!r}: must be longer than 0 seconds")
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def check_job_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"--job-name {name!r}: use a letter, then letters, digits, '.', '_' or '-' "
            "(at most 63; what both PBS and Slurm accept)"
        )
    return name


def check_directive(arg: str) -> str:
    """A ``--scheduler-arg`` is one directive line: never a newline in it."""
    if not arg.strip() or "\n" in arg or "\r" in arg:
        raise UsageError(
            f"--scheduler-arg {arg!r}: give one directive per --scheduler-arg, "
            "without line breaks (e.g. --scheduler-arg=--gpus-per-node=4)"
        )
    if not arg.lstrip().startswith("-"):
        raise UsageError(
            f"--scheduler-arg {arg!r}: a directive starts with '-' "
            "(e.g. --scheduler-arg=--constraint=gpu, --scheduler-arg='-l filesystems=home')"
        )
    return arg.strip()


def _slurm_path(path: Path) -> str:
    """A path as one word of an ``#SBATCH`` line: ``%`` doubled (sbatch expands
    ``%j`` and the like in file names) and double quotes around a path with
    spaces, which sbatch's directive reader takes (checked on 22.05)."""
    text = str(path).replace("%", "%%")
    if not any(c.isspace() for c in text):
        return text
    if '"' in text or "\\" in text:
        raise UsageError(
            f"--outdir: the run directory {str(path)!r} holds spaces and quotes, which no "
            "#SBATCH line can carry; choose an --outdir without them"
        )
    return f'"{text}"'


def _pbs_path(path: Path) -> str:
    if any(c.isspace() for c in str(path)):
        raise UsageError(
            f"--outdir: the run directory {str(path)!r} holds a space; PBS directives "
            "cannot carry one in -o, so choose an --outdir without spaces"
        )
    return str(path)


def _slurm_directives(req: BatchRequest) -> list[str]:
    out = _slurm_path(req.run_dir / OUTPUT)
    lines = [
        f"--job-name={req.job_name}",
        f"--nodes={req.nodes}",
        f"--output={out}",
        f"--error={out}",
    ]
    if req.ntasks:
        lines.append(f"--ntasks={req.ntasks}")
    if req.tasks_per_node:
        lines.append(f"--ntasks-per-node={req.tasks_per_node}")
    if req.walltime:
        lines.append(f"--time={req.walltime}")
    if req.queue:
        lines.append(f"--partition={req.queue}")
    if req.account:
        lines.append(f"--account={req.account}")
    return [f"#SBATCH {d}" for d in (*lines, *req.scheduler_args)]


def _pbs_directives(req: BatchRequest) -> list[str]:
    per_node = req.tasks_per_node
    if per_node is None and req.ntasks and req.ntasks % req.nodes == 0:
        per_node = req.ntasks // req.nodes
    select = f"{req.nodes}:mpiprocs={per_node}" if per_node else str(req.nodes)
    lines = [f"-N {req.job_name}", f"-l select={select}", "-l place=scatter"]
    if req.walltime:
        lines.append(f"-l walltime={req.walltime}")
    if req.queue:
        lines.append(f"-q {req.queue}")
    if req.account:
        lines.append(f"-A {req.account}")
    lines += ["-j oe", "-k doe", f"-o {_pbs_path(req.run_dir / OUTPUT)}"]
    return [f"#PBS {d}" for d in (*lines, *req.scheduler_args)]


def batch_script(req: BatchRequest, host: str = "", now: float | None = None) -> str:
    """The whole ``job.sh`` for ``req`` (its directives, then the run)."""
    if req.scheduler is SchedulerKind.SLURM:
        directives = _slurm_directives(req)
    elif req.scheduler is SchedulerKind.PBS:
        directives = _pbs_directives(req)
    else:
        raise UsageError("--submit needs a batch system (PBS or Slurm); none was found here")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    where = f" on {host}" if host else ""
    return "\n".join(
        [
            "#!/bin/bash",
            *directives,
            f"# written by ezpz-tui --submit{where} at {stamp}",
            "# the run directory: plan, every rank's lines, events, summary",
            f"cd {shlex.quote(req.submit_dir)} || exit 1",
            f"exec {shlex.join(req.run_argv)}",
            "",
        ]
    )


def submit_argv(kind: SchedulerKind, script: Path) -> list[str]:
    """``sbatch --parsable SCRIPT`` (the id alone on stdout), ``qsub SCRIPT``."""
    if kind is SchedulerKind.SLURM:
        return ["sbatch", "--parsable", str(script)]
    if kind is SchedulerKind.PBS:
        return ["qsub", str(script)]
    raise UsageError("--submit needs a batch system (PBS or Slurm); none was found here")


def cancel_argv(kind: SchedulerKind, job_id: str) -> list[str]:
    return ["scancel", job_id] if kind is SchedulerKind.SLURM else ["qdel", job_id]


def run_command(python: str, script: str | None, flags: Sequence[str]) -> tuple[str, ...]:
    """``ezpz-tui --run ...`` as the job runs it: the installed console script
    by its absolute path when there is one (a compute node's PATH may not hold
    the venv), else ``python -m ezpz_tui.cli``."""
    head = (script,) if script else (python, "-m", "ezpz_tui.cli")
    return (*head, "--run", *flags)
