"""From the launch form and the batch fields to a submitted job.

Shared by ``ezpz-tui --submit`` and the console's Submit: both fill a
``LaunchForm`` (what to run) and a ``BatchForm`` (what to ask the scheduler
for), and this module turns them into the ``BatchRequest`` the core writes
and submits. The job's command line is ``form_flags`` of the form, the same
flags the console gives a ``--run`` it starts on this host.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ezpz_core.errors import UsageError
from ezpz_core.kinds import SchedulerKind
from ezpz_core.submit.batch import (
    BatchRequest,
    batch_script,
    check_directive,
    check_job_name,
    parse_walltime,
    run_command,
)
from ezpz_tui.form import LaunchForm, form_flags, parse_form

DEFAULT_JOB_NAME = "ezpz"


@dataclass(frozen=True)
class BatchForm:
    """The batch fields as typed ("" means the scheduler's default)."""

    nodes: str = ""
    time: str = ""
    queue: str = ""
    account: str = ""
    job_name: str = ""
    scheduler_args: str = ""  # shell words, one directive each

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchForm:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known and isinstance(v, str)})


@dataclass(frozen=True)
class BatchSpec:
    nodes: int
    walltime: str | None
    queue: str | None
    account: str | None
    job_name: str
    scheduler_args: tuple[str, ...]


def parse_batch(form: BatchForm) -> tuple[BatchSpec | None, dict[str, str]]:
    """The spec, or an error per field name (shown beside that field)."""
    errors: dict[str, str] = {}
    nodes = 1
    if form.nodes.strip():
        text = form.nodes.strip()
        if not text.isdigit() or int(text) < 1:
            errors["nodes"] = f"nodes: expected a whole number >= 1, got {text!r}"
        else:
            nodes = int(text)
    walltime = None
    if form.time.strip():
        try:
            walltime = parse_walltime(form.time)
        except UsageError as exc:
            errors["time"] = str(exc)
    name = form.job_name.strip() or DEFAULT_JOB_NAME
    try:
        check_job_name(name)
    except UsageError as exc:
        errors["job_name"] = str(exc)
    args: tuple[str, ...] = ()
    try:
        args = tuple(check_directive(a) for a in shlex.split(form.scheduler_args))
    except ValueError as exc:
        errors["scheduler_args"] = f"scheduler args: {exc}"
    except UsageError as exc:
        errors["scheduler_args"] = str(exc)
    for field in ("queue", "account"):
        value = getattr(form, field).strip()
        if value and (value.startswith("-") or any(c.isspace() for c in value)):
            errors[field] = f"{field}: one name without spaces, got {value!r}"
    if errors:
        return None, errors
    return (
        BatchSpec(
            nodes=nodes,
            walltime=walltime,
            queue=form.queue.strip() or None,
            account=form.account.strip() or None,
            job_name=name,
            scheduler_args=args,
        ),
        {},
    )


def ezpz_script() -> str | None:
    """The installed ``ezpz-tui`` beside this interpreter, by absolute path."""
    script = Path(sys.executable).parent / "ezpz-tui"
    return str(script) if script.is_file() else None


def _script_of(python: str) -> str | None:
    """The installed ``ezpz-tui`` of ``python`` when it is this interpreter
    (another one, named by the console's surroundings, runs ``-m ezpz_tui.cli``)."""
    return ezpz_script() if python == sys.executable else None


def batch_request(
    kind: SchedulerKind,
    form: LaunchForm,
    spec: BatchSpec,
    run_dir: Path,
    submit_dir: str,
    run_flags: Sequence[str] = (),
    python: str = sys.executable,
    script: str | None = None,
) -> BatchRequest:
    """The request for ``form`` run as a batch job writing into ``run_dir``.

    ``run_flags`` are ``--run`` flags the form has no field for (``--timeout``,
    ``--retries``, ``--scheduler``...); they go before the form's flags and its
    command."""
    flags = ["--quiet", f"--run-dir={run_dir}", *run_flags, *form_flags(form)]
    launch = parse_form(form).request  # form_flags raised for a form that does not parse
    return BatchRequest(
        scheduler=kind,
        run_dir=run_dir,
        submit_dir=submit_dir,
        run_argv=run_command(python, script if script is not None else _script_of(python), flags),
        nodes=spec.nodes,
        walltime=spec.walltime,
        queue=spec.queue,
        account=spec.account,
        job_name=spec.job_name,
        scheduler_args=spec.scheduler_args,
        ntasks=launch.np if launch else None,
        tasks_per_node=launch.ppn if launch else None,
    )


