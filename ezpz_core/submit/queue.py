"""What a scheduler says of one job, parsed into one ``JobState`` (pure).

Read from what exists on every installation, without the accounting daemon:

* Slurm: ``scontrol show job -o ID`` (one ``Key=Value`` line; ``--json`` only
  from 23.02), else ``squeue -h -t all -j ID -o '%i|%T|%r|%M|%N'``. A finished
  job stays visible for ``MinJobAge`` (300 s by default), then both say
  "Invalid job id specified": the job is gone, which is not an error.
* PBS Pro: ``qstat -f -F json -x ID`` (``-x`` lists finished jobs where the
  server keeps history; without it a finished job is "Unknown Job Id").

The exit code here is the scheduler's word; the run directory's own summary,
when there is one, is the final word (``follow``).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class QueueState(StrEnum):
    PENDING = "pending"
    HELD = "held"
    RUNNING = "running"
    SUSPENDED = "suspended"
    COMPLETING = "completing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    NODE_FAIL = "node_fail"
    OUT_OF_MEMORY = "out_of_memory"
    PREEMPTED = "preempted"
    GONE = "gone"  # left the queue before we saw how it ended
    UNKNOWN = "unknown"

    @property
    def final(self) -> bool:
        return self in _FINAL

    @property
    def waiting(self) -> bool:
        """Not started yet: time spent here is queue time, not a silent job."""
        return self in (QueueState.PENDING, QueueState.HELD)


_FINAL = frozenset(
    {
        QueueState.COMPLETED,
        QueueState.FAILED,
        QueueState.CANCELLED,
        QueueState.TIMEOUT,
        QueueState.NODE_FAIL,
        QueueState.OUT_OF_MEMORY,
        QueueState.PREEMPTED,
        QueueState.GONE,
    }
)

_SLURM_STATES = {
    "PENDING": QueueState.PENDING,
    "CONFIGURING": QueueState.PENDING,
    "REQUEUED": QueueState.PENDING,
    "REQUEUE_HOLD": QueueState.HELD,
    "REQUEUE_FED": QueueState.PENDING,
    "RESV_DEL_HOLD": QueueState.HELD,
    "RUNNING": QueueState.RUNNING,
    "RESIZING": QueueState.RUNNING,
    "SIGNALING": QueueState.RUNNING,
    "STAGE_OUT": QueueState.COMPLETING,
    "SUSPENDED": QueueState.SUSPENDED,
    "STOPPED": QueueState.SUSPENDED,
    "COMPLETING": QueueState.COMPLETING,
    "COMPLETED": QueueState.COMPLETED,
    "FAILED": QueueState.FAILED,
    "BOOT_FAIL": QueueState.NODE_FAIL,
    "NODE_FAIL": QueueState.NODE_FAIL,
    "CANCELLED": QueueState.CANCELLED,
    "REVOKED": QueueState.CANCELLED,
    "DEADLINE": QueueState.TIMEOUT,
    "TIMEOUT": QueueState.TIMEOUT,
    "OUT_OF_MEMORY": QueueState.OUT_OF_MEMORY,
    "PREEMPTED": QueueState.PREEMPTED,
    "SPECIAL_EXIT": QueueState.FAILED,
}


@dataclass(frozen=True)
class JobState:
    """One look at a job in the queue.

    ``reason`` is why it waits or how it ended, in the scheduler's words
    (Slurm's ``Reason``, PBS's ``comment``); ``exit_code`` is a shell-style
    code (128 + signal for a signal) once it ended, else None; ``elapsed_s``
    is how long it has run; ``raw`` the scheduler's own state name."""

    job_id: str
    state: QueueState
    raw: str = ""
    reason: str = ""
    exit_code: int | None = None
    nodes: str = ""
    elapsed_s: float | None = None
    output: str = ""  # the job's stdout file, as the scheduler names it
    t: float = 0.0  # when we looked

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobState | None:
        """The record ``to_json`` wrote; None for anything else."""
        try:
            state = QueueState(data["state"])
            exit_code = data.get("exit_code")
            elapsed = data.get("elapsed_s")
            return cls(
                job_id=str(data["job_id"]),
                state=state,
                raw=str(data.get("raw", "")),
                reason=str(data.get("reason", "")),
                exit_code=exit_code if isinstance(exit_code, int) else None,
                nodes=str(data.get("nodes", "")),
                elapsed_s=float(elapsed) if isinstance(elapsed, int | float) else None,
                output=str(data.get("output", "")),
                t=float(data.get("t") or 0.0),
            )
        except (KeyError, ValueError, TypeError):
            return None


# -- Slurm ----------------------------------------------------------------------

_KEY = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_:/]*)=")
GONE_WORDS = ("Invalid job id", "Unknown Job Id", "Job has finished")


def parse_key_values(line: str) -> dict[str, str]:
    """``scontrol show job -o``'s ``Key=Value Key=Value`` line; a value may hold
    spaces (``Command=/path with spaces/job.sh``) and ``=`` (``TRES=cpu=2,node=1``):
    a new key starts only at a space followed by ``Word=``."""
    found = list(_KEY.finditer(line))
    values: dict[str, str] = {}
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(line)
        values.setdefault(match.group(1), line[match.end() : end].strip())
    return values


def slurm_exit_code(text: str) -> int | None:
    """``ExitCode=3:0`` -> 3; ``0:15`` (killed by SIGTERM) -> 143."""
    match = re.fullmatch(r"(\d+):(\d+)", text.strip())
    if match is None:
        return None
    code, signal = int(match.group(1)), int(match.group(2))
    return 128 + signal if signal else code


