"""Which launchers exist here and which MPI dialect each speaks.

``parse_flavour`` is pure (tested with recorded ``--version`` texts);
``SystemProbe`` is the edge that finds programs and runs ``--version`` once each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ezpz_core.kinds import Flavour
from ezpz_core.tools import ToolRunner, find_program, make_tool_runner


def parse_flavour(version_text: str | None) -> Flavour:
    """``mpirun --version`` text -> its dialect; unknown when nothing matches."""
    if not version_text:
        return Flavour.UNKNOWN
    text = version_text.lower()
    if "open mpi" in text or "openrte" in text or "prterun" in text:
        return Flavour.OPENMPI
    if "hydra" in text or "mpich" in text or "intel(r) mpi" in text:
        return Flavour.HYDRA
    if "pals" in text or "cray" in text:
        return Flavour.PALS
    return Flavour.UNKNOWN


class LauncherProbe(Protocol):
    """Answers ``where is NAME`` and ``what does it speak`` for the planner."""

    def find(self, name: str) -> str | None: ...

    def flavour(self, program: str) -> Flavour: ...


class SystemProbe:
    """The real probe: ``PATH`` plus the interpreter's bin/, and ``--version``."""

    def __init__(self, env: Mapping[str, str], run_tool: ToolRunner | None = None) -> None:
        self._env = env
        self._run = run_tool or make_tool_runner(env)

    def find(self, name: str) -> str | None:
        return find_program(name, self._env)

    def flavour(self, program: str) -> Flavour:
        return parse_flavour(self._run((program, "--version")))
