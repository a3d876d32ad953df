"""A submitted job's own files in its run directory.

``submit.json`` says what was submitted where (written once, before the job can
start); ``queue.json`` holds the last state the queue showed, rewritten when it
changes. Both matter after the scheduler forgets the job: without accounting,
Slurm drops a finished job after ``MinJobAge``, and a PBS server without job
history at once. ``job.sh`` and ``job.out`` (the scheduler's stdout of the
batch script) sit beside them.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ezpz_core.jsonfile import read_json
from ezpz_core.submit.queue import JobState

SUBMIT = "submit.json"
QUEUE = "queue.json"
SUBMIT_FILES = frozenset({SUBMIT, QUEUE, "job.sh", "job.out"})  # a --run may share the dir


def is_submit_file(name: str) -> bool:
    """One of a submission's files, or one being replaced (``.queue.json.<pid>``):
    the login node's follower may rewrite ``queue.json`` as the job's run starts."""
    if name in SUBMIT_FILES:
        return True
    base, _, pid = name[1:].rpartition(".")
    return name.startswith(".") and base in SUBMIT_FILES and pid.isdigit()


@dataclass(frozen=True)
class SubmitRecord:
    scheduler: str
    job_id: str | None  # None: the scheduler refused it (``error`` says why)
    submitted: float
    host: str
    submit_dir: str
    argv: tuple[str, ...]  # the submit command
    script: str = "job.sh"
    output: str = "job.out"
    error: str = ""
    request: dict[str, Any] = field(default_factory=dict)  # nodes, time, queue, account, name

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["argv"] = list(self.argv)
        return data


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def write_submit(run_dir: Path, record: SubmitRecord) -> None:
    _write(run_dir / SUBMIT, record.to_json())


def read_submit(run_dir: Path) -> SubmitRecord | None:
    data = read_json(Path(run_dir) / SUBMIT)
    if data is None or not isinstance(data.get("scheduler"), str):
        return None
    job_id = data.get("job_id")
    try:
        return SubmitRecord(
            scheduler=data["scheduler"],
            job_id=str(job_id) if job_id is not None else None,
            submitted=float(data.get("submitted") or 0.0),
            host=str(data.get("host", "")),
            submit_dir=str(data.get("submit_dir", "")),
            argv=tuple(str(a) for a in data.get("argv") or ()),
            script=str(data.get("script", "job.sh")),
            output=str(data.get("output", "job.out")),
            error=str(data.get("error", "")),
            request=data.get("request") if isinstance(data.get("request"), dict) else {},
        )
    except (TypeError, ValueError):
        return None


def write_queue(run_dir: Path, state: JobState) -> None:
    with contextlib.suppress(OSError):  # a full disk must not stop the following
        _write(Path(run_dir) / QUEUE, state.to_json())


def read_queue(run_dir: Path) -> JobState | None:
    data = read_json(Path(run_dir) / QUEUE)
    return JobState.from_json(data) if data is not None else None


def same_job(a: str, b: str) -> bool:
    """``123`` names ``123.pbs01`` too (PBS ids carry their server)."""
    return a == b or a.split(".", 1)[0] == b.split(".", 1)[0]


def find_job_run(outdir: Path | str, job_id: str) -> Path | None:
    """The run directory under ``outdir`` whose ``submit.json`` names ``job_id``
    (the newest, should ids repeat after a scheduler's reset)."""
    try:
        entries = list(os.scandir(outdir))
    except OSError:
        return None
    found: list[tuple[float, Path]] = []
    for entry in entries:
        record = read_submit(Path(entry.path)) if entry.is_dir() else None
        if record is not None and record.job_id and same_job(record.job_id, job_id):
            found.append((record.submitted, Path(entry.path)))
    return max(found)[1] if found else None
