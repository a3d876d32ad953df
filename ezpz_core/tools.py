"""Finding and asking external programs, at the edge of the core.

Everything here runs or looks up a real program. The pure modules receive the
answers (a path, a version text) instead of calling these themselves, so tests
can hand them recorded answers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

TOOL_TIMEOUT_S = 3.0

# run_tool(argv) -> stdout text, or None when the tool is missing, fails or hangs.
ToolRunner = Callable[[Sequence[str]], str | None]


def interpreter_bin_dir() -> str:
    """The directory of the running interpreter: a venv's bin/, where the mpi extra
    installs mpirun even when the venv is not activated."""
    return os.path.dirname(os.path.abspath(sys.executable))


def find_program(name: str, env: Mapping[str, str]) -> str | None:
    """``name`` on ``env['PATH']``, else next to the running interpreter, else None.

    A hit on PATH is returned as the bare name (what the user would type and what
    ranks resolve the same way); a hit only beside the interpreter is absolute.
    """
    if shutil.which(name, path=env.get("PATH", "")):
        return name
    beside = os.path.join(interpreter_bin_dir(), name)
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    return None


def resolve_program(name: str, env: Mapping[str, str]) -> str | None:
    """The absolute path that ``find_program`` would run, or None."""
    found = find_program(name, env)
    if found is None:
        return None
    return found if os.path.isabs(found) else shutil.which(found, path=env.get("PATH", ""))


def make_tool_runner(env: Mapping[str, str], timeout: float = TOOL_TIMEOUT_S) -> ToolRunner:
    """A ``ToolRunner`` that looks tools up on ``env['PATH']`` and gives each
    ``timeout`` seconds; a missing, failing or hanging tool yields None."""

    def run(argv: Sequence[str]) -> str | None:
        path = resolve_program(argv[0], env)
        if path is None:
            return None
        return _run_captured((path, *argv[1:]), timeout)

    return run


@lru_cache(maxsize=32)
def _run_captured(argv: tuple[str, ...], timeout: float) -> str | None:
    # Cached: the flavour of one mpirun does not change while we run.
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout + done.stderr).decode("utf-8", "replace")
    return text if done.returncode == 0 else None
