"""Starting a run from the console: ``ezpz-tui --run`` as a session of its own.

The console never runs the job in its own process. It creates the run directory,
starts ``ezpz-tui --run --quiet --run-dir D`` with ``start_new_session`` (so a
closed terminal or a dropped SSH connection, which signal the console's session,
never reach the job) and then attaches to D like to any other run. The child's
own messages go to ``D/console-session.log``; the rank lines are in D's files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ezpz_core.run.rundir import Owner, read_owner, stop_hint
from ezpz_core.run.store import SESSION_LOG, new_run_dir
from ezpz_tui.form import LaunchForm, form_flags


@dataclass
class Started:
    run_dir: Path
    process: subprocess.Popen[bytes]
    argv: list[str]


def session_argv(
    python: str,
    form: LaunchForm,
    run_dir: Path,
    scheduler: str | None = None,
    machine: str | None = None,
    outdir: str | None = None,
) -> list[str]:
    """The ``--run`` command line for ``form`` (pure: an argv list, never a shell line)."""
    argv = [python, "-m", "ezpz_tui.cli", "--run", "--quiet", f"--run-dir={run_dir}"]
    if outdir:
        argv.append(f"--outdir={outdir}")
    if scheduler:
        argv.append(f"--scheduler={scheduler}")
    if machine:
        argv.append(f"--machine={machine}")
    return argv + form_flags(form)


def start_run(
    form: LaunchForm,
    outdir: str | os.PathLike[str],
    env: Mapping[str, str],
    cwd: str,
    job_id: str | None = None,
    scheduler: str | None = None,
    machine: str | None = None,
    python: str = sys.executable,
) -> Started:
    """Create the run directory and start the session in it; returns at once."""
    base = Path(outdir) if os.path.isabs(outdir) else Path(cwd) / outdir
    run_dir = new_run_dir(base, job_id)
    argv = session_argv(python, form, run_dir, scheduler, machine, str(base))
    log = open(run_dir / SESSION_LOG, "ab")  # noqa: SIM115 - the child owns it from here
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    finally:
        log.close()
    return Started(run_dir, process, argv)


@dataclass(frozen=True)
class StopResult:
    sent: bool
    message: str


def stop_run(run_dir: Path, hostname: str, job_id: str | None = None) -> StopResult:
    """SIGINT to the run's owner when it lives on this host (it escalates on a
    second request, as ``--run`` does for Ctrl+C); else what to run where."""
    owner: Owner | None = read_owner(run_dir)
    if owner is None:
        return StopResult(False, "this run has no owner record yet; try again in a moment")
    if owner.host != hostname:
        return StopResult(False, f"the job runs on {owner.host}: {stop_hint(owner, job_id)}")
    try:
        os.kill(owner.pid, signal.SIGINT)
    except ProcessLookupError:
        return StopResult(False, f"the run's owner (pid {owner.pid}) is gone")
    except PermissionError:
        return StopResult(
            False, f"not allowed to signal pid {owner.pid}: {stop_hint(owner, job_id)}"
        )
    return StopResult(True, f"sent SIGINT to the run (pid {owner.pid}); again to escalate")
