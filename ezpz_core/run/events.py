"""What the runner tells its consumers (the run store, the headless printer, the console).

``Line`` is a NamedTuple, not a dataclass: millions are made per run, and a
tuple is the cheapest value Python has. Lines travel in ``Lines`` batches, one per
chunk read from the launcher, so consumers pay per batch, not per line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

LAUNCHER = -1  # the rank of lines no rank owns: launcher messages, unlabelled output


class Line(NamedTuple):
    rank: int  # LAUNCHER for the launcher lane
    stream: str  # "stdout" or "stderr"
    text: str
    t: float


@dataclass(frozen=True)
class Started:
    pid: int
    argv: tuple[str, ...]
    t: float
    attempt: int = 1


@dataclass(frozen=True)
class Lines:
    lines: list[Line]


@dataclass(frozen=True)
class RankExited:
    rank: int
    code: int  # exit code, or -N for death by signal N


@dataclass(frozen=True)
class Notice:
    """Something the runner itself has to say (watchdog, signals, retries)."""

    text: str
    t: float
    level: str = "warning"


@dataclass(frozen=True)
class Finished:
    code: int
    t: float
    reason: str = ""  # "", "watchdog", "interrupted", "not-found"


Event = Started | Lines | RankExited | Notice | Finished
