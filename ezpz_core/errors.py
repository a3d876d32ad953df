"""Exceptions a person can act on.

Every user mistake (a bad flag, a broken hostfile, an impossible topology) raises
one of these with a message that names the input and the fix. The CLI prints the
message without a traceback and exits with ``exit_code``.
"""

from __future__ import annotations


class EzpzError(Exception):
    """A failure the user can fix; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(EzpzError):
    """Bad input: flags, environment variables or files the user supplied."""

    exit_code = 2


class HostfileError(UsageError):
    """A hostfile that cannot be used, with the file (and line) that is wrong."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        where = f"hostfile {path}" if line is None else f"hostfile {path} line {line}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class TopologyError(UsageError):
    """Ranks, hosts and ranks per host that do not fit together or into the job."""


class DistSetupError(EzpzError):
    """The ranks of a job cannot meet (rendezvous, rank variables); says how to fix it."""
