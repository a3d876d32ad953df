"""The launch preview: what one state of the form would run, or why it cannot.

``Planner`` holds what stays fixed while a person types (the detected job, the
environment, the launcher probe) and turns each ``LaunchForm`` into a
``Preview`` through ``ezpz_core``'s own ``plan_launch`` and ``run_checks``, so the
console shows exactly what ``--dry-run`` and ``--check`` would. The only I/O is
reading the user's hostfile, cached by path, size and modification time, so a
keystroke in another field never re-reads a 10,000-host file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from ezpz_core.doctor import Check, run_checks
from ezpz_core.errors import EzpzError, UsageError
from ezpz_core.hostfile import Hostfile, read_hostfile
from ezpz_core.job import Job
from ezpz_core.kinds import RankIO
from ezpz_core.launch.flavour import LauncherProbe
from ezpz_core.launch.plan import LaunchPlan, plan_launch
from ezpz_core.launch.styles import Style
from ezpz_tui.form import LaunchForm, field_for_error, parse_form


class Part(StrEnum):
    """What a word of the argv is, for highlighting."""

    LAUNCHER = "launcher"
    FLAG = "flag"
    WRAPPER = "wrapper"
    COMMAND = "command"


@dataclass(frozen=True)
class Preview:
    """One form's outcome: the plan, or the errors that stop it (by field)."""

    form: LaunchForm
    plan: LaunchPlan | None
    errors: dict[str, str] = field(default_factory=dict)
    problem: str | None = None  # what would be wrong, in one line, when there is no plan
    hostfile_error: str | None = None
    user_hostfile: Hostfile | None = None  # the form's hostfile, parsed

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.plan.warnings if self.plan else ()


def argv_parts(plan: LaunchPlan) -> list[tuple[str, Part]]:
    """The argv word by word, each tagged launcher, flag, wrapper or command."""
    argv = list(plan.argv)
    if plan.launcher.style is Style.DIRECT:
        return [(word, Part.COMMAND) for word in argv]
    command = list(plan.command)
    n = len(command)
    tail = n if n and argv[-n:] == command else 0
    head = argv[: len(argv) - tail]
    wrapper = 0
    if plan.rank_io is RankIO.WRAPPER and "--" in head:
        # python -m ezpz_core.rankio -- : the four words before the command
        wrapper = min(4, len(head) - 1)
    parts = [(argv[0], Part.LAUNCHER)] if head else []
    parts += [(w, Part.FLAG) for w in head[1 : len(head) - wrapper]]
    parts += [(w, Part.WRAPPER) for w in head[len(head) - wrapper :] if wrapper]
    parts += [(w, Part.COMMAND) for w in argv[len(argv) - tail :]]
    return parts


class HostfileCache:
    """The last hostfile parsed, re-read only when its path, size or mtime changes
    (a form names one hostfile at a time)."""

    def __init__(self) -> None:
        self._last: tuple[str, tuple[int, int], Hostfile] | None = None

    def read(self, path: str) -> Hostfile:
        full = os.path.expanduser(path)
        try:
            stat = os.stat(full)
        except OSError:
            return read_hostfile(full)  # raises the error that names the problem
        key = (stat.st_size, stat.st_mtime_ns)
        if self._last and self._last[:2] == (full, key):
            return self._last[2]
        parsed = read_hostfile(full)
        self._last = (full, key, parsed)
        return parsed


class Planner:
    """Plans forms against one detected job (thread-safe for one caller at a time)."""

    def __init__(
        self,
        job: Job,
        *,
        env: Mapping[str, str],
        probe: LauncherProbe,
        python: str,
        as_root: bool = False,
    ) -> None:
        self.job = job
        self.env = env
        self.probe = probe
        self.python = python
        self.as_root = as_root
        self._hostfiles = HostfileCache()

    def preview(self, form: LaunchForm) -> Preview:
        parsed = parse_form(form)
        if parsed.request is None:
            first = next(iter(parsed.errors.values()))
            return Preview(form, None, parsed.errors, problem=first)
        request = parsed.request
        user: Hostfile | None = None
        if request.hostfile:
            try:
                user = self._hostfiles.read(request.hostfile)
            except EzpzError as exc:
                return Preview(form, None, {"hostfile": str(exc)}, str(exc), str(exc))
            request = replace(request, hostfile=os.path.expanduser(request.hostfile))
        try:
            plan = plan_launch(
                self.job,
                request,
                env=self.env,
                probe=self.probe,
                user_hostfile=user,
                python=self.python,
                as_root=self.as_root,
            )
        except UsageError as exc:
            where = field_for_error(exc, form)
            errors = {where: str(exc)} if where else {}
            return Preview(form, None, errors, problem=str(exc), user_hostfile=user)
        return Preview(form, plan, user_hostfile=user)

    def checks(self, preview: Preview) -> list[Check]:
        """``--check`` for this form: the same judgements, the same order."""
        return run_checks(
            self.job,
            preview.plan,
            env=self.env,
            python=self.python,
            plan_error=preview.problem,
            user_hostfile=preview.form.hostfile.strip() or None,
            user_hostfile_error=preview.hostfile_error,
        )
