"""What the runner tells its consumers (the run store, the headless printer, the console).

Lines travel in ``Lines`` batches, one per chunk read from the launcher, as plain
``(rank, stream, text)`` tuples (``Row``) made in C by one regex pass over the
chunk: a job can print millions of lines, and per-line Python objects were the
cost of the pipeline. ``Lines.lines`` gives ``Line`` values for consumers that
want names (the console renders only what is visible).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

LAUNCHER = -1  # the rank of lines no rank owns: launcher messages, unlabelled output


Row = tuple[int, str, str]  # (rank, stream, text)


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


@dataclass(frozen=True, slots=True)
class Lines:
    rows: list[Row]
    t: float

    @property
    def lines(self) -> list[Line]:
        t = self.t
        return [Line(rank, stream, text, t) for rank, stream, text in self.rows]


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
