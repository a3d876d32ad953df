"""The scheduler's client programs, run as argv lists (the I/O edge of submit).

Every call has a timeout (a controller that does not answer must not hang the
console) and comes back as an ``Answer``, never an exception: a missing
program, a refusal and a hang are all things to show the user in the
scheduler's own words.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ezpz_core.kinds import SchedulerKind
from ezpz_core.submit.batch import cancel_argv, submit_argv
from ezpz_core.submit.queue import (
    SQUEUE_FORMAT,
    JobState,
    parse_qstat_json,
    parse_scontrol_job,
    parse_squeue,
    says_gone,
)

CALL_TIMEOUT_S = 30.0  # sbatch may wait on a busy controller; a query should not


@dataclass(frozen=True)
class Answer:
    rc: int  # 127: not found; 124: timed out
    stdout: str
    stderr: str

    @property
    def message(self) -> str:
        """What the program said, for the user (stderr first, as schedulers do)."""
        return (self.stderr.strip() or self.stdout.strip() or f"exit status {self.rc}").strip()


@dataclass(frozen=True)
class Submitted:
    job_id: str | None
    answer: Answer

    @property
    def ok(self) -> bool:
        return self.job_id is not None


@dataclass(frozen=True)
class Lookup:
    """One query: the state, or that the scheduler no longer knows the job
    (``gone``), or that it could not be asked (``error``)."""

    state: JobState | None
    gone: bool = False
    error: str = ""


class SchedulerClient:
    def __init__(
        self,
        kind: SchedulerKind,
        env: Mapping[str, str],
        timeout: float = CALL_TIMEOUT_S,
    ) -> None:
        self.kind = kind
        self.env = dict(env)
        self.timeout = timeout

    def call(self, argv: Sequence[str], cwd: str | None = None) -> Answer:
        program = shutil.which(argv[0], path=self.env.get("PATH", ""))
        if program is None:
            return Answer(127, "", f"{argv[0]}: not found on PATH")
        try:
            done = subprocess.run(
                [program, *argv[1:]],
                capture_output=True,
                text=True,
                errors="replace",
                env=self.env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                timeout=self.timeout,
            )
        except subprocess.TimeoutExpired:
            return Answer(124, "", f"{argv[0]} did not answer in {self.timeout:g} s")
        except OSError as exc:
            return Answer(126, "", f"{argv[0]}: {exc.strerror or exc}")
        return Answer(done.returncode, done.stdout, done.stderr)

    # -- submit -----------------------------------------------------------------
    def submit(self, script: Path, cwd: str) -> Submitted:
        answer = self.call(submit_argv(self.kind, script), cwd=cwd)
        if answer.rc != 0:
            return Submitted(None, answer)
        words = answer.stdout.strip().split()
        if not words:
            return Submitted(None, Answer(1, answer.stdout, answer.stderr or "no job id printed"))
        # sbatch --parsable: "123" or "123;cluster"; qsub: "123.server"
        return Submitted(words[-1].split(";", 1)[0], answer)

    # -- state ------------------------------------------------------------------
    def lookup(self, job_id: str) -> Lookup:
        now = time.time()
        if self.kind is SchedulerKind.SLURM:
            return self._slurm(job_id, now)
        answer = self.call(["qstat", "-f", "-F", "json", "-x", job_id])
        state = parse_qstat_json(answer.stdout, job_id, now) if answer.stdout else None
        if state is not None:
            return Lookup(state)
        if says_gone(answer.message) or answer.rc == 0:
            return Lookup(None, gone=True)
        return Lookup(None, error=answer.message)

    def _slurm(self, job_id: str, now: float) -> Lookup:
        answer = self.call(["scontrol", "show", "job", "-o", job_id])
        if answer.rc == 0 and (state := parse_scontrol_job(answer.stdout, now)) is not None:
            return Lookup(state)
        if says_gone(answer.message):
            return Lookup(None, gone=True)
        fallback = self.call(["squeue", "-h", "-t", "all", "-j", job_id, "-o", SQUEUE_FORMAT])
        if fallback.rc == 0:
            state = parse_squeue(fallback.stdout, now)
            return Lookup(state) if state is not None else Lookup(None, gone=True)
        if says_gone(fallback.message):
            return Lookup(None, gone=True)
        return Lookup(None, error=answer.message)

    # -- cancel -----------------------------------------------------------------
    def cancel(self, job_id: str) -> Answer:
        return self.call(cancel_argv(self.kind, job_id))