def run_seconds(text: str) -> float | None:
    """Slurm's ``RunTime``/``%M``: ``[D-][H:]M:S``."""
    match = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)", text.strip())
    if match is None:
        return None
    d, h, m, s = (int(x or 0) for x in match.groups())
    return float(((d * 24 + h) * 60 + m) * 60 + s)


def _slurm_state(raw: str) -> QueueState:
    word = raw.split()[0].rstrip("+") if raw.strip() else ""
    return _SLURM_STATES.get(word, QueueState.UNKNOWN)


def _null(text: str) -> str:
    return "" if text in ("(null)", "None", "") else text


def parse_scontrol_job(text: str, t: float = 0.0) -> JobState | None:
    """The first job of ``scontrol show job -o`` output; None when there is none."""
    for line in text.splitlines():
        values = parse_key_values(line)
        if "JobId" not in values or "JobState" not in values:
            continue
        raw = values["JobState"]
        state = _slurm_state(raw)
        reason = _null(values.get("Reason", ""))
        if state is QueueState.PENDING and reason in ("JobHeldUser", "JobHeldAdmin"):
            state = QueueState.HELD
        code = slurm_exit_code(values.get("ExitCode", "")) if state.final else None
        if state.final and state is not QueueState.COMPLETED and code == 0:
            code = None  # cancelled before it ran: Slurm says 0:0, which is no success
        if state is QueueState.CANCELLED:
            reason = ""  # what it waited for before (JobHeldUser), no longer the reason
        return JobState(
            job_id=values["JobId"],
            state=state,
            raw=raw,
            reason=reason,
            exit_code=code,
            nodes=_null(values.get("NodeList", "")),
            elapsed_s=run_seconds(values.get("RunTime", "")),
            output=_null(values.get("StdOut", "")),
            t=t,
        )
    return None


SQUEUE_FORMAT = "%i|%T|%r|%M|%N"


def parse_squeue(text: str, t: float = 0.0) -> JobState | None:
    """The first line of ``squeue -h -o '%i|%T|%r|%M|%N'``; None for no line."""
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 5:
            continue
        job_id, raw, reason, elapsed, nodes = parts
        state = _slurm_state(raw)
        if state is QueueState.PENDING and reason in ("JobHeldUser", "JobHeldAdmin"):
            state = QueueState.HELD
        return JobState(
            job_id=job_id,
            state=state,
            raw=raw,
            reason=_null(reason),
            nodes=_null(nodes),
            elapsed_s=run_seconds(elapsed),
            t=t,
        )
    return None


# -- PBS ------------------------------------------------------------------------

_PBS_STATES = {
    "Q": QueueState.PENDING,
    "W": QueueState.PENDING,
    "T": QueueState.PENDING,
    "M": QueueState.PENDING,
    "H": QueueState.HELD,
    "R": QueueState.RUNNING,
    "B": QueueState.RUNNING,
    "S": QueueState.SUSPENDED,
    "U": QueueState.SUSPENDED,
    "E": QueueState.COMPLETING,
    "F": QueueState.COMPLETED,  # refined by Exit_status below
    "X": QueueState.COMPLETED,
}
PBS_WALLTIME_EXCEEDED = -29  # JOB_EXEC_KILL_WALLTIME
PBS_SIGNAL_BASE = 256  # PBS Pro: a job killed by signal S exits 256 + S


def pbs_exit(status: Any) -> tuple[QueueState, int | None]:
    """How a finished PBS job ended, from its ``Exit_status``."""
    if not isinstance(status, int) or isinstance(status, bool):
        return QueueState.CANCELLED, None  # deleted before it ran: no exit status
    if status == 0:
        return QueueState.COMPLETED, 0
    if status == PBS_WALLTIME_EXCEEDED:
        return QueueState.TIMEOUT, 124
    if status < 0:
        return QueueState.NODE_FAIL, 1  # the job could not be started or was lost
    if status > PBS_SIGNAL_BASE:
        signal = status - PBS_SIGNAL_BASE
        killed = QueueState.CANCELLED if signal in (9, 15) else QueueState.FAILED
        return killed, 128 + signal
    if status in (128 + 9, 128 + 15):
        # the job's exec'd ezpz-tui --run caught qdel's SIGTERM, stopped its ranks
        # and exited 143 itself: no shell died of the signal to make it 271
        return QueueState.CANCELLED, status
    return QueueState.FAILED, status


def _pbs_duration(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    parts = text.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    h, m, s = (int(p) for p in parts)
    return float(h * 3600 + m * 60 + s)


def parse_qstat_json(text: str, job_id: str, t: float = 0.0) -> JobState | None:
    """The job ``job_id`` (``123`` or ``123.server``) in ``qstat -f -F json``."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    jobs = data.get("Jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, dict):
        return None
    short = job_id.split(".", 1)[0]
    for name, job in jobs.items():
        if not isinstance(job, dict) or (name != job_id and name.split(".", 1)[0] != short):
            continue
        raw = str(job.get("job_state", ""))
        state = _PBS_STATES.get(raw, QueueState.UNKNOWN)
        exit_code = None
        if raw in ("F", "X"):
            state, exit_code = pbs_exit(job.get("Exit_status"))
        output = str(job.get("Output_Path", ""))
        used = job.get("resources_used")
        return JobState(
            job_id=name,
            state=state,
            raw=raw,
            reason=str(job.get("comment", "")),
            exit_code=exit_code,
            nodes=str(job.get("exec_host", "")),
            elapsed_s=_pbs_duration(used.get("walltime")) if isinstance(used, dict) else None,
            output=output.split(":", 1)[1] if ":" in output else output,
            t=t,
        )
    return None


def says_gone(message: str) -> bool:
    """The scheduler's way of saying it no longer knows the job."""
    return any(word.lower() in message.lower() for word in GONE_WORDS)
