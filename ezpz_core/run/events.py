"""What the runner tells its consumers (the run store, the headless printer, the console).

Lines travel in ``Lines`` batches, one per chunk read from the launcher, as two
parallel lists: each line's rank and its bytes (label stripped, newline kept).
A job can print millions of lines, and per-line Python objects were the cost of
the pipeline: the lists are built by C-level ``map`` calls, the bytes go to the
files and the terminal as they are (invalid UTF-8 included), and nothing is
decoded unless someone asks. ``Lines.rows`` and ``Lines.lines`` decode on
demand for consumers that want text (display filters, tests, the console's
visible lines).
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
    """Whole lines of one chunk in arrival order: ``ranks[i]`` wrote ``texts[i]``.

    ``texts`` are bytes ending in ``\\n`` (the last one of a stream that ended
    without a newline may lack it). ``stream`` is the pipe they came from;
    ``streams`` (when not None) names each line's stream where the label says
    otherwise (Open MPI's ``<stderr>`` lines in one file)."""

    ranks: list[int]
    texts: list[bytes]
    t: float
    stream: str = "stdout"
    streams: list[str] | None = None

    @property
    def rows(self) -> list[Row]:
        """``(rank, stream, text)`` with text decoded and the newline dropped."""
        streams = self.streams or [self.stream] * len(self.texts)
        return [
            (rank, stream, decoded(raw))
            for rank, stream, raw in zip(self.ranks, streams, self.texts, strict=True)
        ]

    @property
    def lines(self) -> list[Line]:
        t = self.t
        return [Line(rank, stream, text, t) for rank, stream, text in self.rows]

    @classmethod
    def from_rows(cls, rows: list[Row], t: float, stream: str = "stdout") -> Lines:
        """From decoded rows (the general attribution path, tests)."""
        streams = [row[1] for row in rows]
        return cls(
            [row[0] for row in rows],
            [(row[2] + "\n").encode("utf-8", "surrogateescape") for row in rows],
            t,
            stream,
            None if all(s == stream for s in streams) else streams,
        )


def decoded(raw: bytes) -> str:
    """One line's text for showing: newline dropped, invalid UTF-8 replaced."""
    return raw.removesuffix(b"\n").decode("utf-8", "replace")


@dataclass(frozen=True)
class RankExited:
    rank: int
    code: int  # exit code, or -N for death by signal N


@dataclass(frozen=True)
class StackReply:
    """A rank wrapper's answer to a stack dump request: its command's stacks
    (``RankStack.to_json`` as one JSON line), sent as records of kind ``s``."""

    rank: int
    text: str
    t: float


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


Event = Started | Lines | RankExited | StackReply | Notice | Finished