def planned_run_dir(outdir: Path, job_name: str, now: float | None = None) -> Path:
    """Where a new run would go (for ``--submit --dry-run``, which creates nothing)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return outdir / f"{stamp}-{job_name}"


def submit_kind(kind: SchedulerKind, source: str) -> SchedulerKind:
    if kind is SchedulerKind.LOCAL:
        raise UsageError(
            "--submit needs a batch system: no sbatch or qsub on PATH and no scheduler "
            f"named ({source}); on a laptop use --run, on a cluster's login node check "
            "that its scheduler is loaded (module load slurm / pbs), or pass --scheduler"
        )
    return kind


def is_login_node(kind: SchedulerKind, in_job: bool) -> bool:
    """Where Submit is offered: a batch system is here and we are not in a job
    (inside one, Run launches on what the allocation holds)."""
    return kind in (SchedulerKind.PBS, SchedulerKind.SLURM) and not in_job


def script_preview(
    kind: SchedulerKind,
    form: LaunchForm,
    batch: BatchForm,
    outdir: Path,
    submit_dir: str,
    run_flags: Sequence[str] = (),
    python: str = sys.executable,
    now: float | None = None,
    host: str = "",
) -> tuple[str, dict[str, str]]:
    """The ``job.sh`` the Submit dialog would write (its run directory as
    planned now), or an error per batch field; ``"script"`` holds an error of
    the script itself (a PBS output path with a space)."""
    spec, errors = parse_batch(batch)
    if spec is None:
        return "", errors
    launch = parse_form(form).request
    if launch is not None and launch.np and launch.ppn and spec.nodes * launch.ppn < launch.np:
        need = -(-launch.np // launch.ppn)
        return "", {"nodes": f"nodes: -n {launch.np} with --ppn {launch.ppn} needs {need}"}
    run_dir = planned_run_dir(outdir, spec.job_name, now)
    try:
        req = batch_request(kind, form, spec, run_dir, submit_dir, run_flags, python)
        return batch_script(req, host=host, now=now), {}
    except UsageError as exc:
        return "", {"script": str(exc)}


@dataclass(frozen=True)
class ConsoleSubmit:
    """What the console's Submit did: the run directory it made (None when the
    script was refused before any was made) and the scheduler's answer."""

    run_dir: Path | None
    job_id: str | None
    message: str


def submit_job(
    kind: SchedulerKind,
    form: LaunchForm,
    batch: BatchForm,
    outdir: Path,
    submit_dir: str,
    env: Mapping[str, str],
    run_flags: Sequence[str] = (),
    python: str = sys.executable,
) -> ConsoleSubmit:
    """Make the run directory, write ``job.sh``, submit it (call from a worker:
    ``sbatch`` may take seconds on a busy controller). A refused job keeps its
    directory, its script and the scheduler's message (``submit.json``)."""
    from ezpz_core.run.store import new_run_dir
    from ezpz_core.submit.client import SchedulerClient
    from ezpz_core.submit.submit import submit

    _text, errors = script_preview(kind, form, batch, outdir, submit_dir, run_flags, python)
    if errors:
        return ConsoleSubmit(None, None, "; ".join(errors.values()))
    spec, _ = parse_batch(batch)
    assert spec is not None
    try:
        run_dir = new_run_dir(outdir, spec.job_name).absolute()
    except OSError as exc:
        return ConsoleSubmit(None, None, f"cannot create a run under {outdir}: {exc}")
    req = batch_request(kind, form, spec, run_dir, submit_dir, run_flags, python)
    result = submit(req, SchedulerClient(kind, dict(env)))
    if not result.ok:
        program = result.record.argv[0]
        message = f"{program} refused the job: {result.answer.message} (script kept in {run_dir})"
        return ConsoleSubmit(run_dir, None, message)
    return ConsoleSubmit(run_dir, result.record.job_id, f"submitted {kind.value} job")
