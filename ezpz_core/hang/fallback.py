"""Python's faulthandler as the hang doctor's second source of stacks.

Where py-spy is missing or refused (Yama's ptrace_scope, a container without
SYS_PTRACE), a rank that called ``setup_torch()`` can still say where it is:
``register`` installs faulthandler's C-level handler on ``SIGNAL`` (it writes
every thread's stack even while the main thread is blocked in C) into a file
of the run directory, and leaves a note saying which pid handles which signal.
The collector sends that signal only to a pid whose note says it handles it: to
a rank without the handler the signal's default action is death.

``SIGNAL`` is a real-time one: no framework uses it (Lightning takes SIGUSR1,
submitit SIGUSR2) and no launcher forwards it, so nothing sends it by accident.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

SIGNAL = signal.SIGRTMIN + 4
FOLDER = ("stacks", "faulthandler")
WAIT_S = 2.0  # for the handler's text (it writes at once; NFS may take a moment)

_kept: list[IO[str]] = []  # the open file faulthandler writes to, for the process' life


def _folder(run_dir: Path) -> Path:
    return run_dir.joinpath(*FOLDER)


def register(env: Mapping[str, str], rank: int) -> Path | None:
    """Dump this process' stacks on ``SIGNAL`` into the run directory (where
    ``ezpz-tui --run`` set ``EZPZ_RUN_DIR``); the note written, or None."""
    import faulthandler

    run_dir = env.get("EZPZ_RUN_DIR")
    if not run_dir or _kept:
        return None
    folder = _folder(Path(run_dir))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        out = open(folder / f"rank-{rank}.txt", "a", encoding="ascii")  # noqa: SIM115
        faulthandler.register(SIGNAL, file=out, all_threads=True, chain=False)
    except (OSError, RuntimeError, ValueError):
        return None  # no stacks by this route; the job must not suffer for it
    _kept.append(out)
    note = folder / f"rank-{rank}.json"
    data = {"pid": os.getpid(), "signal": int(SIGNAL), "file": out.name}
    tmp = note.with_name(f".{note.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data) + "\n")
    os.replace(tmp, note)
    return note


def handler_of(run_dir: Path, rank: int) -> dict[str, Any] | None:
    from ezpz_core.jsonfile import read_json

    return read_json(_folder(run_dir) / f"rank-{rank}.json")


def ask(run_dir: Path, rank: int, pid: int, wait_s: float = WAIT_S) -> str | None:
    """The text faulthandler writes when ``pid`` gets the signal; None when that
    pid registered no handler (never signalled then) or wrote nothing."""
    note = handler_of(run_dir, rank)
    if note is None or note.get("pid") != pid or not isinstance(note.get("signal"), int):
        return None
    path = Path(str(note.get("file") or ""))
    try:
        before = path.stat().st_size
        os.kill(pid, note["signal"])
    except OSError:
        return None
    deadline = time.monotonic() + wait_s
    size, steady = before, 0
    while time.monotonic() < deadline:
        time.sleep(0.02)
        now = path.stat().st_size if path.exists() else before
        steady = steady + 1 if now == size and now > before else 0
        size = now
        if steady >= 3:  # grown, then still for 60 ms: written
            break
    if size <= before:
        return None
    with open(path, "rb") as handle:
        handle.seek(before)
        return handle.read(size - before).decode("ascii", "replace")
