"""Write the script into the run directory, submit it, record the answer.

The run directory exists before the job does: the login node follows it from
the first second (``submit.json`` makes it a run that waits in the queue), and
the job's ``ezpz-tui --run --run-dir`` writes into it. A refused submission
keeps its directory and script, with the scheduler's message in
``submit.json``, so nothing the user asked for is lost.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from ezpz_core.submit.batch import SCRIPT, BatchRequest, batch_script, submit_argv
from ezpz_core.submit.client import Answer, SchedulerClient
from ezpz_core.submit.record import SubmitRecord, write_submit


@dataclass(frozen=True)
class SubmitResult:
    record: SubmitRecord
    script: str
    answer: Answer

    @property
    def ok(self) -> bool:
        return self.record.job_id is not None


def request_json(req: BatchRequest) -> dict[str, object]:
    return {
        "nodes": req.nodes,
        "time": req.walltime,
        "queue": req.queue,
        "account": req.account,
        "job_name": req.job_name,
        "scheduler_args": list(req.scheduler_args),
    }


def write_script(req: BatchRequest, host: str | None = None) -> tuple[Path, str]:
    """``job.sh`` in the run directory (executable, as both schedulers accept)."""
    text = batch_script(req, host=host or socket.gethostname())
    path = req.run_dir / SCRIPT
    path.write_text(text)
    os.chmod(path, 0o755)
    return path, text


def submit(req: BatchRequest, client: SchedulerClient) -> SubmitResult:
    """Write, submit and record ``req``; the answer says what the scheduler said."""
    host = socket.gethostname()
    path, text = write_script(req, host)
    submitted = time.time()
    outcome = client.submit(path, cwd=req.submit_dir)
    record = SubmitRecord(
        scheduler=req.scheduler.value,
        job_id=outcome.job_id,
        submitted=submitted,
        host=host,
        submit_dir=req.submit_dir,
        argv=tuple(submit_argv(req.scheduler, path)),
        error="" if outcome.ok else outcome.answer.message,
        request=request_json(req),
    )
    write_submit(req.run_dir, record)
    return SubmitResult(record, text, outcome.answer)
